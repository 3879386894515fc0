import {describe, expect, it} from 'vitest'

import type {Collector, RunContext, Runner} from '../../backends/runner.js'
import {BackendError, BadInputError, NotSupportedError, PermissionError} from '../../src/errors.js'
import type {ToolOptions} from '../../src/plan/options.js'
import type {FunccountOptions} from '../../tools/funccount/tool.js'
import type {SyscountOptions} from '../../tools/syscount/tool.js'
import {findTool} from '../../tools/index.js'
import type {HostProbe} from '../../src/probe/probe.js'
import type {CapabilityResult} from '../../src/probe/types.js'
import {renderHeader} from '../../src/render/result.js'
import {type SessionHost, type SessionOptions, runTool} from '../../src/run.js'
import {UndoLog} from '../../src/system/undo.js'
import {MemoryFiles} from '../helpers/memory-files.js'
import {schemaErrors} from '../helpers/schema.js'

const T = '/sys/kernel/tracing'

/** A probe that found exactly `available` (and every other capability a tool needs unavailable). */
function fakeProbe(available: string[], extra: CapabilityResult[] = []): SessionHost['probe'] {
  return async (options) => {
    const names = new Set([...(options.only ?? []), ...available])
    const capabilities: CapabilityResult[] = [...names].map((name) => ({
      name,
      section: 'bpf',
      description: name,
      minKernel: null,
      status: available.includes(name) ? 'available' : 'unavailable',
      evidence: 'probe',
      detail: available.includes(name) ? 'fake: yes' : 'fake: no',
    }))
    for (const e of extra) capabilities.splice(capabilities.findIndex((c) => c.name === e.name), 1, e)
    const probe: HostProbe = {kernel: null, config: null, hostRoot: '/', live: true, capabilities, tracefs: T, cleanupFailures: []}
    return probe
  }
}

// What syscount's BPF candidates and its event stream need, from the tool table (not its hist or perf ones).
const SYSCOUNT_NEEDS = [
  ...new Set(
    findTool('syscount')!
      .candidates.filter((c) => c.backend === 'bpf' || c.id === 'ftrace-stream')
      .flatMap((c) => c.needs),
  ),
]

/** What the fake runners did, in order: starts, undo steps run, collections. */
type Log = string[]

/** A runner that records its start and undo step, then fails with `error` (or counts, without one). */
function fakeRunner(id: string, log: Log, error?: Error): Runner<unknown> {
  return {
    async start(ctx: RunContext<unknown>): Promise<Collector> {
      log.push(`start ${id}`)
      ctx.undo.push(`detach ${id}`, () => void log.push(`undo ${id}`))
      if (error) throw error
      return {
        attach: `fake ${id}`,
        collect: async () => ({kind: 'counts', key: 'syscall', rows: [{key: 'getppid', count: 7}]}),
        lost: async () => 0,
      }
    },
  }
}

interface Fixture {
  available?: string[]
  extra?: CapabilityResult[]
  failing?: Record<string, Error>
  files?: MemoryFiles
  running?: (pid: number) => boolean
  processExit?: SessionHost['processExit']
}

function fixture(f: Fixture = {}) {
  const log: Log = []
  let probed = false
  const probe = fakeProbe(f.available ?? SYSCOUNT_NEEDS, f.extra)
  const host: Partial<SessionHost> = {
    probe: async (options, undo) => {
      probed = true
      return probe(options, undo)
    },
    loadRunner: async ({id}) => fakeRunner(id, log, f.failing?.[id]),
    files: f.files ?? new MemoryFiles(),
    isRunning: f.running ?? (() => true),
    ...(f.processExit ? {processExit: f.processExit} : {}),
  }
  const undo = new UndoLog()
  const run = <O extends ToolOptions>(tool: string, options: O, session: Partial<SessionOptions> = {}) =>
    runTool(tool, options, {duration: 0.01, json: true, ...session}, {undo, signal: new AbortController().signal, host})
  return {log, undo, run, probed: () => probed}
}

const SYSCOUNT: SyscountOptions = {by: 'syscall', top: 10}

