import {existsSync, readFileSync, readdirSync} from 'node:fs'
import path from 'node:path'

import {type Options, type ResultPromise, execa} from 'execa'

import {BackendError} from '../errors.js'
import {checkCommand, findExecutable} from './executable.js'
import {packageRoot} from './paths.js'

// checkCommand lives in executable.ts, without execa, which a tool's start should not load.
export {checkCommand}

/**
 * Every process diag starts goes through `diag-gate` (native/diag-gate.c), which asks the kernel
 * to SIGKILL it when diag dies (PR_SET_PDEATHSIG; the exec keeps it) and then execs the real
 * program. The signal follows the death of the thread that forked, so diag spawns only from its
 * main thread (execa and libuv do), which lives as long as the process. The helpers diag runs
 * (perf) also carry DIAG_OWNER=<pid>.<start time> in their environment: `diag reset` ends one
 * whose diag is gone (should the signal ever be missed), recognising it by that mark, never by
 * its name.
 */
export const OWNER_ENV = 'DIAG_OWNER'

const GATE = path.join(packageRoot, 'native', 'build', 'Release', 'diag-gate')

/** A process's start time in clock ticks since boot (field 22 of /proc/PID/stat): with the pid, it names one process. */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

/** PF_EXITING in /proc/PID/stat's flags: the kernel has the task in its exit. */
const PF_EXITING = 0x4

/**
 * Whether a process has stopped for good: gone, a zombie, or killed and in the kernel's exit,
 * where it runs none of its own code again (it may still be closing its files there).
 */
export function isEnding(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[0] === 'Z' || fields[0] === 'X' || (Number(fields[6]) & PF_EXITING) !== 0
  } catch {
    return true
  }
}

/** The DIAG_OWNER value naming this diag process. */
export function ownerMark(pid = process.pid): string {
  return `${pid}.${startTime(pid) ?? 0}`
}

function gate(): string {
  if (!existsSync(GATE)) throw new BackendError(`diag-gate is not built (${GATE}); run npm run build:native`)
  return GATE
}

/** Runs a helper program (perf) that dies with diag and carries diag's mark. */
export function spawnOwned<O extends Options>(file: string, args: string[], options: O): ResultPromise<O> {
  const program = findExecutable(file)
  if (!program) throw new BackendError(`${file} not found on PATH`)
  return execa(gate(), [String(process.pid), program, file, ...args], {
    ...options,
    env: {...options.env, [OWNER_ENV]: ownerMark()},
  }) as unknown as ResultPromise<O>
}

/**
 * A command diag traces (`diag TOOL -- command ...`). The gate forks it held, so that its pid is
 * known, and tracing attached, before it runs a single instruction of its own; release() lets it
 * exec the command, with no other system call in between. When it has exited, `ended` resolves
 * while the gate still keeps it unreaped (its pid still names it, so that perf -p reads its last
 * counts), until reap(). It dies with diag (a SIGKILLed diag takes its command along, as the
 * run's end would have); its environment is left as the user's, without diag's mark.
 */
export interface TracedCommand {
  pid: number
  release(): void
  /** Resolves when the command has exited (it stays unreaped until reap()). */
  ended: Promise<void>
  /** Lets the gate reap the exited command and exit as it did. */
  reap(): void
  /** Resolves with the exit status once the command is reaped. */
  exited: Promise<number | null>
  kill(): void
}

export async function startGatedCommand(argv: string[], options: {stdoutToStderr: boolean}): Promise<TracedCommand> {
  const program = checkCommand(argv)
  const gateProcess = execa(gate(), [String(process.pid), '--hold', program, ...argv], {
    stdio: ['inherit', options.stdoutToStderr ? process.stderr : 'inherit', 'inherit', 'pipe', 'pipe'],
    reject: false,
  })
  const control = gateProcess.stdio[3] as unknown as NodeJS.WritableStream
  const exited = gateProcess.then((result) => result.exitCode ?? null)
  let said = ''
  let onPid: (pid: number) => void
  let onEnd: () => void
  const pid = new Promise<number>((resolve) => (onPid = resolve))
  const ended = new Promise<void>((resolve) => (onEnd = resolve))
  ;(gateProcess.stdio[4] as unknown as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
    said += chunk
    const m = /^pid (\d+)$/m.exec(said)
    if (m) onPid(Number(m[1]))
    if (/^exit$/m.test(said)) onEnd()
  })
  void exited.then(() => onEnd())
  const commandPid = await Promise.race([pid, exited.then(() => undefined)])
  if (commandPid === undefined) throw new BackendError(`diag-gate could not start ${argv[0]}`)
  let reaped = false
  const reap = () => {
    if (reaped) return
    reaped = true
    control.end('r\n')
  }
  return {
    pid: commandPid,
    release: () => control.write('\n'),
    ended,
    reap,
    exited,
    kill: () => {
      try {
        process.kill(commandPid, 'SIGTERM')
      } catch {
        // already gone
      }
      reap()
    },
  }
}

/** A process that carries a diag's mark, and whether that diag still runs. */
export interface OwnedProcess {
  pid: number
  comm: string
  ownerPid: number
  ownerRunning: boolean
  /** Already in the kernel's exit (see isEnding): a killed perf still closing its counters. */
  ending: boolean
}

/** Every process carrying DIAG_OWNER (environments this user can read; all of them as root). */
export function ownedProcesses(): OwnedProcess[] {
  const found: OwnedProcess[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let environ: string
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'latin1')
    } catch {
      continue
    }
    const mark = environ.split('\0').find((v) => v.startsWith(`${OWNER_ENV}=`))
    const m = mark && /^DIAG_OWNER=(\d+)\.(\d+)$/.exec(mark)
    if (!m) continue
    const comm = (() => {
      try {
        return readFileSync(`/proc/${entry}/comm`, 'utf8').trim()
      } catch {
        return '?'
      }
    })()
    const ownerPid = Number(m[1])
    found.push({pid: Number(entry), comm, ownerPid, ownerRunning: startTime(ownerPid) === m[2], ending: isEnding(Number(entry))})
  }
  return found
}
