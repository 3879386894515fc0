import {expect} from 'vitest'

import type {ResultData, Row, ToolResult} from '../../src/result/model.js'
import {schemaErrors} from './schema.js'

/** A tool result as a backend would have given it, of one interval holding `data`. */
export function fakeResult(tool: string, data: ResultData, overrides: Partial<ToolResult> = {}): ToolResult {
  return {
    schema: 'diag/result',
    schemaVersion: 1,
    tool,
    backend: {name: 'bpf', candidate: 'bpf-tp-btf', method: 'BPF programs', attach: 'tp_btf'},
    route: {why: 'first usable', passedOver: []},
    kernel: '6.18.44',
    startedAt: '2026-11-27T06:00:00.000Z',
    seconds: 5,
    command: null,
    lost: 0,
    intervals: [{time: '2026-11-27T06:00:05.000Z', seconds: 5, data}],
    ...overrides,
  }
}

/**
 * What a rows tool printed with --json (NDJSON): its rows, and the summary that must be its last
 * line; every line must be valid by the result-stream schema. parseSavedResult (src/result/saved.ts)
 * reads the same text back into one result; tests want the lines as printed.
 */
export function parseRowStream(stdout: string): {rows: Row[]; summary: ToolResult & {rowCount: number}} {
  const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as {type: string} & Record<string, unknown>)
  for (const line of lines) expect(schemaErrors('resultStream', line)).toBe('')
  const last = lines.pop()!
  expect(last.type).toBe('summary')
  const {type: _, ...summary} = last
  return {rows: lines.map(({type: __, ...row}) => row as Row), summary: summary as unknown as ToolResult & {rowCount: number}}
}