describe('falling through at start', () => {
  it('undoes a candidate that fails to attach, starts the next, and says why in the route', async () => {
    const f = fixture({failing: {'bpf-tp-btf': new BackendError('attaching tp_btf raw_syscalls:sys_enter: EINVAL')}})
    const result = await f.run('syscount', SYSCOUNT)
    // The failed candidate's own step is undone before the next one starts.
    expect(f.log).toEqual(['start bpf-tp-btf', 'undo bpf-tp-btf', 'start bpf-raw-tracepoint'])
    expect(f.undo.pending()).toEqual(['detach bpf-raw-tracepoint'])
    expect(result.backend).toMatchObject({name: 'bpf', candidate: 'bpf-raw-tracepoint'})
    expect(result.route.passedOver).toEqual([{candidate: 'bpf-tp-btf', stage: 'start', reasons: ['attaching tp_btf raw_syscalls:sys_enter: EINVAL']}])
    expect(result.route.why).toBe('next usable after bpf-tp-btf failed to start (undone)')
    expect(schemaErrors('result', result)).toBe('')
    expect(renderHeader(result)).toContain('  failed to start, undone: bpf-tp-btf: attaching tp_btf raw_syscalls:sys_enter: EINVAL')
  })

  it('falls through a NotSupportedError too, past candidates the probe ruled out', async () => {
    const f = fixture({
      available: SYSCOUNT_NEEDS.filter((n) => !['btf', 'bpf-tp-btf', 'bpf-raw-tracepoint'].includes(n)),
      failing: {'bpf-tracepoint': new NotSupportedError('this kernel has no raw_syscalls:sys_enter tracepoint')},
    })
    const result = await f.run('syscount', SYSCOUNT)
    expect(result.backend.candidate).toBe('ftrace-stream')
    expect(result.route.passedOver.map((p) => [p.candidate, p.stage])).toEqual([
      ['bpf-tp-btf', 'routing'],
      ['bpf-raw-tracepoint', 'routing'],
      ['bpf-tracepoint', 'start'],
      ['ftrace-hist', 'routing'],
      ['perf-stat', 'routing'],
    ])
    expect(f.log).toEqual(['start bpf-tracepoint', 'undo bpf-tracepoint', 'start ftrace-stream'])
  })

  it.each([
    ['a permission refusal', new PermissionError('loading syscount.bpf.o: EPERM')],
    ['bad input', new BadInputError('refusing to write')],
    ['a bug', new TypeError('x is undefined')],
  ])('stops at %s, without trying another candidate', async (_, error) => {
    const f = fixture({failing: {'bpf-tp-btf': error}})
    await expect(f.run('syscount', SYSCOUNT)).rejects.toBe(error)
    expect(f.log).toEqual(['start bpf-tp-btf'])
  })

  it('does not fall through from a candidate forced by its id', async () => {
    const error = new BackendError('attaching: EINVAL')
    const f = fixture({failing: {'bpf-tp-btf': error}})
    await expect(f.run('syscount', SYSCOUNT, {backend: 'bpf-tp-btf'})).rejects.toBe(error)
    expect(f.log).toEqual(['start bpf-tp-btf'])
  })

  it('falls through within a forced backend, and not beyond it', async () => {
    const failing = {
      'bpf-tp-btf': new BackendError('tp_btf: EINVAL'),
      'bpf-raw-tracepoint': new BackendError('raw_tracepoint: EINVAL'),
      'bpf-tracepoint': new BackendError('tracepoint: E2BIG'),
    }
    const f = fixture({failing})
    const failure = f.run('syscount', SYSCOUNT, {backend: 'bpf'})
    await expect(failure).rejects.toBeInstanceOf(BackendError)
    await expect(failure).rejects.toThrow(/every usable candidate failed to start[^]*bpf-tp-btf: tp_btf: EINVAL[^]*bpf-raw-tracepoint: raw_tracepoint: EINVAL[^]*bpf-tracepoint: tracepoint: E2BIG/)
    expect(f.log).toEqual(Object.keys(failing).flatMap((id) => [`start ${id}`, `undo ${id}`]))
  })

  it('names the forced backend in the route when it fell through within it', async () => {
    const f = fixture({failing: {'bpf-tp-btf': new BackendError('tp_btf: EINVAL')}})
    const result = await f.run('syscount', SYSCOUNT, {backend: 'bpf'})
    expect(result.backend.candidate).toBe('bpf-raw-tracepoint')
    expect(result.route.why).toBe('forced with --backend bpf; next usable after bpf-tp-btf failed to start (undone)')
  })
})

describe('limits that depend on the options, checked while routing', () => {
  it('passes perf-stat over for --by process, with its reason', async () => {
    const f = fixture({available: ['perf-tool', 'perf-event-tracepoint', 'syscall-tracepoints', 'ftrace-instances', 'tracepoints']})
    const result = await f.run('syscount', {...SYSCOUNT, by: 'process'})
    expect(result.backend.candidate).toBe('ftrace-stream')
    expect(result.route.passedOver.find((p) => p.candidate === 'perf-stat')).toEqual({
      candidate: 'perf-stat',
      stage: 'routing',
      reasons: ['counts by syscall only, not --by process'],
    })
  })

  it('passes BPF candidates with one program per function over when the pattern matches more than 64', async () => {
    const files = new MemoryFiles()
    files.files.set(`${T}/available_filter_functions`, Array.from({length: 70}, (_, i) => `vfs_fn${i}\n`).join('') + 'tcp_sendmsg\n')
    const f = fixture({files, available: ['bpf-syscall', 'bpf-map-hash', 'btf', 'bpf-fentry', 'bpf-kprobe', 'function-tracer', 'function-profiler']})
    const options: FunccountOptions = {pattern: 'vfs_fn*', top: 10}
    const result = await f.run('funccount', options)
    expect(result.backend.candidate).toBe('ftrace-profiler')
    const reasons = Object.fromEntries(result.route.passedOver.map((p) => [p.candidate, p.reasons.join('; ')]))
    expect(reasons['bpf-fentry']).toMatch(/"vfs_fn\*" matches 70 functions, more than 64/)
    expect(reasons['bpf-kprobe']).toMatch(/matches 70 functions, more than 64/)
    expect(f.log).toEqual(['start ftrace-profiler'])
  })

  it('refuses a pattern that matches nothing with names the kernel has (exit 2)', async () => {
    const files = new MemoryFiles()
    files.files.set(`${T}/available_filter_functions`, 'sys_getppid\nsys_getpid\nvfs_read\n')
    const f = fixture({files, available: ['function-tracer', 'function-profiler']})
    const failure = f.run('funccount', {pattern: 'SyS_getppid', top: 10} as FunccountOptions)
    await expect(failure).rejects.toBeInstanceOf(BadInputError)
    await expect(failure).rejects.toThrow(/no traceable kernel function matches "SyS_getppid".*did you mean sys_getppid\?/)
    expect(f.log).toEqual([])
  })
})

