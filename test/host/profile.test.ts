import {existsSync, readdirSync} from 'node:fs'
import {tmpdir} from 'node:os'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import type {Stacks} from '../../src/result/kinds/stacks.js'
import type {ToolResult} from '../../src/result/model.js'
import {profile} from '../../tools/profile/tool.js'
import {diagJson, startDiag, tracingStarted} from '../helpers/cli.js'
import type {ResetReport} from '../../src/reset.js'
import {hostTruths, skipReason} from '../helpers/ground-truth.js'
import {expectKernelStateKept, isRoot} from '../helpers/kernel-state.js'
import {schemaErrors} from '../helpers/schema.js'
import {SPIN_WORKLOAD} from '../helpers/workload.js'
import {spinWrong} from '../matrix/cases.js'

const built = existsSync(SPIN_WORKLOAD)
const stacksOf = (r: ToolResult) => r.intervals.flatMap((i) => (i.data as Stacks).stacks)
const spinStacks = (r: ToolResult) => stacksOf(r).filter((s) => s.frames[0].startsWith('diag-spin'))
const samples = (stacks: Stacks['stacks']) => stacks.reduce((sum, s) => sum + s.value, 0)

describe.skipIf(!isRoot || !built)('profile on this host (needs root and test/workload/diag-spin)', () => {
  expectKernelStateKept()
  // Why each candidate cannot run here, from what the kernel has (its config, peers), not from diag's probe.
  let usable = new Map<string, string | undefined>()

  beforeAll(async () => {
    const truths = await hostTruths()
    usable = new Map(profile.candidates.map((c) => [c.id, skipReason(c.needs, truths)]))
  })

  // The measure of done: `diag profile -d 5 -- PROGRAM` on a CPU-bound program.
  for (const candidate of profile.candidates.map((c) => c.id)) {
    it(`${candidate}: at least 80% of a spinning program's samples in its hot function, named`, async (context) => {
      const lacking = usable.get(candidate)
      if (lacking) return context.skip(lacking)
      const {json, exitCode, stderr} = await diagJson<ToolResult>(['profile', '--backend', candidate, '-d', '5', '--json', '--', SPIN_WORKLOAD, '3000'])
      expect(exitCode, stderr).toBe(0)
      expect(schemaErrors('result', json) || undefined).toBeUndefined()
      expect(json.backend.candidate).toBe(candidate)
      expect(spinWrong(json)).toBeUndefined()
      // Its user stack walks by frame pointer from the hot function to main.
      expect(spinStacks(json).some((s) => s.frames.join(';').includes('main;burn_cpu')), JSON.stringify(spinStacks(json).slice(0, 3))).toBe(true)
    })

    it(`${candidate}: --kernel-only, --user-only and --per-pid keep the frames and names asked for`, async (context) => {
      const lacking = usable.get(candidate)
      if (lacking) return context.skip(lacking)
      const run = async (flags: string[]) => spinStacks((await diagJson<ToolResult>(['profile', '--backend', candidate, ...flags, '--json', '--', SPIN_WORKLOAD, '1000'])).json)
      const user = await run(['--user-only'])
      expect(samples(user.filter((s) => s.frames.includes('burn_cpu')))).toBeGreaterThan(0)
      expect(user.some((s) => s.frames.some((f) => /^(asm_|entry_SYSCALL|do_syscall_64|__sysvec)/.test(f)))).toBe(false)
      const kernel = await run(['--kernel-only'])
      expect(samples(kernel)).toBeGreaterThan(0)
      expect(kernel.some((s) => s.frames.includes('burn_cpu') || s.frames.includes('main'))).toBe(false)
      const perPid = await run(['--per-pid'])
      expect(perPid.length).toBeGreaterThan(0)
      expect(perPid.every((s) => /^diag-spin-\d+$/.test(s.frames[0])), JSON.stringify(perPid.map((s) => s.frames[0]))).toBe(true)
    })
  }

  it('perf-record: a data file per interval (--switch-output), and diag ends with the command, not seconds later', async (context) => {
    const lacking = usable.get('perf-record')
    if (lacking) return context.skip(lacking)
    const started = Date.now()
    const {json, stderr} = await diagJson<ToolResult>(['profile', '--backend', 'perf-record', '-i', '1', '--json', '--', SPIN_WORKLOAD, '2500'])
    const seconds = (Date.now() - started) / 1000
    const withSamples = json.intervals?.filter((i) => (i.data as Stacks).stacks.some((s) => s.frames.includes('burn_cpu')))
    expect(withSamples?.length, stderr).toBeGreaterThanOrEqual(2)
    // Node, perf's start and perf script take a few seconds; a timer left running kept diag 10 s more.
    expect(seconds).toBeLessThan(9)
  })

  it('perf-record: the data files of a diag killed with SIGKILL are removed by diag reset', async (context) => {
    const lacking = usable.get('perf-record')
    if (lacking) return context.skip(lacking)
    const tracer = startDiag(['profile', '--backend', 'perf-record', '-d', '60'])
    await tracingStarted(tracer, 'Hit Ctrl-C')
    const left = () => readdirSync(tmpdir()).filter((name) => name.startsWith(`diag-${tracer.pid}-perf-`))
    expect(left()).toHaveLength(1)
    tracer.kill('SIGKILL')
    await tracer
    const [dir] = left()
    expect(dir).toBeDefined()
    const reset = await diagJson<ResetReport>(['reset'])
    expect(reset.exitCode, reset.stderr).toBe(0)
    expect(reset.json.actions.filter((a) => a.pid === tracer.pid)).toEqual([{kind: 'perf data', name: expect.stringContaining(dir), pid: tracer.pid, outcome: 'removed'}])
    expect(left()).toEqual([])
  })

  it('--frequency sets the rate: 199 Hz gives about 4 times the samples of 49 Hz', async (context) => {
    if (usable.get('bpf-perf-event')) return context.skip(usable.get('bpf-perf-event')!)
    const count = async (frequency: number) =>
      samples(spinStacks((await diagJson<ToolResult>(['profile', '-F', String(frequency), '--json', '--', SPIN_WORKLOAD, '2000'])).json))
    const low = await count(49)
    const high = await count(199)
    // On a shared 2-CPU machine the program gets less than a whole CPU at times: a wide margin.
    expect(high / low, `${low} samples at 49 Hz, ${high} at 199 Hz`).toBeGreaterThan(2.5)
  })

  it('--pid samples a running process only', async (context) => {
    if (usable.get('bpf-perf-event') && usable.get('perf-record')) return context.skip('no candidate is usable here')
    const child = execa(SPIN_WORKLOAD, ['6000'], {reject: false})
    try {
      const {json, stdout, stderr} = await diagJson<ToolResult>(['profile', '--pid', String(child.pid), '-d', '1', '--json'])
      expect(json.intervals, `${stdout}\n${stderr}`).toBeDefined()
      expect(samples(spinStacks(json))).toBeGreaterThan(0)
      expect(stacksOf(json).every((s) => s.frames[0] === 'diag-spin'), JSON.stringify(stacksOf(json).map((s) => s.frames[0]))).toBe(true)
    } finally {
      child.kill()
      await child
    }
  })

  it('refuses --kernel-only with --user-only, and a frequency of 0, before touching the kernel', async () => {
    expect((await diagJson(['profile', '--kernel-only', '--user-only', '-d', '1'])).exitCode).toBe(2)
    expect((await diagJson(['profile', '-F', '0', '-d', '1'])).exitCode).toBe(2)
  })
})
