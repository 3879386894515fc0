import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {availableParallelism, hostname, tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import type {Stacks} from '../../src/result/kinds/stacks.js'
import type {ToolResult} from '../../src/result/model.js'
import {type OffcputimeOptions, offcputime} from '../../tools/offcputime/tool.js'
import {diagJson, startDiag, tracingStarted} from '../helpers/cli.js'
import {hostTruths, skipReason} from '../helpers/ground-truth.js'
import {expectKernelStateKept, isRoot} from '../helpers/kernel-state.js'
import {schemaErrors} from '../helpers/schema.js'
import {OFFCPU_WORKLOAD} from '../helpers/workload.js'
import {offcpuWrong} from '../matrix/cases.js'

const built = existsSync(OFFCPU_WORKLOAD)
const onlineCpus = () => Array.from({length: availableParallelism()}, (_, cpu) => cpu)
const stacksOf = (r: ToolResult) => r.intervals.flatMap((i) => (i.data as Stacks).stacks)
const workloadStacks = (r: ToolResult) => stacksOf(r).filter((s) => s.frames[0].startsWith('diag-offcpu'))

describe.skipIf(!isRoot || !built)('offcputime on this host (needs root and test/workload/diag-offcpu)', () => {
  expectKernelStateKept()
  // Why each candidate cannot run here, from what the kernel has (its config, peers), not from diag's probe.
  let usable = new Map<string, string | undefined>()

  beforeAll(async () => {
    const truths = await hostTruths()
    usable = new Map(offcputime.candidates.map((c) => [c.id, skipReason(c.needs, truths)]))
  })

  for (const candidate of offcputime.candidates.map((c) => c.id)) {
    it(`${candidate}: the sleeps' stack (program function, main, schedule) and about 1 s blocked`, async (context) => {
      const lacking = usable.get(candidate)
      if (lacking) return context.skip(lacking)
      // perf-record on the first CPU: see the per-CPU test below.
      const pin = candidate === 'perf-record' ? ['taskset', '-c', '0'] : []
      const {json, exitCode} = await diagJson<ToolResult>(['offcputime', '--backend', candidate, '--', ...pin, OFFCPU_WORKLOAD])
      expect(exitCode).toBe(0)
      expect(schemaErrors('result', json) || undefined).toBeUndefined()
      expect(json.backend.candidate).toBe(candidate)
      expect(offcpuWrong(json)).toBeUndefined()
    })
  }

  // Each CPU on its own: Linux 6.18's pid filter lost the switches to the program on every CPU but
  // the first, so its blocks never ended there (the stream's answer depended on where it ran); and
  // the kernel records no switch out of the second CPU's idle task (ftrace and perf alike), so
  // a block there ends at its wakeup. perf gets no wakeup made from that idle task either: there
  // perf-record cannot end the blocks, and must say so, each block in lost (those that end while
  // another task runs on that CPU are counted). At least one CPU gives the whole answer.
  for (const candidate of ['ftrace-stream', 'perf-record']) {
    it(`${candidate}: the sleeps of a program pinned to each CPU in turn, or their loss reported`, async (context) => {
      const lacking = usable.get(candidate)
      if (lacking) return context.skip(lacking)
      let answered = 0
      for (const cpu of onlineCpus()) {
        const args = ['offcputime', '--backend', candidate, '--', 'taskset', '-c', String(cpu), OFFCPU_WORKLOAD]
        const {json, stderr} = await diagJson<ToolResult>(args)
        expect(json.backend?.candidate, stderr).toBe(candidate)
        const wrong = offcpuWrong(json)
        if (!wrong) answered++
        else if (candidate === 'perf-record' && (json.lost ?? 0) > 0) {
          // All of them lost when the CPU idles at each wakeup, some when another task runs there then.
          // Whatever was counted and what was lost add up to the sleeps, each 10 ms.
          const counted = workloadStacks(json).filter((s) => s.frames.some((f) => /nanosleep/.test(f))).reduce((sum, s) => sum + s.value, 0) / 1e6
          expect(counted + (json.lost ?? 0) * 0.01, `on CPU ${cpu}: ${wrong}`).toBeGreaterThan(0.85)
          expect(counted + (json.lost ?? 0) * 0.01, `on CPU ${cpu}: ${wrong}`).toBeLessThan(1.15 + 0.02)
        } else expect(wrong, `on CPU ${cpu}`).toBeUndefined()
      }
      expect(answered).toBeGreaterThan(0)
    })
  }

  // The workload sleeps (S) 100 times 10 ms, then writes and fsyncs a file 30 times (D, waiting on
  // the disk: the file is in the temporary directory, on a disk here, not a tmpfs).
  const onDisk = (s: Stacks['stacks'][number]) => s.frames.some((f) => f === 'wait_for_disk' || /fsync|sync_file/.test(f))
  const inSleep = (s: Stacks['stacks'][number]) => s.frames.some((f) => /nanosleep/.test(f))
  const withState: OffcputimeOptions = {minBlockUs: 1, stacks: 'both', perPid: false, states: ['S']}
  for (const candidate of offcputime.candidates.filter((c) => (c.accepts?.(withState) ?? []).length === 0).map((c) => c.id)) {
    it(`${candidate}: --state S counts the sleeps and not the waits on the disk, --state D the other way round`, async (context) => {
      const lacking = usable.get(candidate)
      if (lacking) return context.skip(lacking)
      const dir = mkdtempSync(path.join(tmpdir(), 'diag-offcpu-state-'))
      try {
        const run = async (state: string) => {
          // perf-record on the first CPU, as for its known answer above.
          const pin = candidate === 'perf-record' ? ['taskset', '-c', '0'] : []
          const {json, stderr} = await diagJson<ToolResult>(['offcputime', '--backend', candidate, '--state', state, '--', ...pin, OFFCPU_WORKLOAD, '100', '10', '30', path.join(dir, 'synced')])
          expect(json.backend?.candidate, stderr).toBe(candidate)
          expect(json.command?.exitCode).toBe(0)
          return json
        }
        const sleeping = await run('S')
        expect(offcpuWrong(sleeping)).toBeUndefined()
        expect(workloadStacks(sleeping).filter(onDisk)).toEqual([])
        const waiting = workloadStacks(await run('D'))
        expect(waiting.filter(onDisk).length, JSON.stringify(waiting)).toBeGreaterThan(0)
        expect(waiting.filter(inSleep)).toEqual([])
      } finally {
        rmSync(dir, {recursive: true, force: true})
      }
    })
  }

  it('diag chooses a backend and answers right', async () => {
    const {json} = await diagJson<ToolResult>(['offcputime', '--', OFFCPU_WORKLOAD])
    expect(offcpuWrong(json)).toBeUndefined()
  })

  it('--kernel-only keeps the kernel frames, --user-only the user frames, named though the command exited before the last read', async (context) => {
    if (usable.get('bpf-tracepoint') && usable.get('bpf-tp-btf')) return context.skip('no BPF candidate is usable here')
    const kernel = workloadStacks((await diagJson<ToolResult>(['offcputime', '--kernel-only', '--', OFFCPU_WORKLOAD, '20'])).json)
    expect(kernel.some((s) => s.frames.includes('schedule')), JSON.stringify(kernel)).toBe(true)
    expect(kernel.some((s) => s.frames.includes('main'))).toBe(false)
    const user = workloadStacks((await diagJson<ToolResult>(['offcputime', '--user-only', '--', OFFCPU_WORKLOAD, '20'])).json)
    expect(user.some((s) => s.frames.includes('sleep_in_nanosleep') && s.frames.includes('main')), JSON.stringify(user)).toBe(true)
    expect(user.some((s) => s.frames.includes('schedule'))).toBe(false)
  })

  it('--min-block leaves out blocks shorter than it; --per-pid names the process', async () => {
    // 20 sleeps of 10 ms: none lasts 50 ms.
    const long = workloadStacks((await diagJson<ToolResult>(['offcputime', '--min-block', '50000', '--', OFFCPU_WORKLOAD, '20'])).json)
    expect(long.filter((s) => s.frames.some((f) => /nanosleep/.test(f)))).toEqual([])
    const perPid = (await diagJson<ToolResult>(['offcputime', '--per-pid', '--', OFFCPU_WORKLOAD, '20'])).json
    expect(workloadStacks(perPid).some((s) => /^diag-offcpu-\d+$/.test(s.frames[0]))).toBe(true)
  })

  it('--pid follows a running process', async () => {
    // It waits on its stdin until diag says it is tracing, then sleeps 2 s, over diag's 1 s.
    const child = execa('sh', ['-c', `read -r _; exec ${OFFCPU_WORKLOAD} 200`], {reject: false, stdin: 'pipe'})
    try {
      const tracer = startDiag(['offcputime', '--json', '--pid', String(child.pid), '-d', '1'])
      await tracingStarted(tracer, 'Hit Ctrl-C')
      child.stdin!.end('\n')
      const {stdout, stderr} = await tracer
      const json = JSON.parse(String(stdout)) as ToolResult
      expect(json.intervals, `${stdout}\n${stderr}`).toBeDefined()
      const stacks = workloadStacks(json)
      expect(stacks.length).toBeGreaterThan(0)
      // Its pid's only: the workload's, or the shell's it was before its exec.
      const others = stacksOf(json).filter((s) => !['diag-offcpu', 'sh'].includes(s.frames[0]))
      expect(others.map((s) => s.frames.join(';'))).toEqual([])
    } finally {
      await child
    }
  })

  it('marks where the kernel frames start, and --svg writes the run as a flame graph with user and kernel frames apart', async (context) => {
    if (usable.get('bpf-tracepoint') && usable.get('bpf-tp-btf')) return context.skip('no BPF candidate is usable here')
    const dir = mkdtempSync(path.join(tmpdir(), 'diag-offcpu-svg-'))
    try {
      const file = path.join(dir, 'offcpu.svg')
      const {json, exitCode, stderr} = await diagJson<ToolResult>(['offcputime', '--svg', file, '--', OFFCPU_WORKLOAD, '20'])
      expect(exitCode, stderr).toBe(0)
      expect(stderr).toContain(`wrote the flame graph to ${file}`)
      const sleeps = workloadStacks(json).filter((s) => s.frames.includes('main') && s.frames.includes('schedule'))
      expect(sleeps.length, JSON.stringify(workloadStacks(json))).toBeGreaterThan(0)
      for (const stack of sleeps) {
        expect(stack.frames.indexOf('main')).toBeLessThan(stack.kernelFrom!)
        expect(stack.frames.indexOf('schedule')).toBeGreaterThanOrEqual(stack.kernelFrom!)
      }
      const svg = readFileSync(file, 'utf8')
      expect(svg).toContain(`offcputime on ${hostname()}, kernel ${json.kernel}, ${json.backend.candidate} (bpf)`)
      expect(svg).toMatch(/<g class="f user" data-name="main"/)
      expect(svg).toMatch(/<g class="f kernel" data-name="schedule"/)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('refuses --kernel-only with --user-only before touching the kernel', async () => {
    const run = await diagJson(['offcputime', '--kernel-only', '--user-only', '-d', '1'])
    expect(run.exitCode).toBe(2)
  })

  it('refuses a --state letter this kernel does not report, on every backend, before touching the kernel', async () => {
    for (const backend of [[], ...offcputime.candidates.map((c) => ['--backend', c.id])]) {
      const run = await diagJson(['offcputime', ...backend, '--state', 'SQ', '-d', '1'])
      expect(run.exitCode, `${backend.join(' ')}: ${run.stderr}`).toBe(2)
    }
  })
})
