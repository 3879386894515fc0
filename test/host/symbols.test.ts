import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync} from 'node:fs'
import {randomBytes} from 'node:crypto'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import type {Stacks} from '../../src/result/kinds/stacks.js'
import type {ToolResult} from '../../src/result/model.js'
import {offcputime} from '../../tools/offcputime/tool.js'
import {profile} from '../../tools/profile/tool.js'
import {diagJson} from '../helpers/cli.js'
import {buildStrippedFixture, place} from '../helpers/elf-fixtures.js'
import {hostTruths, skipReason} from '../helpers/ground-truth.js'
import {expectKernelStateKept, isRoot} from '../helpers/kernel-state.js'
import {OFFCPU_WORKLOAD, SPIN_WORKLOAD} from '../helpers/workload.js'

const stacksOf = (r: ToolResult) => r.intervals.flatMap((i) => (i.data as Stacks).stacks)
const framesOf = (r: ToolResult, first: RegExp) => stacksOf(r).filter((s) => first.test(s.frames[0])).map((s) => s.frames.join(';'))
const DEBUG_ROOT = '/usr/lib/debug'

/**
 * Where user frames' names come from on this host, through the real command: separate debug files
 * under /usr/lib/debug, a JIT's /tmp/perf-PID.map, and programs that exit (and are deleted) before
 * diag reads their stacks.
 */
