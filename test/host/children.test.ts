import {chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {CapabilitiesReport} from '../../src/plan/report.js'
import type {ResetReport} from '../../src/reset.js'
import type {Counts, ToolResult} from '../../src/result/model.js'
import {isEnding, ownedProcesses} from '../../src/system/child.js'
import {isRunning} from '../../src/tracefs/names.js'
import {BIN, diag, diagJson, startDiag, tracingStarted} from '../helpers/cli.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {WORKLOAD, workloadBuilt} from '../helpers/workload.js'

// syscount's candidates on every backend; each test runs where the host can, and says why not.
const SYSCOUNT = ['bpf-tp-btf', 'bpf-tracepoint', 'ftrace-hist', 'perf-stat', 'ftrace-stream']
// perf stat counts by syscall only.
const BY_WHO = SYSCOUNT.filter((c) => c !== 'perf-stat')
// A few syscalls of the loader, the exit, or a thread's start may come on top of a loop's own.
const HANDFUL = 5
// The uid Debian gives nobody.
const NOBODY = 65534

function rows(result: ToolResult): Counts['rows'] {
  const total = new Map<string, number>()
  for (const interval of result.intervals) for (const row of (interval.data as Counts).rows) total.set(row.key, (total.get(row.key) ?? 0) + row.count)
  return [...total].map(([key, count]) => ({key, count}))
}

const count = (result: ToolResult, key: string) => rows(result).find((r) => r.key === key)?.count ?? 0

/** Every process whose parent is pid, with their children, as /proc has them now. */
function descendants(pid: number): number[] {
  const found: number[] = []
  for (const task of readdirSync(`/proc/${pid}/task`, {withFileTypes: false}).map(String)) {
    let children: string
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
    } catch {
      continue
    }
    for (const child of children.split(/\s+/).filter(Boolean).map(Number)) found.push(child, ...descendants(child))
  }
  return found
}

/** How many files a process has open; 0 once the kernel has taken its file table in its exit. */
function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return 0
  }
}

/** perf processes in the kernel's exit: killed, their counters still being closed. */
function closingPerfs(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'perf' && isEnding(pid)
      } catch {
        return false
      }
    })
}

async function gone(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs
  let left = pids.filter(isRunning)
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    left = left.filter(isRunning)
  }
  return left
}

