import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {CapabilitiesReport} from '../../src/plan/report.js'
import {TOOLS} from '../../tools/index.js'
import type {ResetReport} from '../../src/reset.js'
import type {ToolResult} from '../../src/result/model.js'
import {RUNBOOK_EXIT} from '../../src/errors.js'
import type {RunbookReport} from '../../src/runbook/run.js'
import {capabilityTruths, configured, expectUsable, expectedFromConfig} from '../helpers/ground-truth.js'
import {schemaErrors} from '../helpers/schema.js'
import {CALIBRATED, GETPPID_FUNCTIONS, MATRIX, type MatrixEnv, type MatrixRow, TCP, judge, recordRows} from '../matrix/cases.js'
import {LAB_KERNELS, type LabBoot, type LabCase, type LabKernel, labConfig, labHasPerf, labUnavailable, shellQuote, startLabBoots} from './lab.js'

// What the kernel's tracing looks like after diag ran: read through a mount of diag's own.
const STATE_AFTER = [
  'grep -c tracefs /proc/mounts',
  'mkdir -p /tmp/t && mount -t tracefs t /tmp/t',
  'echo "instances: $(ls /tmp/t/instances)"',
  'echo "kprobes: $(cat /tmp/t/kprobe_events)"',
  'echo "uprobes: $(cat /tmp/t/uprobe_events)"',
  'echo "synthetic: $(cat /tmp/t/synthetic_events)"',
  'echo "tracer: $(cat /tmp/t/current_tracer)"',
  'echo "events: $(cat /tmp/t/set_event)"',
  'echo "filter: $(grep -v "^#" /tmp/t/set_ftrace_filter)"',
  'echo "profiler: $(cat /tmp/t/function_profile_enabled 2>/dev/null)"',
  'umount /tmp/t',
].join('; ')

// biolatency on hist triggers with more requests (over 4096 distinct sectors) than a hist
// table holds by default (2048 keys): every request is counted, or its loss reported.
const HIST_REQUESTS = 5000
const EVENTS = 20_000
const HIST_TABLE_CASES: LabCase[] = [
  {
    id: 'hist-biolatency-5000',
    command: `diag biolatency --disks --backend ftrace-hist --json -- diag-workload dwrite /dev/vda ${HIST_REQUESTS}`,
  },
]


// The getppid glob is the kernel's (cases.ts: getppidPattern): the guest finds it in its kallsyms
// at boot, and the cases read it from this file.
const FROM_KERNEL = '@getppid-pattern'
const FIND_GETPPID = `for f in ${GETPPID_FUNCTIONS.join(' ')}; do if grep -q " $f$" /proc/kallsyms; then echo "\${f%??}*"; break; fi; done | tee /tmp/getppid-pattern`
// Nothing listens in the lab guest but tcplife's server: any other port is closed there.
const LAB_CLOSED_PORT = 9
// tcplife's server runs apart from diag for the whole boot, started before the cases; the cases
// read its port from this file.
const TCP_PORT = '@tcp-port'
const START_TCP_SERVER = `diag-tcp server 127.0.0.1 ${TCP.reply} > /tmp/tcp-server 2> /dev/null & for i in $(seq 50); do grep -q port /tmp/tcp-server && break; sleep 0.1; done; cut -d' ' -f2 /tmp/tcp-server | tee /tmp/tcp-port`
const FROM_FILE: Record<string, string> = {[FROM_KERNEL]: '"$(cat /tmp/getppid-pattern)"', [TCP_PORT]: '"$(cat /tmp/tcp-port)"'}
const ENV: MatrixEnv = {name: '', workload: 'diag-workload', offcpuWorkload: 'diag-offcpu', spinWorkload: 'diag-spin', readFile: '/diag/package.json', disk: '/dev/vda', diskLabel: 'vda', getppidPattern: FROM_KERNEL, lookups: 'diag-lookups', tcpWorkload: 'diag-tcp', tcpPort: TCP_PORT, closedPort: LAB_CLOSED_PORT}
const diag = (args: string[]) => `diag ${args.map((a) => FROM_FILE[a] ?? shellQuote(a)).join(' ')}`

