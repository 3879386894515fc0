import {isImplemented, loadRunner} from '../backends/registry.js'
import type {Collector} from '../backends/runner.js'
import {BadInputError} from './errors.js'
import type {ToolOptions} from './plan/options.js'
import {noRouteError, route} from './plan/route.js'
import {findTool} from './plan/tools.js'
import {probeHost} from './probe/probe.js'
import {type Interval, RESULT_SCHEMA_VERSION, type ToolResult} from './result/model.js'
import {type TracedCommand, startGatedCommand} from './system/child.js'
import {type Clock, systemClock} from './system/clock.js'
import {NodeFiles} from './system/files.js'
import type {UndoLog} from './system/undo.js'

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
}

export function checkSessionOptions(options: SessionOptions): void {
  for (const name of ['duration', 'interval'] as const) {
    const value = options[name]
    if (value !== undefined && !(Number.isFinite(value) && value > 0))
      throw new BadInputError(`--${name} must be a number of seconds above 0, not ${value}`)
  }
}

/** Resolves when the first of: the deadline, the command's exit, or the abort signal. */
async function waitFor(clock: Clock, until: number, signal: AbortSignal, command: TracedCommand | undefined): Promise<'tick' | 'exit' | 'stop'> {
  const stop = new AbortController()
  const onAbort = () => stop.abort()
  signal.addEventListener('abort', onAbort, {once: true})
  try {
    const waits: Promise<'tick' | 'exit' | 'stop'>[] = [clock.sleep(until - clock.now(), stop.signal).then(() => (signal.aborted ? 'stop' : 'tick'))]
    if (command) waits.push(command.ended.then(() => 'exit'))
    const outcome = await Promise.race(waits)
    stop.abort()
    return outcome
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/**
 * One tool run: probe what the tool's candidates need, route, start the chosen backend, collect
 * per interval until the duration ends, the command exits or a signal stops it. Every kernel
 * change is in deps.undo, which the caller unwinds on every way out.
 */
export async function runTool<Options extends ToolOptions>(toolName: string, options: Options, session: SessionOptions, deps: SessionDeps): Promise<ToolResult> {
  checkSessionOptions(session)
  const tool = findTool(toolName)
  if (!tool) throw new Error(`unknown tool ${toolName}`)
  const clock = deps.clock ?? systemClock
  const needs = [...new Set(tool.candidates.flatMap((c) => c.needs))]
  const probe = await probeHost({only: needs, signal: deps.signal}, deps.undo)
  const by = (options as {by?: string}).by
  const decision = route(tool, probe.capabilities, {force: session.backend, implemented: isImplemented, by})
  if (!decision.chosen) throw noRouteError(decision)
  const chosen = decision.chosen
  const runner = await loadRunner(tool.name, chosen.id)

  let command: TracedCommand | undefined
  if (session.command) {
    command = await startGatedCommand(session.command, {stdoutToStderr: session.json})
    const traced = command
    deps.undo.push('stop the traced command', async () => {
      traced.kill()
      await traced.exited
    })
  }
  deps.signal.throwIfAborted()
  const collector: Collector = await runner.start({
    options,
    probe,
    files: new NodeFiles('/'),
    undo: deps.undo,
    pid: process.pid,
    targetPid: options.pid ?? command?.pid,
    interval: session.interval,
    signal: deps.signal,
  })
  deps.signal.throwIfAborted()

  const chosenIndex = decision.candidates.findIndex((c) => c.chosen)
  const result: ToolResult = {
    schema: 'diag/result',
    schemaVersion: RESULT_SCHEMA_VERSION,
    tool: tool.name,
    backend: {name: chosen.backend, candidate: chosen.id, method: chosen.method, attach: collector.attach},
    route: {
      why: decision.why,
      passedOver: decision.candidates
        .slice(0, chosenIndex)
        .map((c) => ({candidate: c.id, reasons: c.usable ? [`usable, but --backend asked for ${session.backend}`] : c.reasons})),
    },
    kernel: probe.kernel?.release ?? null,
    startedAt: new Date(clock.now()).toISOString(),
    seconds: 0,
    command: session.command ? {argv: session.command, exitCode: null} : null,
    lost: null,
    intervals: [],
  }
  deps.onStart?.(result)

  const started = clock.now()
  command?.release()
  const end = session.duration === undefined ? Infinity : started + session.duration * 1000
  let intervalStart = started
  let stopped = started
  for (;;) {
    const next = Math.min(end, session.interval === undefined ? Infinity : intervalStart + session.interval * 1000)
    const why = await waitFor(clock, next, deps.signal, command)
    const now = clock.now()
    const last = why !== 'tick' || now >= end
    if (last) {
      stopped = now
      await collector.stop?.()
    }
    const interval: Interval = {time: new Date(now).toISOString(), seconds: (now - intervalStart) / 1000, data: await collector.collect()}
    result.intervals.push(interval)
    deps.onInterval?.(result, result.intervals.length - 1)
    intervalStart = now
    if (last) break
  }
  // The traced time: from when counting started to the stop, not including the last collect.
  result.seconds = (stopped - started) / 1000
  result.lost = await collector.lost()
  // The command stayed unreaped (its pid still its own) until the last counts were read.
  command?.reap()
  if (command && result.command) result.command.exitCode = await command.exited
  return result
}
