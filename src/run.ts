import {type Collector, type Runner, isRowStream} from '../backends/runner.js'
import {BackendError, BadInputError, NotSupportedError} from './errors.js'
import {readTaskStates, stateFilter} from './tracefs/task-state.js'
import type {ToolOptions} from './plan/options.js'
import {type CandidateVerdict, forcedCandidates, forcesOneCandidate, noRouteError, route} from './plan/route.js'
import {findTool} from '../tools/index.js'
import {type AnyTool, type Candidate, type OptionFacts, optionRefusals} from './plan/tool.js'
import {probeHost} from './probe/probe.js'
import {type Interval, type PassedOver, RESULT_SCHEMA_VERSION, type Row, type ToolResult} from './result/model.js'
import type {TracedCommand} from './system/child.js'
import {checkCommand} from './system/executable.js'
import {type Clock, systemClock} from './system/clock.js'
import {type HostFiles, NodeFiles} from './system/files.js'
import type {UndoLog} from './system/undo.js'
import {processExit} from './system/watch-process.js'
import {isRunning} from './tracefs/names.js'
import {matchFunctions, readFunctionList} from './tracefs/functions.js'

/** What every tool takes besides its own options. */
export interface SessionOptions {
  /** Seconds to trace; until Ctrl-C (or the command's exit) when absent. */
  duration?: number
  /** Seconds per printed interval; one interval for the whole run when absent. */
  interval?: number
  /** --backend: a backend name or a candidate id. */
  backend?: string
  /** Trace while running this command, and only it where the tool filters by process. */
  command?: string[]
  /** With --json the command's stdout goes to stderr, so that stdout stays JSON. */
  json: boolean
  /** --no-cache: probe anew (and calibrate tcp_sock anew) instead of reusing this boot's cached answers. */
  refreshProbes?: boolean
}

/** The host side of a run: the real one by default, fakes in the unit tests. */
export interface SessionHost {
  probe: typeof probeHost
  /** The candidate's runner: its own loader, a fake in the unit tests. */
  loadRunner: (candidate: Candidate) => Promise<Runner<unknown>>
  files: HostFiles
  /** Whether a process runs (not gone, not a zombie). */
  isRunning: (pid: number) => boolean
  /** Resolves when a running process exits (--pid). */
  processExit: (pid: number, signal: AbortSignal) => Promise<void>
}

const REAL_HOST: SessionHost = {
  probe: probeHost,
  loadRunner: (candidate) => candidate.runner(),
  files: new NodeFiles('/'),
  isRunning,
  processExit,
}

export interface SessionDeps {
  undo: UndoLog
  /** Aborted by SIGINT/SIGTERM: before tracing starts that is an interruption, after it a stop. */
  signal: AbortSignal
  clock?: Clock
  /** Called with each interval as it completes, for text output that streams. */
  onInterval?: (result: ToolResult, index: number) => void
  /** Called once tracing is attached, before any interval: for the header line. */
  onStart?: (result: ToolResult) => void
  /** Called with each batch of rows a rows tool's collector pushes, as they come. */
  onRows?: (result: ToolResult, rows: Row[]) => void
  host?: Partial<SessionHost>
}

export function checkSessionOptions(options: SessionOptions): void {
  for (const name of ['duration', 'interval'] as const) {
    const value = options[name]
    if (value !== undefined && !(Number.isFinite(value) && value > 0))
      throw new BadInputError(`--${name} must be a number of seconds above 0, not ${value}`)
  }
}

/**
 * Everything that needs no kernel, checked before the probe touches it: the session's flags, the
 * --backend name, what the forced candidates can serve, the command after `--` and --pid.
 */
export function checkBeforeProbing(tool: AnyTool, options: ToolOptions, session: SessionOptions, host: Pick<SessionHost, 'isRunning'>): void {
  checkSessionOptions(session)
  const eligible = forcedCandidates(tool, session.backend)
  const refused = eligible.map((c) => ({id: c.id, reasons: optionRefusals(c, options)}))
  if (refused.every((r) => r.reasons.length > 0)) {
    const which = session.backend === undefined ? `${tool.name}` : `${tool.name} --backend ${session.backend}`
    throw new BadInputError(`${which} cannot do this: ${refused.map((r) => `${r.id} ${r.reasons.join('; ')}`).join('; ')}`, {tool: tool.name})
  }
  if (session.command && options.pid !== undefined)
    throw new BadInputError('--pid and a command after -- both say which process to trace; give one')
  if (session.command) checkCommand(session.command)
  if (options.pid !== undefined && !host.isRunning(options.pid)) throw new BadInputError(`--pid ${options.pid}: no such process is running`)
}

