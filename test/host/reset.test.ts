import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {ResetReport} from '../../src/reset.js'
import {OWNER_ENV, ownerMark} from '../../src/system/child.js'
import {isRunning} from '../../src/tracefs/names.js'
import {diag, diagJson, startDiag, tracingStarted} from '../helpers/cli.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'

/** A pid that certainly belongs to no running process: one that has just exited. */
async function deadPid(): Promise<number> {
  const child = execa('true')
  await child
  return child.pid!
}

describe.skipIf(!isRoot)('diag reset (needs root)', () => {
  let before: KernelState
  let tracing: string
  let dead: number
  const uprobes = () => readFileSync(path.join(tracing, 'uprobe_events'), 'utf8')

  beforeAll(async () => {
    before = await kernelState()
    tracing = mkdtempSync(path.join(tmpdir(), 'diag-reset-test-'))
    await execa('mount', ['-t', 'tracefs', 'nodev', tracing])
    dead = await deadPid()
  })

  afterAll(async () => {
    // Whatever a failing test left: remove it by hand, then insist all is as before.
    for (const name of readdirSync(path.join(tracing, 'instances')))
      if (/^(diag-\d+-|other-reset-test)/.test(name)) rmdirSync(path.join(tracing, 'instances', name))
    for (const line of uprobes().split('\n').filter((l) => l.includes('reset_test')))
      writeFileSync(path.join(tracing, 'uprobe_events'), `-:${line.split(' ')[0].slice(2)}`, {flag: 'a'})
    await execa('umount', [tracing])
    rmdirSync(tracing)
    expect(await kernelState()).toEqual(before)
  })

  it("removes exactly what a dead diag left, and nothing of a live diag's or anyone else's", async () => {
    const live = process.pid
    const hasUprobes = existsSync(path.join(tracing, 'uprobe_events'))
    // What a diag killed with SIGKILL leaves: an instance, a probe event, a private tracefs mount.
    mkdirSync(path.join(tracing, 'instances', `diag-${dead}-syscount`))
    mkdirSync(path.join(tracing, 'instances', `diag-${live}-syscount`))
    mkdirSync(path.join(tracing, 'instances', 'other-reset-test'))
    if (hasUprobes) {
      writeFileSync(path.join(tracing, 'uprobe_events'), `p:diag_${dead}_reset_test/probe ${process.execPath}:0x0`, {flag: 'a'})
      writeFileSync(path.join(tracing, 'uprobe_events'), `p:diag_${live}_reset_test/probe ${process.execPath}:0x0`, {flag: 'a'})
    }
    const leftMount = mkdtempSync(path.join(tmpdir(), `diag-${dead}-tracefs-`))
    await execa('mount', ['-t', 'tracefs', 'nodev', leftMount])

    const expected = [
      {kind: 'instance', name: `diag-${dead}-syscount`, pid: dead},
      ...(hasUprobes ? [{kind: 'uprobe event', name: `diag_${dead}_reset_test/probe`, pid: dead}] : []),
      {kind: 'tracefs mount', name: leftMount, pid: dead},
    ]
    const dry = await diagJson<ResetReport>(['reset', '--dry-run'])
    expect(dry.exitCode, dry.stderr).toBe(0)
    expect(dry.json.actions).toEqual(expected.map((a) => ({...a, outcome: 'would remove'})))
    expect(existsSync(path.join(tracing, 'instances', `diag-${dead}-syscount`))).toBe(true)

    const run = await diagJson<ResetReport>(['reset'])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.json.actions).toEqual(expected.map((a) => ({...a, outcome: 'removed'})))
    const instances = readdirSync(path.join(tracing, 'instances'))
    expect(instances).not.toContain(`diag-${dead}-syscount`)
    expect(instances).toContain(`diag-${live}-syscount`)
    expect(instances).toContain('other-reset-test')
    if (hasUprobes) {
      expect(uprobes()).not.toContain(`diag_${dead}_reset_test`)
      expect(uprobes()).toContain(`diag_${live}_reset_test`)
    }
    expect(existsSync(leftMount)).toBe(false)

    const again = await diag(['reset'])
    expect(again.stdout).toContain('Nothing left behind')
  })

  it('ends a process a dead diag ran, known by its mark, and no other', async () => {
    // Three sleeps stand for perf: the mark, not the name, is what reset goes by.
    const sleeper = (env: Record<string, string>) => execa('sleep', ['300'], {env, reject: false})
    const orphan = sleeper({[OWNER_ENV]: `${dead}.1`})
    const ours = sleeper({[OWNER_ENV]: ownerMark()})
    const unmarked = sleeper({})
    try {
      await new Promise((resolve) => setTimeout(resolve, 200))
      const run = await diagJson<ResetReport>(['reset'])
      expect(run.exitCode, run.stderr).toBe(0)
      expect(run.json.actions).toEqual([{kind: 'process', name: `sleep [${orphan.pid}]`, pid: dead, outcome: 'removed'}])
      expect(isRunning(orphan.pid!)).toBe(false)
      expect(isRunning(ours.pid!)).toBe(true)
      expect(isRunning(unmarked.pid!)).toBe(true)
    } finally {
      for (const p of [orphan, ours, unmarked]) p.kill('SIGKILL')
      await Promise.all([orphan, ours, unmarked])
    }
  })

  // Three different signals at once, so that none is merged into another while pending: diag
  // handles all three before its cleanup can finish, and must quit rather than wait.
  it('quits at the third signal without waiting for cleanup, and diag reset removes the rest', async () => {
    const tracer = startDiag(['syscount', '--backend', 'ftrace-stream'])
    await tracingStarted(tracer, 'Hit Ctrl-C')
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) tracer.kill(signal)
    const run = await tracer
    expect(run.exitCode, String(run.stderr)).toBe(130)
    expect(String(run.stderr)).toMatch(/quitting before cleanup finished; still in place: .*instance/)
    const reset = await diagJson<ResetReport>(['reset'])
    expect(reset.exitCode, reset.stderr).toBe(0)
    expect(reset.json.actions.map((a) => a.kind)).toContain('instance')
    for (const action of reset.json.actions) expect(action).toMatchObject({pid: tracer.pid, outcome: 'removed'})
  })
})