describe.skipIf(!isRoot || !workloadBuilt)('what diag starts, and what it counts of a traced command (needs root)', () => {
  let before: KernelState
  let usable: Map<string, string | undefined>

  beforeAll(async () => {
    before = await kernelState()
    const report = (await diagJson<CapabilitiesReport>(['capabilities'])).json
    const route = report.tools.find((t) => t.tool === 'syscount')!
    usable = new Map(route.candidates.map((c) => [c.id, c.usable ? undefined : c.reasons.join('; ')]))
  })

  afterAll(async () => {
    expect(ownedProcesses().filter((p) => !p.ownerRunning && !p.ending)).toEqual([])
    expect(await kernelState()).toEqual(before)
  })

  const unusable = (candidate: string) => usable.get(candidate) && `this host cannot run ${candidate}: ${usable.get(candidate)}`

  // diag's old gate, a /bin/sh, added dup2, close x3 and fcntl x2 of its own after the release.
  it.for(SYSCOUNT)("syscount on %s counts a traced command's own syscalls exactly, from its execve", async (candidate, context) => {
    const why = unusable(candidate)
    if (why) return context.skip(why)
    const n = 1000
    const run = await diagJson<ToolResult>(['syscount', '--backend', candidate, '--', WORKLOAD, 'calls', String(n)])
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.json.backend.candidate).toBe(candidate)
    // The gate's own calls before the release (rt_sigaction, prctl, getppid, the read it waits in) are not the command's.
    const calls = ['execve', 'getppid', 'getpid', 'getuid', 'getgid', 'dup2', 'close', 'fcntl', 'rt_sigaction', 'prctl', 'read']
    const counted = Object.fromEntries(calls.map((name) => [name, count(run.json, name)]))
    expect(counted).toEqual({execve: 1, getppid: n, getpid: 2 * n, getuid: 3 * n, getgid: 4 * n, dup2: 0, close: 0, fcntl: 0, rt_sigaction: 0, prctl: 0, read: 0})
  })

  it.for(BY_WHO)('syscount on %s: --by process is the thread group, --by thread each thread', async (candidate, context) => {
    const why = unusable(candidate)
    if (why) return context.skip(why)
    const threads = 4
    const n = 5000
    const command = ['--', WORKLOAD, 'threads', String(threads), String(n)]
    if (candidate === 'ftrace-hist') {
      // A hist key has the thread but no thread group: by process is refused, not guessed.
      expect((await diag(['syscount', '--backend', candidate, '--by', 'process', ...command])).exitCode).toBe(2)
    } else {
      const byProcess = await diagJson<ToolResult>(['syscount', '--backend', candidate, '--by', 'process', ...command])
      expect(byProcess.exitCode, byProcess.stderr).toBe(0)
      // One process: the command, with its threads' calls and its own few.
      const processes = rows(byProcess.json)
      expect(processes, JSON.stringify(processes)).toHaveLength(1)
      expect(processes[0].key).toMatch(/^diag-workload \[\d+\]$/)
      expect(processes[0].count).toBeGreaterThanOrEqual(threads * n)
    }

    const byThread = await diagJson<ToolResult>(['syscount', '--backend', candidate, '--by', 'thread', ...command])
    expect(byThread.exitCode, byThread.stderr).toBe(0)
    const perThread = rows(byThread.json)
    // The main thread and the four workers, each worker with its own n getppid.
    expect(perThread, JSON.stringify(perThread)).toHaveLength(threads + 1)
    const workers = perThread.filter((r) => r.count >= n)
    expect(workers, JSON.stringify(perThread)).toHaveLength(threads)
    for (const worker of workers) expect(worker.count).toBeLessThanOrEqual(n + 2 * HANDFUL)
  })

  it('syscount on perf-stat refuses --by process and --by thread before touching the kernel', async () => {
    for (const by of ['process', 'thread']) {
      const run = await diag(['syscount', '--backend', 'perf-stat', '--by', by, '-d', '1'])
      expect(run.exitCode, run.stderr).toBe(2)
    }
  })

  describe('perf stat', () => {
    it('leaves no tracefs mounted where there was none: the one perf mounts ends with it', async (context) => {
      const why = unusable('perf-stat')
      if (why) return context.skip(why)
      // A mount namespace of the test's own with no tracefs (nor debugfs, whose tracing/ would
      // automount one). perf mounts tracefs where it finds none; under diag it finds diag's own
      // private view in the mount table and uses it, so nothing is left when both are gone.
      const script = [
        'umount /sys/kernel/debug/tracing 2>/dev/null; umount /sys/kernel/debug 2>/dev/null; umount /sys/kernel/tracing 2>/dev/null',
        'before=$(grep -c " tracefs " /proc/self/mounts)',
        `node ${JSON.stringify(BIN)} syscount --backend perf-stat --syscall getppid --duration 1 --quiet --json > /dev/null; rc=$?`,
        'echo "rc=$rc before=$before after=$(grep -c " tracefs " /proc/self/mounts)"',
      ].join('\n')
      const run = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {reject: false})
      expect(run.stdout, run.stderr).toBe('rc=0 before=0 after=0')
    })

    it('stops counting within a second of the duration, and seconds is the traced time', async (context) => {
      const why = unusable('perf-stat')
      if (why) return context.skip(why)
      const tracer = startDiag(['syscount', '--backend', 'perf-stat', '--duration', '2'])
      let started = 0
      let printed = 0
      let output = ''
      tracer.stdout!.on('data', (chunk: Buffer) => {
        output += chunk
        if (!started && output.includes('syscount: perf backend')) started = Date.now()
        if (!printed && output.includes('SYSCALL')) printed = Date.now()
      })
      const run = await tracer
      expect(run.exitCode, String(run.stderr)).toBe(0)
      expect(started).toBeGreaterThan(0)
      // The table comes out when counting stops: the duration, and less than a second more.
      expect(printed - started).toBeLessThan(3000)
      expect(printed - started).toBeGreaterThanOrEqual(2000)
    })

    // perf following a process may see it gone at its tick before it reads diag's disable: it then
    // prints its last counts and exits, and diag must not wait out its limit for a reply.
    it('--pid counts a running process to its exit, and returns soon after it', async (context) => {
      const why = unusable('perf-stat')
      if (why) return context.skip(why)
      const n = 1000
      // It waits on its stdin until diag says it is tracing (a shell that then execs the workload).
      const workload = execa('sh', ['-c', `read -r _; exec ${WORKLOAD} calls ${n}`], {stdin: 'pipe'})
      const tracer = startDiag(['syscount', '--backend', 'perf-stat', '--json', '--pid', String(workload.pid)])
      await tracingStarted(tracer, 'Hit Ctrl-C')
      workload.stdin!.end('\n')
      await workload
      const exited = Date.now()
      const run = await tracer
      const took = Date.now() - exited
      expect(run.exitCode, String(run.stderr)).toBe(0)
      const json = JSON.parse(String(run.stdout)) as ToolResult
      const counted = Object.fromEntries(['getppid', 'getpid', 'getuid', 'getgid'].map((name) => [name, count(json, name)]))
      // The shell's few calls between its read and its exec may add to them.
      for (const [name, times] of Object.entries({getppid: 1, getpid: 2, getuid: 3, getgid: 4})) {
        expect(counted[name], name).toBeGreaterThanOrEqual(times * n)
        expect(counted[name], name).toBeLessThanOrEqual(times * n + 5)
      }
      // Its exit seen within 100 ms, perf's last tick within 500: well under perf's 3 s limit.
      expect(took).toBeLessThan(2000)
    })

    it('reports the traced time as seconds, not the time perf takes to set up or close', async (context) => {
      const why = unusable('perf-stat')
      if (why) return context.skip(why)
      const run = await diagJson<ToolResult>(['syscount', '--backend', 'perf-stat', '--duration', '2'])
      expect(run.exitCode, run.stderr).toBe(0)
      expect(run.json.seconds).toBeGreaterThanOrEqual(2)
      expect(run.json.seconds).toBeLessThan(2.5)
      expect(run.json.intervals).toHaveLength(1)
      expect(run.json.intervals[0].seconds).toBeLessThan(2.5)
    })

    it('stops counting within a second of SIGINT, and exits within a second too', async (context) => {
      const why = unusable('perf-stat')
      if (why) return context.skip(why)
      const tracer = startDiag(['syscount', '--backend', 'perf-stat'])
      await tracingStarted(tracer, 'Hit Ctrl-C')
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const signalled = Date.now()
      let printed = 0
      let exited = 0
      tracer.stdout!.on('data', (chunk: Buffer) => {
        if (!printed && String(chunk).includes('SYSCALL')) printed = Date.now()
      })
      tracer.on('exit', () => (exited = Date.now()))
      tracer.kill('SIGINT')
      const run = await tracer
      expect(run.exitCode, String(run.stderr)).toBe(0)
      expect(printed).toBeGreaterThan(0)
      expect(printed - signalled).toBeLessThan(1000)
      // Not held up by the kernel closing perf's ~360 x CPUs counters (seconds): a second, and
      // a little for node to exit.
      expect(exited - signalled).toBeLessThan(1500)
    })

    it('-d 2 over every syscall returns in under 4 s, with its 2 s counted', async (context) => {
      const why = unusable('perf-stat')
      if (why) return context.skip(why)
      // Opening counters waits on the kernel's event_mutex, which the closing of the tests before
      // holds for a grace period at a time: timed from a quiet kernel (a run beside a closing
      // perf is the test after next).
      expect(await gone(closingPerfs(), 30_000)).toEqual([])
      const start = Date.now()
      const run = await diagJson<ToolResult>(['syscount', '--backend', 'perf-stat', '-d', '2'])
      const took = Date.now() - start
      expect(run.exitCode, run.stderr).toBe(0)
      expect(run.json.backend.attach).toContain('syscalls:sys_enter_*')
      expect(run.json.seconds).toBeGreaterThanOrEqual(2)
      expect(took).toBeLessThan(4000)
    })

    // Closing ~360 tracepoint counters takes the kernel seconds (a grace period each): diag
    // returns with its result first, and the kernel finishes closing after it has gone.
    it('returns once the last counts are read: its perf was killed then, and the kernel is still closing its counters after diag exits', async (context) => {
      const why = unusable('perf-stat')
      if (why) return context.skip(why)
      const tracer = startDiag(['syscount', '--backend', 'perf-stat', '--duration', '1', '--json'])
      await tracingStarted(tracer, 'Hit Ctrl-C')
      const started = descendants(tracer.pid!)
      expect(started.length).toBeGreaterThan(0)
      const run = await tracer
      expect(run.exitCode, String(run.stderr)).toBe(0)
      expect((JSON.parse(String(run.stdout)) as ToolResult).intervals).toHaveLength(1)
      // At diag's exit its perf no longer counts nor runs code of its own: it is in the kernel's
      // exit (or gone), its file table (the counters' fds) already let go, and the kernel still
      // closing the counters.
      expect(started.filter((pid) => !isEnding(pid))).toEqual([])
      const closing = started.filter((pid) => existsSync(`/proc/${pid}`))
      expect(closing.length).toBeGreaterThan(0)
      for (const pid of closing) expect(openFds(pid)).toBe(0)
      expect(await gone(started, 30_000)).toEqual([])
    })

    it('runs and counts right while the perf of the run before is still closing its counters', async (context) => {
      const why = unusable('perf-stat')
      if (why) return context.skip(why)
      const first = startDiag(['syscount', '--backend', 'perf-stat', '--duration', '1', '--json'])
      await tracingStarted(first, 'Hit Ctrl-C')
      const earlier = descendants(first.pid!)
      expect((await first).exitCode).toBe(0)
      expect(earlier.filter((pid) => existsSync(`/proc/${pid}`)).length).toBeGreaterThan(0)
      const n = 1000
      const run = await diagJson<ToolResult>(['syscount', '--backend', 'perf-stat', '--', WORKLOAD, 'calls', String(n)])
      expect(run.exitCode, run.stderr).toBe(0)
      const counted = Object.fromEntries(['execve', 'getppid', 'getpid', 'getuid', 'getgid'].map((name) => [name, count(run.json, name)]))
      expect(counted).toEqual({execve: 1, getppid: n, getpid: 2 * n, getuid: 3 * n, getgid: 4 * n})
      expect(await gone(earlier, 30_000)).toEqual([])
    })

    it('diag reset right after kill -9 leaves the killed perf to the kernel closing its counters: no failure, no long wait', async (context) => {
      const why = unusable('perf-stat')
      if (why) return context.skip(why)
      const tracer = startDiag(['syscount', '--backend', 'perf-stat'])
      await tracingStarted(tracer, 'Hit Ctrl-C')
      const started = descendants(tracer.pid!)
      tracer.kill('SIGKILL')
      await tracer
      const start = Date.now()
      const reset = await diagJson<ResetReport>(['reset'])
      const took = Date.now() - start
      expect(reset.exitCode, reset.stderr).toBe(0)
      expect(reset.json.actions.filter((a) => a.outcome.startsWith('failed'))).toEqual([])
      // The kernel was still closing the counters when reset returned: reset did not wait for it.
      expect(started.filter((pid) => existsSync(`/proc/${pid}`)).length).toBeGreaterThan(0)
      expect(started.filter((pid) => !isEnding(pid))).toEqual([])
      expect(took).toBeLessThan(8000)
      expect(await gone(started, 30_000)).toEqual([])
    })

    it('with --syscall opens only those tracepoints, and returns in under 4 s', async (context) => {
      const why = unusable('perf-stat')
      if (why) return context.skip(why)
      expect(await gone(closingPerfs(), 30_000)).toEqual([])
      const start = Date.now()
      const run = await diagJson<ToolResult>(['syscount', '--backend', 'perf-stat', '--syscall', 'getppid', '--duration', '2'])
      expect(run.exitCode, run.stderr).toBe(0)
      expect(Date.now() - start).toBeLessThan(4000)
      expect(run.json.backend.attach).toContain('syscalls:sys_enter_getppid')
    })
  })

  // The kernel clears a parent-death signal when an exec changes the credentials, so a setuid
  // command would outlive a diag killed with SIGKILL if it relied on its own.
  it('after kill -9 of diag, a traced setuid command dies with it too', async (context) => {
    const candidate = SYSCOUNT.find((c) => !unusable(c))
    if (!candidate) return context.skip('this host can run no syscount candidate')
    const dir = mkdtempSync(path.join(tmpdir(), 'diag-setuid-'))
    try {
      // /bin/sleep, setuid to nobody: run by root, its effective uid changes at the exec.
      const sleeper = path.join(dir, 'setuid-sleep')
      copyFileSync('/bin/sleep', sleeper)
      chownSync(sleeper, NOBODY, NOBODY)
      chmodSync(sleeper, 0o4755)
      const tracer = startDiag(['syscount', '--backend', candidate, '--', sleeper, '300'])
      await tracingStarted(tracer, 'syscount: ')
      // The command execs once diag has released it, just after the ready line.
      let command: number | undefined
      for (let tries = 0; command === undefined && tries < 50; tries++) {
        command = descendants(tracer.pid!).find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'setuid-sleep')
        if (command === undefined) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(command, 'the setuid command never started').toBeDefined()
      expect(readFileSync(`/proc/${command}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+0\\s+${NOBODY}\\s`, 'm'))
      tracer.kill('SIGKILL')
      // Not `await tracer` first: a surviving command would hold diag's output open.
      const left = await gone([command!], 5000)
      for (const pid of left) process.kill(pid, 'SIGKILL')
      await tracer
      expect(left).toEqual([])
      expect((await diag(['reset'])).exitCode).toBe(0)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  // After kill -9, what diag started dies with it (the parent-death signal), and diag reset
  // leaves nothing: no process, instance, event or BPF program.
  it.for(SYSCOUNT)('after kill -9 of diag syscount on %s, nothing of it is left once diag reset ran', async (candidate, context) => {
    const why = unusable(candidate)
    if (why) return context.skip(why)
    // This test's own before: other helpers' runs between tests are no concern of it.
    const state = await kernelState()
    const tracer = startDiag(['syscount', '--backend', candidate, '--', 'sleep', '300'])
    await tracingStarted(tracer, `syscount: `)
    const started = descendants(tracer.pid!)
    expect(started.length).toBeGreaterThan(0)
    tracer.kill('SIGKILL')
    await tracer
    const reset = await diagJson<ResetReport>(['reset'])
    expect(reset.exitCode, reset.stderr).toBe(0)
    // A perf the parent-death signal killed is ending (in the kernel's exit) if reset sees it at all.
    for (const action of reset.json.actions) expect(action).toMatchObject({pid: tracer.pid, outcome: expect.stringMatching(/^(removed|ending)$/)})
    // perf closes its counters as it dies; the kernel takes a grace period for each.
    expect(await gone(started, 30_000)).toEqual([])
    expect(ownedProcesses().filter((p) => p.ownerPid === tracer.pid)).toEqual([])
    expect(await kernelState()).toEqual(state)
  })
})