/** Start failures that let the next candidate try: the backend could not load or attach here. */
function fallsThrough(error: unknown): boolean {
  return error instanceof BackendError || error instanceof NotSupportedError
}

interface StartFailure {
  candidate: string
  error: Error
}

/** The error when every candidate tried failed to start: the one error, or all of them. */
function startFailuresError(tool: string, failures: StartFailure[]): Error {
  if (failures.length === 1) return failures[0].error
  const lines = failures.map((f) => `  ${f.candidate}: ${f.error.message}`).join('\n')
  const message = `${tool}: every usable candidate failed to start, and each was undone:\n${lines}`
  const details = {tool, failures: failures.map((f) => ({candidate: f.candidate, message: f.error.message}))}
  return failures.every((f) => f.error instanceof NotSupportedError) ? new NotSupportedError(message, details) : new BackendError(message, details)
}

/** Resolves when the first of: the deadline, the command's exit, or the abort signal. */
async function waitFor(clock: Clock, until: number, signal: AbortSignal, exited: Promise<unknown> | undefined): Promise<'tick' | 'exit' | 'stop'> {
  const stop = new AbortController()
  const onAbort = () => stop.abort()
  signal.addEventListener('abort', onAbort, {once: true})
  try {
    const waits: Promise<'tick' | 'exit' | 'stop'>[] = [clock.sleep(until - clock.now(), stop.signal).then(() => (signal.aborted ? 'stop' : 'tick'))]
    if (exited) waits.push(exited.then(() => 'exit'))
    const outcome = await Promise.race(waits)
    stop.abort()
    return outcome
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/**
 * One tool run: check what needs no kernel, probe what the tool's candidates need, route, start
 * the chosen backend (falling through to the next usable one when it fails to load or attach),
 * collect per interval until the duration ends, the traced process exits or a signal stops it.
 * Every kernel change is in deps.undo, which the caller unwinds on every way out.
 */
export async function runTool<Options extends ToolOptions>(toolName: string, options: Options, session: SessionOptions, deps: SessionDeps): Promise<ToolResult> {
  const host: SessionHost = {...REAL_HOST, ...deps.host}
  const tool = findTool(toolName)
  if (!tool) throw new Error(`unknown tool ${toolName}`)
  checkBeforeProbing(tool, options, session, host)
  const clock = deps.clock ?? systemClock
  const needs = new Set(tool.candidates.flatMap((c) => [...c.needs, ...(c.uses ?? [])]))
  // Not a need: BPF runs without the JIT, but the result says when it ran on the interpreter.
  if (tool.candidates.some((c) => c.backend === 'bpf')) needs.add('bpf-jit')
  const probe = await host.probe({only: [...needs], signal: deps.signal, refresh: session.refreshProbes}, deps.undo)

  // The pattern's functions, read once: a pattern that matches nothing is refused with the names
  // the kernel has, and the count decides which candidates can attach to them all.
  const pattern = (options as {pattern?: string}).pattern
  const functionList = pattern === undefined ? undefined : await readFunctionList(host.files, probe.tracefs)
  const functions = functionList && pattern !== undefined ? matchFunctions(functionList, pattern) : undefined
  const facts: OptionFacts = {functions: functions?.length}
  // --state's letters (offcputime), checked against those this kernel reports before anything starts.
  const states = (options as {states?: string[]}).states
  const taskStates = states && probe.tracefs ? await readTaskStates(host.files, probe.tracefs).catch(() => undefined) : undefined
  if (states && taskStates) stateFilter(taskStates, states)

  const decision = route(tool, probe.capabilities, {
    force: session.backend,
    refusals: (c) => optionRefusals(c, options, facts),
  })
  if (!decision.chosen) throw noRouteError(decision)

  let command: TracedCommand | undefined
  if (session.command) {
    // execa loads only for a traced command (system/executable.ts).
    const {startGatedCommand} = await import('./system/child.js')
    command = await startGatedCommand(session.command, {stdoutToStderr: session.json})
    const traced = command
    deps.undo.push('stop the traced command', async () => {
      traced.kill()
      await traced.exited
    })
  }
  deps.signal.throwIfAborted()

  // The chosen candidate, then the next usable ones it may fall through to. A candidate named
  // with --backend never falls through; a backend name (bpf) falls through within that backend.
  const eligible = new Set(forcedCandidates(tool, session.backend).map((c) => c.id))
  const queue = decision.candidates.filter((c) => c.usable && eligible.has(c.id))
  const fallThrough = !forcesOneCandidate(tool, session.backend)
  const failures: StartFailure[] = []
  let running: {candidate: CandidateVerdict; collector: Collector} | undefined
  for (const candidate of queue) {
    // Each candidate's own undo scope: a failed start unwinds only what it did.
    const mark = deps.undo.mark()
    try {
      const runner = await host.loadRunner(tool.candidates.find((c) => c.id === candidate.id)!)
      const collector = await runner.start({
        options,
        probe,
        files: host.files,
        undo: deps.undo,
        pid: process.pid,
        targetPid: options.pid ?? command?.pid,
        functions,
        interval: session.interval,
        signal: deps.signal,
      })
      running = {candidate, collector}
      break
    } catch (error) {
      if (!fallThrough || !fallsThrough(error) || deps.signal.aborted) throw error
      const undoFailures = await deps.undo.unwindTo(mark)
      if (undoFailures.length > 0) {
        const left = undoFailures.map((f) => `${f.description}: ${f.error}`).join('; ')
        throw new BackendError(`${candidate.id} failed to start (${(error as Error).message}), and undoing it failed (${left}); not trying another backend`)
      }
      failures.push({candidate: candidate.id, error: error as Error})
    }
  }
  if (!running) throw startFailuresError(tool.name, failures)
  deps.signal.throwIfAborted()
  const {candidate: chosen, collector} = running

  const chosenIndex = decision.candidates.indexOf(chosen)
  const passedOver = decision.candidates.slice(0, chosenIndex).map((c): PassedOver => {
    const failure = failures.find((f) => f.candidate === c.id)
    if (failure) return {candidate: c.id, stage: 'start', reasons: [failure.error.message]}
    return {candidate: c.id, stage: 'routing', reasons: c.usable ? [`usable, but --backend asked for ${session.backend}`] : c.reasons}
  })
  const why =
    failures.length === 0
      ? decision.why
      : `${session.backend === undefined ? '' : `forced with --backend ${session.backend}; `}next usable after ${failures.map((f) => f.candidate).join(', ')} failed to start (undone)`
  const jit = probe.capabilities.find((c) => c.name === 'bpf-jit')
  const result: ToolResult = {
    schema: 'diag/result',
    schemaVersion: RESULT_SCHEMA_VERSION,
    tool: tool.name,
    backend: {
      name: chosen.backend,
      candidate: chosen.id,
      method: chosen.method,
      attach: collector.attach,
      ...(chosen.backend === 'bpf' ? {jit: jit?.status === 'available' ? true : jit?.status === 'unavailable' ? false : null} : {}),
    },
    route: {why, passedOver},
    kernel: probe.kernel?.release ?? null,
    startedAt: new Date(clock.now()).toISOString(),
    seconds: 0,
    command: session.command ? {argv: session.command, exitCode: null} : null,
    lost: null,
    intervals: [],
  }
  deps.onStart?.(result)
  // A rows tool's events stream out as they come (before the command is released, so none waits);
  // the interval keeps them too, for the summary's count and for runbooks.
  let rowsInInterval: Row[] = []
  if (isRowStream(collector))
    collector.onRows((rows) => {
      for (const row of rows) rowsInInterval.push(row) // not push(...rows): a large batch would throw
      deps.onRows?.(result, rows)
    })

  // A --pid run ends with its process, as a traced command's run ends with the command.
  const watching = new AbortController()
  const exited = command?.ended ?? (options.pid === undefined ? undefined : host.processExit(options.pid, watching.signal))
  const started = clock.now()
  command?.release()
  const end = session.duration === undefined ? Infinity : started + session.duration * 1000
  let intervalStart = started
  let stopped = started
  for (;;) {
    const next = Math.min(end, session.interval === undefined ? Infinity : intervalStart + session.interval * 1000)
    const why = await waitFor(clock, next, deps.signal, exited)
    const now = clock.now()
    const last = why !== 'tick' || now >= end
    if (last) {
      stopped = now
      await collector.stop?.()
    }
    const data = await collector.collect()
    if (data.kind === 'rows') {
      data.rows = [...data.rows, ...rowsInInterval]
      rowsInInterval = []
    }
    const interval: Interval = {time: new Date(now).toISOString(), seconds: (now - intervalStart) / 1000, data}
    result.intervals.push(interval)
    deps.onInterval?.(result, result.intervals.length - 1)
    intervalStart = now
    if (last) break
  }
  watching.abort()
  // The traced time: from when counting started to the stop, not including the last collect.
  result.seconds = (stopped - started) / 1000
  result.lost = await collector.lost()
  // The command stayed unreaped (its pid still its own) until the last counts were read.
  command?.reap()
  if (command && result.command) result.command.exitCode = await command.exited
  return result
}