// DIAG_LAB_TOOLS=tcplife,tcptop boots each kernel for those tools' matrix cases only, with the
// checks every boot makes (capabilities, state after): a quick run while a tool is being built.
// The whole lab (CI) runs without it.
const FOCUS = process.env.DIAG_LAB_TOOLS?.split(',')
const inFocus = (tool: string) => !FOCUS || FOCUS.includes(tool)

// The tools whose no-BTF candidates read tcp_sock at calibrated offsets (src/net/tcp-offsets.ts),
// and the calibration timed against the cached offsets (bench/tcp-calibration.mjs).
const CALIBRATING_TOOLS = ['tcprtt', 'tcplife']
const CALIBRATION_NEEDS = ['bpf-syscall', 'bpf-helper-probe-read', 'bpf-map-hash', 'bpf-kprobe']
const TCP_CALIBRATION: LabCase = {id: 'tcp-calibration', command: 'node /diag/bench/tcp-calibration.mjs'}

/** The result's attach line: a JSON result, or the summary line of a rows tool's NDJSON. */
function attachOf(stdout: string): string | undefined {
  try {
    return (JSON.parse(stdout) as ToolResult).backend?.attach
  } catch {
    try {
      return (JSON.parse(stdout.trim().split('\n').pop()!) as ToolResult).backend?.attach
    } catch {
      return undefined
    }
  }
}

function cases(kernel: string): LabCase[] {
  const always: LabCase[] = [
    {id: 'capabilities', command: 'diag capabilities --json'},
    {id: 'getppid-pattern', command: FIND_GETPPID},
    {id: 'tcp-server', command: START_TCP_SERVER},
  ]
  const matrix = MATRIX.flatMap((c, i) => (inFocus(c.tool) ? [{id: `matrix-${i}`, command: diag(c.args({...ENV, name: kernel}))}] : []))
  const stateAfter = {id: 'state-after', command: STATE_AFTER}
  const calibration = CALIBRATING_TOOLS.some(inFocus) ? [TCP_CALIBRATION] : []
  if (FOCUS) return [...always, ...matrix, ...calibration, stateAfter]
  return [
    ...always,
    // Syscall counting must not need BTF: hide it and count through the BPF backend all the same.
    {
      id: 'no-btf',
      command: `[ -d /sys/kernel/btf ] && mount -t tmpfs none /sys/kernel/btf; ${diag(['syscount', '--backend', 'bpf', '--json', '--', 'diag-workload', 'getppid', '1000'])}; rc=$?; umount /sys/kernel/btf 2>/dev/null; exit $rc`,
    },
    ...matrix,
    // With debugfs mounted, tracefs is also at /sys/kernel/debug/tracing (on 4.9, as on Debian 9
    // where debugfs is mounted at boot): diag finds and uses it, mounting nothing of its own.
    {
      id: 'debugfs-tracing',
      command: `mount -t debugfs d /sys/kernel/debug && ls /sys/kernel/debug/tracing > /dev/null && ${diag(['syscount', '--backend', 'ftrace', '--json', '--', 'sh', '-c', 'grep -c diag- /proc/mounts > /tmp/mounts-during; exec diag-workload getppid 1000'])}; rc=$?; echo "mounts-during=$(cat /tmp/mounts-during)" >&2; umount /sys/kernel/debug/tracing; umount /sys/kernel/debug; exit $rc`,
    },
    // Two diag processes at once: private instances let both count.
    {
      id: 'together',
      command: `${diag(['syscount', '--backend', 'ftrace', '--json', '--', 'diag-workload', 'getppid', '1000'])} > /tmp/a & ${diag(['syscount', '--backend', 'ftrace', '--json', '--', 'diag-workload', 'getppid', '1000'])} > /tmp/b; wait; cat /tmp/a; echo @@; cat /tmp/b`,
    },
    // The function profiler has no instance: a second diag must get the busy error, not share it.
    {
      id: 'profiler-busy',
      // The second starts once the first says it is tracing (its ready line), not after a guess; or
      // at once when the first has exited (a kernel without the profiler), not a minute later.
      command: `${diag(['funccount', 'vfs_rea*', '--backend', 'ftrace-profiler', '--duration', '60'])} > /dev/null 2> /tmp/first & first=$!; for i in $(seq 120); do grep -q 'Hit Ctrl-C' /tmp/first && break; kill -0 $first 2> /dev/null || break; sleep 0.5; done; ${diag(['funcprofile', 'vfs_rea*', '--duration', '1', '--json'])}; echo "exit=$?"; kill -INT $first; wait`,
    },
    // A diag killed with SIGKILL mid-run leaves its instance (and triggers): diag reset removes all.
    {
      id: 'killed',
      command: `diag syscount --backend ftrace > /tmp/k 2>&1 & for i in $(seq 60); do grep -q Hit /tmp/k && break; sleep 1; done; kill -9 $!; sleep 1; ls /sys/kernel/debug; diag reset --json`,
    },
    // A function name from another kernel: refused with the names this one has.
    {id: 'other-names', command: diag(['funccount', 'SyS_getppid', '--duration', '1'])},
    ...HIST_TABLE_CASES,
    ...calibration,
    // BPF events streamed to user space (backends/bpf/event-buffer.ts): the perf buffer on every
    // kernel with BPF tracepoints, the ring buffer from 5.8.
    ...(['perf', 'ring'] as const).map((kind) => ({id: `events-${kind}`, command: `DIAG_WORKLOAD=/diag/lab-bin/diag-workload node /diag/bench/event-consumer.mjs ${kind} ${EVENTS} 0`})),
    // The built-in first look, on whatever backends this kernel has.
    {id: 'runbook', command: 'diag runbook run first-look --set duration=2 --ci --json'},
    stateAfter,
  ]
}