describe.skipIf(!isRoot || !existsSync(SPIN_WORKLOAD))('symbolization on this host (needs root and the test workloads)', () => {
  expectKernelStateKept()
  let usable = new Map<string, string | undefined>()

  beforeAll(async () => {
    const truths = await hostTruths()
    usable = new Map([...profile.candidates, ...offcputime.candidates].map((c) => [c.id, skipReason(c.needs, truths)]))
  })

  for (const candidate of ['bpf-perf-event', 'perf-record']) {
    it(`${candidate}: a stripped program's own function, named from its debug file under ${DEBUG_ROOT}/.build-id/`, async (context) => {
      const lacking = usable.get(candidate)
      if (lacking) return context.skip(lacking)
      // A build-id of its own, so the file this test places is never one a package installed.
      const fixture = await buildStrippedFixture({buildId: `0x${randomBytes(20).toString('hex')}`})
      const id = fixture.buildId!
      const dir = path.join(DEBUG_ROOT, '.build-id', id.slice(0, 2))
      const debug = path.join(dir, `${id.slice(2)}.debug`)
      const dirExisted = existsSync(dir)
      try {
        // Only the build-id can find it: the debuglink's file is not beside the program.
        place(fixture.debug, debug)
        rmSync(fixture.debug)
        const {json, stderr} = await diagJson<ToolResult>(['profile', '--backend', candidate, '--user-only', '--', fixture.stripped, '800000000'])
        const frames = framesOf(json, /^prog\.stripped$/)
        expect(frames.some((f) => f.includes('only_in_symtab')), `${JSON.stringify(frames)}\n${stderr}`).toBe(true)
      } finally {
        rmSync(debug, {force: true})
        if (!dirExisted && existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir)
        fixture.remove()
      }
    })
  }

  it('bpf-perf-event: libc\'s own functions named from its installed debug file (libc6-dbg), where there is one', async (context) => {
    const lacking = usable.get('bpf-perf-event')
    if (lacking) return context.skip(lacking)
    const {json} = await diagJson<ToolResult>(['profile', '--backend', 'bpf-perf-event', '--user-only', '--', SPIN_WORKLOAD, '1000'])
    const frames = framesOf(json, /^diag-spin$/)
    const libcFrame = frames.map((f) => f.split(';')[1]).find(Boolean)
    if (libcFrame?.startsWith('libc.so.6+')) {
      const {ElfSymbols} = await import('../../src/symbols/elf.js')
      const libc = readFileSync('/proc/self/maps', 'utf8').match(/\S*\/libc\.so\.6$/m)?.[0]
      const id = libc && ElfSymbols.read(libc).ids.buildId
      const installed = id && existsSync(path.join(DEBUG_ROOT, '.build-id', id.slice(0, 2), `${id.slice(2)}.debug`))
      if (!installed) return context.skip('no debug file of libc.so.6 is installed (libc6-dbg)')
    }
    // main's caller in libc, which only libc's .symtab names (its .dynsym has no such symbol).
    expect(frames.some((f) => f.startsWith('diag-spin;__libc_start_call_main;main;burn_cpu')), JSON.stringify(frames)).toBe(true)
  })

  it('JIT frames from /tmp/perf-PID.map: node --perf-basic-prof\'s hot function, named', async (context) => {
    const lacking = usable.get('bpf-perf-event')
    if (lacking) return context.skip(lacking)
    const name = `diagJitHot_${randomBytes(4).toString('hex')}`
    const dir = mkdtempSync(path.join(tmpdir(), 'diag-jit-'))
    const pidFile = path.join(dir, 'pid')
    const script = path.join(dir, 'hot.js')
    writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid))
function ${name}(n) { let x = 1; for (let i = 0; i < n; i++) x = (x * 1103515245 + 12345) % 2147483648; return x }
const end = Date.now() + 2500
let sum = 0
while (Date.now() < end) sum += ${name}(1e6)
console.log(sum > 0)
`)
    try {
      const {json, stderr} = await diagJson<ToolResult>(['profile', '-d', '3', '--user-only', '--', process.execPath, '--perf-basic-prof', script])
      const frames = framesOf(json, /^node/)
      expect(frames.some((f) => f.split(';').some((frame) => frame.includes(name))), `${JSON.stringify(frames.slice(0, 5))}\n${stderr}`).toBe(true)
    } finally {
      if (existsSync(pidFile)) rmSync(path.join('/tmp', `perf-${readFileSync(pidFile, 'utf8').trim()}.map`), {force: true})
      rmSync(dir, {recursive: true, force: true})
    }
  })

  // The command exits (and its file is removed) before diag reads the stacks at the end.
  const gone = (workload: string, name: string, args: string) =>
    ['sh', '-c', `d=$(mktemp -d ${tmpdir()}/diag-gone.XXXXXX) && cp ${workload} $d/${name} && $d/${name} ${args}; rm -r $d`]

  it('bpf-perf-event: a program deleted after it exits keeps its frames\' names', async (context) => {
    const lacking = usable.get('bpf-perf-event')
    if (lacking) return context.skip(lacking)
    const {json} = await diagJson<ToolResult>(['profile', '--backend', 'bpf-perf-event', '--user-only', '--', ...gone(SPIN_WORKLOAD, 'spin-gone', '500')])
    const frames = framesOf(json, /^spin-gone$/)
    expect(frames.some((f) => f.includes('main;burn_cpu')), JSON.stringify(frames)).toBe(true)
  })

  it('offcputime (BPF): a program deleted after it exits keeps its frames\' names', async (context) => {
    const candidate = offcputime.candidates.find((c) => c.backend === 'bpf' && !usable.get(c.id))
    if (!candidate || !existsSync(OFFCPU_WORKLOAD)) return context.skip('no BPF candidate of offcputime is usable here')
    const {json} = await diagJson<ToolResult>(['offcputime', '--backend', candidate.id, '--user-only', '--', ...gone(OFFCPU_WORKLOAD, 'offcpu-gone', '')])
    const frames = framesOf(json, /^offcpu-gone$/)
    expect(frames.some((f) => f.includes('main;sleep_in_nanosleep')), JSON.stringify(frames)).toBe(true)
  })

  // The shell blocks (waiting for sleep) or spins before it execs the workload in the same process:
  // diag reads its maps once it has stacks, as the shell's; the workload's must be read again, and
  // the shell's kept for the stacks taken before.
  const execAfter = (busy: string, workload: string, args: string) => ['sh', '-c', `${busy}; exec ${workload} ${args}`]

  it('offcputime (BPF): a process that execs another program after its first stacks gets that program\'s names', async (context) => {
    const candidate = offcputime.candidates.find((c) => c.backend === 'bpf' && !usable.get(c.id))
    if (!candidate || !existsSync(OFFCPU_WORKLOAD)) return context.skip('no BPF candidate of offcputime is usable here')
    const {json} = await diagJson<ToolResult>(['offcputime', '--backend', candidate.id, '--user-only', '--', ...execAfter('sleep 0.3', OFFCPU_WORKLOAD, '20 10')])
    const frames = framesOf(json, /^diag-offcpu$/)
    expect(frames.some((f) => f.includes('main;sleep_in_nanosleep')), JSON.stringify(frames)).toBe(true)
    // And the shell's, taken before the exec, from the shell's maps: its wait in libc.
    const shell = framesOf(json, /^sh$/)
    expect(shell.some((f) => f.split(';').at(-1) === 'wait4'), JSON.stringify(shell)).toBe(true)
  })

  it('bpf-perf-event: a process that execs another program after its first samples gets that program\'s names', async (context) => {
    const lacking = usable.get('bpf-perf-event')
    if (lacking) return context.skip(lacking)
    const spin = 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'
    const {json} = await diagJson<ToolResult>(['profile', '--backend', 'bpf-perf-event', '--user-only', '--', ...execAfter(spin, SPIN_WORKLOAD, '500')])
    const frames = framesOf(json, /^diag-spin$/)
    expect(frames.some((f) => f.includes('main;burn_cpu')), JSON.stringify(frames)).toBe(true)
    // And the shell's, taken before the exec, from the shell's maps: its innermost frame is never unnamed.
    const shell = framesOf(json, /^sh$/)
    expect(shell.length > 0 && shell.every((f) => f.split(';').at(-1) !== '[unknown]'), JSON.stringify(shell)).toBe(true)
  })
})
