import type {ResultData, ToolResult} from '../../src/result/model.js'

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