// A whole boot's limit, a backstop: a stopped machine is caught sooner by its silent console, a
// hung case by the guest's watchdog (lab.ts). A kernel took 13 minutes on average in CI, one after
// another; two boots at once beside other work on 2 cores took up to 24 (debian-6.1): hence the room.
const BOOT_TIMEOUT_MS = 2_400_000
// Every kernel's boot starts with the first kernel's tests, two at a time (DIAG_LAB_CONCURRENCY,
// lab.ts), and each kernel's tests wait for their own boot: the lab takes about two kernels' time.
let boots: Map<string, Promise<LabBoot>> | undefined
const bootOf = (kernel: LabKernel): Promise<LabBoot> => {
  boots ??= startLabBoots(
    Object.values(LAB_KERNELS)
      .filter((k) => !labUnavailable(k))
      .map((k) => ({kernel: k, cases: cases(k.name), options: {timeoutMs: BOOT_TIMEOUT_MS}})),
  )
  return boots.get(kernel.name)!
}

describe.each(Object.values(LAB_KERNELS))('the kernel lab: $name', (kernel) => {
  const missing = labUnavailable(kernel)
  const config = labConfig(kernel)
  let env: MatrixEnv = {...ENV, name: kernel.name}
  const rows: MatrixRow[] = []
  let boot: LabBoot
  let report: CapabilitiesReport

  beforeAll(async () => {
    if (missing) return
    boot = await bootOf(kernel)
    // How long each case took, for whoever wonders why the lab is slow.
    if (process.env.DIAG_LAB_TIMES) {
      console.log(`${kernel.name} boot ${boot.seconds.toFixed(0)} s in all`)
      for (const [id, r] of boot.results) console.log(`${kernel.name} ${id} ${r.seconds.toFixed(1)} s exit ${r.exitCode}`)
    }
    const run = boot.results.get('capabilities')
    expect(run?.exitCode, `${run?.stderr}\n${boot.console.slice(-3000)}`).toBe(0)
    report = JSON.parse(run!.stdout)
    env = {...env, getppidPattern: boot.results.get('getppid-pattern')!.stdout.trim(), tcpPort: boot.results.get('tcp-server')!.stdout.trim()}
    // A stalled boot is booted again (lab.ts); a boot waiting for a slot began when an earlier
    // kernel's ended, before this hook: the hook waits for at most two tries and the base image.
  }, 2 * BOOT_TIMEOUT_MS + 300_000)

  afterAll(() => recordRows(rows, kernel.name))

  const labIt = (name: string, fn: () => void) => it.skipIf(missing)(missing ? `${name} (skipped: ${missing})` : name, fn)
  // A check of a case that DIAG_LAB_TOOLS leaves out of the boot.
  const wholeLabIt = (name: string, fn: () => void) => (FOCUS ? it.skip(`${name} (skipped: DIAG_LAB_TOOLS)`, fn) : labIt(name, fn))

  labIt('reports what its config says it has', () => {
    expect(schemaErrors('capabilities', report)).toBe('')
    expect(report.host.kernel?.release).toBe(boot.release)
    const byName = new Map(report.capabilities.map((c) => [c.name, c]))
    const expectations: [string, boolean][] = [
      ...expectedFromConfig(config),
      // Nothing refuses the function tracer or fentry in the lab, unlike on the development host.
      ['function-tracer', configured(config, 'FUNCTION_TRACER', 'DYNAMIC_FTRACE')],
      ['bpf-fentry', configured(config, 'BPF_SYSCALL', 'BPF_JIT', 'DEBUG_INFO_BTF', 'DYNAMIC_FTRACE_WITH_DIRECT_CALLS')],
      ['bpf-tp-btf', configured(config, 'BPF_SYSCALL', 'BPF_EVENTS', 'DEBUG_INFO_BTF')],
      ['ftrace-instances', true],
    ]
    for (const [name, expected] of expectations) {
      const result = byName.get(name)!
      expect(result.status, `${name}: ${result.detail}`).toBe(expected ? 'available' : 'unavailable')
      expect(['probe', 'file'], `${name} must rest on a probe or a file: ${result.evidence}`).toContain(result.evidence)
    }
  })

  wholeLabIt('says whether the BPF JIT is on as the config sets it at boot', () => {
    const jit = report.capabilities.find((c) => c.name === 'bpf-jit')!
    const on = configured(config, 'BPF_JIT') && (configured(config, 'BPF_JIT_DEFAULT_ON') || configured(config, 'BPF_JIT_ALWAYS_ON'))
    expect(jit.status, jit.detail).toBe(on ? 'available' : 'unavailable')
    // Without CONFIG_BPF_JIT there is no sysctl file to read: the config is the evidence.
    expect(jit.evidence).toBe(configured(config, 'BPF_JIT') ? 'file' : 'config')
  })

  wholeLabIt('runs the first-look runbook on the backends this kernel routes to, and skips the rest', () => {
    const run = boot.results.get('runbook')!
    const json = JSON.parse(run.stdout) as RunbookReport
    // A step runs on a candidate the report calls usable (the first, unless its flags or pattern
    // pass that one over: funccount 'vfs_*' matches more functions than a BPF object has programs).
    const usable = new Map(report.tools.map((t) => [t.tool, t.candidates.filter((c) => c.usable).map((c) => c.id)]))
    for (const step of json.steps) {
      if (usable.get(step.tool)?.length) {
        expect(step.status, `${step.name}: ${step.reason}`).toBe('ran')
        expect(usable.get(step.tool)).toContain(step.backend?.candidate)
      } else expect(step.status, `${step.name}: ${step.reason}`).toBe('skipped')
    }
    const skipped = json.steps.some((s) => s.status !== 'ran')
    const failed = json.steps.some((s) => s.checks.some((c) => c.severity === 'fail' && c.status === 'fail'))
    expect(run.exitCode, run.stderr).toBe(failed ? RUNBOOK_EXIT.checkFailed : skipped ? RUNBOOK_EXIT.incomplete : 0)
  })

  wholeLabIt('answers a function name of another kernel with the names this one has', () => {
    const run = boot.results.get('other-names')!
    expect(run.exitCode, run.stderr).toBe(2)
    const suggested = /did you mean (?:one of )?(.*)\?$/m.exec(run.stderr)?.[1].split(', ')
    expect(suggested, run.stderr).toBeDefined()
    // Since 4.17 x86 kernels trace the syscall body (__do_sys_getppid); before, sys_getppid itself.
    const [major, minor] = boot.release.split('.').map(Number)
    expect(suggested).toContain(major > 4 || (major === 4 && minor >= 17) ? '__do_sys_getppid' : 'sys_getppid')
    for (const name of suggested!) expect(name).toMatch(/sys_getppid$/)
  })

  wholeLabIt('counts syscalls through BPF with BTF hidden, where it has BPF', () => {
    const run = boot.results.get('no-btf')!
    if (!configured(config, 'BPF_SYSCALL', 'BPF_EVENTS')) return void expect(run.exitCode).toBe(3)
    expect(run.exitCode, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout) as ToolResult
    const rows = result.intervals.flatMap((i) => (i.data as {rows: {key: string; count: number}[]}).rows)
    expect(rows.find((r) => r.key === 'getppid')?.count).toBeGreaterThanOrEqual(1000)
  })

  const truths = capabilityTruths(config, {'perf-tool': labHasPerf})
  MATRIX.forEach((c, i) => {
    if (!inFocus(c.tool)) return
    labIt(`${c.tool} on ${c.candidate}`, () => {
      const tool = TOOLS.find((t) => t.name === c.tool)!
      const candidates = c.candidate === 'default' ? tool.candidates.filter((x) => !c.passesOver?.includes(x.id)) : tool.candidates.filter((x) => x.id === c.candidate)
      const first = candidates.findIndex((x) => expectUsable(x.needs, truths))
      const run = boot.results.get(`matrix-${i}`)!
      const row = judge(c, env, run.exitCode, run.stdout)
      rows.push(row)
      if (first >= 0) {
        expect(row.outcome, `${row.detail}\n${run.stderr}`).toBe('right')
        expect(row.ran).toBe(candidates[first].id)
      } else {
        expect(row.outcome, `${row.detail}\n${run.stderr}`).toBe('not supported')
      }
    })
  })

  // tcp_sock's offsets hold until the next boot: the first run that needs them calibrates, every
  // later one (the matrix runs several on the candidates that need them) takes them from the cache.
  const calibrationIt = (name: string, fn: () => void) => (CALIBRATING_TOOLS.some(inFocus) ? labIt(name, fn) : it.skip(`${name} (skipped: DIAG_LAB_TOOLS)`, fn))
  calibrationIt('calibrates tcp_sock for the first tcprtt or tcplife run that needs it, and for no other', () => {
    const attaches = MATRIX.flatMap((c, i) => (inFocus(c.tool) && CALIBRATING_TOOLS.includes(c.tool) ? [attachOf(boot.results.get(`matrix-${i}`)!.stdout)] : []))
    const calibrated = attaches.filter((a): a is string => a?.includes(CALIBRATED) ?? false)
    const fresh = calibrated.filter((a) => !a.includes('cached'))
    console.log(`${kernel.name}: ${calibrated.length} runs read calibrated offsets, ${fresh.length} calibrated`)
    // The first that read them calibrated; none after it (none at all: no run could calibrate here).
    expect(fresh, calibrated.join('\n')).toEqual(calibrated.slice(0, 1))
  })

  calibrationIt("times tcp_sock's calibration against the offsets from the cache, where it has BPF kprobes", () => {
    const run = boot.results.get(TCP_CALIBRATION.id)!
    if (!expectUsable(CALIBRATION_NEEDS, truths)) return void expect(run.exitCode, run.stdout).not.toBe(0)
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0)
    type Call = {ms: number; cached: boolean; offsets: Record<string, number>}
    const {calibrated, fromCache} = JSON.parse(run.stdout) as {calibrated: Call; fromCache: Call}
    expect(calibrated.cached).toBe(false)
    expect(fromCache).toEqual({ms: fromCache.ms, cached: true, offsets: calibrated.offsets})
    console.log(`${kernel.name}: tcp_sock calibrated in ${calibrated.ms} ms, from the cache in ${fromCache.ms} ms`)
  })

  // The probe's word is checked against the real programs: a candidate it calls usable must load,
  // attach and answer right, so a probe that misses what an object needs fails here.
  labIt('runs every candidate the probe says is usable, and gets the right answer', () => {
    const usable = new Set(report.tools.flatMap((t) => t.candidates.filter((c) => c.usable).map((c) => `${t.tool}/${c.id}`)))
    const failures = MATRIX.flatMap((c, i) => {
      if (c.candidate === 'default' || !inFocus(c.tool) || !usable.has(`${c.tool}/${c.candidate}`)) return []
      const run = boot.results.get(`matrix-${i}`)!
      const row = judge(c, env, run.exitCode, run.stdout)
      return row.outcome === 'right' ? [] : [`${c.tool}/${c.candidate}: ${row.outcome}: ${row.detail}`]
    })
    expect(failures).toEqual([])
  })

  wholeLabIt('uses tracefs where debugfs shows it, and mounts no tracefs of its own', () => {
    const run = boot.results.get('debugfs-tracing')!
    expect(run.exitCode, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout) as ToolResult
    const rows = result.intervals.flatMap((i) => (i.data as {rows: {key: string; count: number}[]}).rows)
    expect(rows.find((r) => r.key === 'getppid')?.count).toBeGreaterThanOrEqual(1000)
    // The traced command counted diag's private mounts while it ran.
    expect(run.stderr).toContain('mounts-during=0')
  })

  wholeLabIt('lets two diag processes trace at once', () => {
    const run = boot.results.get('together')!
    expect(run.exitCode, run.stderr).toBe(0)
    const [a, b] = run.stdout.split('@@').map((text) => JSON.parse(text) as ToolResult)
    for (const result of [a, b]) {
      const rows = result.intervals.flatMap((i) => (i.data as {rows: {key: string; count: number}[]}).rows)
      expect(rows.find((r) => r.key === 'getppid')?.count).toBeGreaterThanOrEqual(1000)
    }
  })

  wholeLabIt('refuses a second user of the function profiler with the busy error', () => {
    const run = boot.results.get('profiler-busy')!
    if (!configured(config, 'FUNCTION_PROFILER')) return
    expect(run.stdout, run.stderr).toMatch(/exit=5/)
    expect(JSON.parse(run.stdout.slice(0, run.stdout.lastIndexOf('exit=')))).toMatchObject({error: {kind: 'busy', exitCode: 5}})
  })

  wholeLabIt('cleans up after a diag killed with SIGKILL, with diag reset', () => {
    const run = boot.results.get('killed')!
    expect(run.exitCode, run.stderr).toBe(0)
    const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as ResetReport
    expect(report.actions.map((a) => a.kind)).toContain('instance')
    for (const action of report.actions) expect(action.outcome).toBe('removed')
  })

  wholeLabIt(`biolatency on hist triggers counts ${HIST_REQUESTS} direct writes, or reports the difference as lost`, () => {
    const run = boot.results.get('hist-biolatency-5000')!
    if (!configured(config, 'HIST_TRIGGERS', 'SYNTH_EVENTS')) return void expect(run.exitCode).toBe(3)
    expect(run.exitCode, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout) as ToolResult
    const counted = result.intervals
      .flatMap((i) => (i.data as {histograms: {label: string | null; count: number}[]}).histograms)
      .filter((h) => h.label === 'vda')
      .reduce((sum, h) => sum + h.count, 0)
    expect(counted + result.lost!).toBe(HIST_REQUESTS)
    expect(counted).toBe(HIST_REQUESTS)
  })

  // What the kernel has is read from its config and release, not from diag's probe.
  wholeLabIt(`streams ${EVENTS} BPF events through a perf buffer, and a ring buffer from 5.8: received + lost == emitted`, () => {
    const [major, minor] = boot.release.split('.').map(Number)
    const bpf = configured(config, 'BPF_SYSCALL', 'BPF_EVENTS')
    for (const [kind, has] of [['perf', bpf], ['ring', bpf && (major > 5 || (major === 5 && minor >= 8))]] as const) {
      const run = boot.results.get(`events-${kind}`)!
      if (!has) {
        expect(run.exitCode, `${kind}: ${run.stdout}`).not.toBe(0)
        continue
      }
      expect(run.exitCode, `${kind}: ${run.stderr}`).toBe(0)
      const result = JSON.parse(run.stdout) as {kind: string; received: number; lost: number; foreign: number; leftOpen: string[]}
      expect(result).toMatchObject({kind, foreign: 0, leftOpen: []})
      expect(result.received + result.lost, kind).toBe(EVENTS)
    }
  })

  labIt('leaves tracing as it found it: no mount, instance, probe event, trigger or tracer', () => {
    const state = boot.results.get('state-after')!
    expect(state.stdout.split('\n').map((l) => l.trimEnd())).toEqual([
      '0',
      'instances:',
      'kprobes:',
      'uprobes:',
      'synthetic:',
      'tracer: nop',
      'events:',
      'filter:',
      configured(config, 'FUNCTION_PROFILER') ? 'profiler: 0' : 'profiler:',
      '',
    ])
  })
})