describe('bad input is refused before probing', () => {
  it.each([
    ['an unknown --backend', {backend: 'nosuch'}, {}, /has no backend "nosuch"/],
    ['an empty --backend', {backend: ''}, {}, /has an empty --backend/],
    ['perf-stat --by process', {backend: 'perf-stat'}, {by: 'process'}, /perf-stat counts by syscall only, not --by process/],
    ['the perf backend --by process', {backend: 'perf'}, {by: 'process'}, /perf-stat counts by syscall only/],
    ['a command that does not exist', {command: ['/nonexistent']}, {}, /command not found, or not an executable file: \/nonexistent/],
    ['a command that is a directory', {command: ['/tmp']}, {}, /not an executable file: \/tmp/],
    ['--pid with a command', {command: ['/bin/true']}, {pid: 1}, /--pid and a command/],
    ['a --pid that does not run', {}, {pid: 4_000_000}, /--pid 4000000: no such process/],
  ])('%s', async (_, session, options, message) => {
    const f = fixture({running: (pid) => pid === 1})
    const failure = f.run('syscount', {...SYSCOUNT, ...options}, session as Partial<SessionOptions>)
    await expect(failure).rejects.toBeInstanceOf(BadInputError)
    await expect(failure).rejects.toThrow(message)
    expect(f.probed()).toBe(false)
  })
})

describe('--pid', () => {
  it('ends the run when the process exits, without a duration', async () => {
    let exit!: () => void
    const exited = new Promise<void>((resolve) => (exit = resolve))
    const f = fixture({processExit: () => exited})
    const run = f.run('syscount', {...SYSCOUNT, pid: 4242}, {duration: undefined})
    setTimeout(exit, 20)
    const result = await run
    expect(result.intervals).toHaveLength(1)
    expect(result.seconds).toBeGreaterThan(0)
  })
})

describe('the BPF JIT in the result', () => {
  const jit = (status: CapabilityResult['status']): CapabilityResult => ({
    name: 'bpf-jit',
    section: 'bpf',
    description: 'jit',
    minKernel: null,
    status,
    evidence: 'file',
    detail: 'fake',
  })

  it('says when BPF programs ran in the interpreter, in JSON and in the header', async () => {
    const result = await fixture({extra: [jit('unavailable')]}).run('syscount', SYSCOUNT)
    expect(result.backend.jit).toBe(false)
    expect(schemaErrors('result', result)).toBe('')
    expect(renderHeader(result).join('\n')).toMatch(/BPF JIT is off .*interpreter/)
  })

  it('says true when the JIT is on, null when unknown, and nothing for other backends', async () => {
    expect((await fixture({extra: [jit('available')]}).run('syscount', SYSCOUNT)).backend.jit).toBe(true)
    expect((await fixture({extra: [jit('unknown')]}).run('syscount', SYSCOUNT)).backend.jit).toBeNull()
    const ftrace = await fixture({available: ['ftrace-instances', 'tracepoints', 'syscall-tracepoints']}).run('syscount', SYSCOUNT)
    expect(ftrace.backend).not.toHaveProperty('jit')
    expect(renderHeader(ftrace).join('\n')).not.toMatch(/JIT/)
  })

  it('probes bpf-jit for tools with BPF candidates', async () => {
    let only: string[] | undefined
    const probe = fakeProbe(SYSCOUNT_NEEDS)
    const f = fixture()
    await runTool('syscount', SYSCOUNT, {duration: 0.01, json: true}, {
      undo: f.undo,
      signal: new AbortController().signal,
      host: {
        probe: async (options, undo) => ((only = options.only), probe(options, undo)),
        loadRunner: async ({id}) => fakeRunner(id, f.log),
        files: new MemoryFiles(),
      },
    })
    expect(only).toContain('bpf-jit')
    expect(findTool('syscount')!.candidates.flatMap((c) => c.needs)).not.toContain('bpf-jit')
  })
})
