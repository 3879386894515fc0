import {hostname, release} from 'node:os'

import {EXIT, RUNBOOK_EXIT} from '../errors.js'
import type {ToolResult} from '../result/model.js'
import {parseSavedResult} from '../result/saved.js'
import type {Runbook, Step} from './file.js'
import {type Measured, type Verdict, evaluate} from './metrics.js'

/**
 * Runs a runbook: each step is a diag process of its own (`diag TOOL ... --json`), so that a step
 * has exactly the guarantees of the tool run by hand (its own tracefs instance, its undo on every
 * way out) and steps in a `parallel:` group cannot disturb each other. Checks are judged here.
 */

/** What a step's process says while it runs and when it ends; tests fake it. */
export interface StepProcess {
  /** Resolves with the ready line's candidate and backend once tracing is attached. */
  ready: Promise<{candidate: string; backend: string} | undefined>
  done: Promise<{exitCode: number; stdout: string; stderr: string}>
  /** Stops tracing as Ctrl-C would: the step still prints what it counted. */
  interrupt(): void
}

export type StartStep = (argv: string[]) => StepProcess

export interface CheckOutcome {
  name: string
  expect: string
  severity: 'fail' | 'warn'
  /** skipped: its step did not run; unknown: the result cannot tell (lost unknown, no samples). */
  status: Verdict | 'skipped'
  measured: Measured[]
  reason?: string
}

export interface StepOutcome {
  name: string
  tool: string
  argv: string[]
  /** The latency heat map the step writes (its heatmap: field), or null. */
  heatmap: string | null
  /** ran: a result (possibly cut short by Ctrl-C); skipped: no backend here; failed: an error. */
  status: 'ran' | 'skipped' | 'failed' | 'interrupted'
  backend: {name: string; candidate: string} | null
  reason: string | null
  exitCode: number | null
  seconds: number
  result: ToolResult | null
  checks: CheckOutcome[]
}

export interface RunbookReport {
  schema: 'diag/runbook-report'
  schemaVersion: 1
  runbook: {name: string; description: string; source: string; variables: Record<string, string>}
  host: {hostname: string; kernel: string}
  startedAt: string
  seconds: number
  /** pass: every fail-severity check passed; fail: one failed; incomplete: none failed, but a step or check could not be judged. */
  verdict: 'pass' | 'fail' | 'incomplete'
  interrupted: boolean
  exitCode: number
  steps: StepOutcome[]
}


/** What the progress display hears about; every method is optional. */
export interface RunObserver {
  stepStarted?(step: Step): void
  stepReady?(step: Step, backend: {candidate: string; backend: string}): void
  stepDone?(step: Step, outcome: StepOutcome): void
}

interface ErrorJson {
  error: {kind: string; exitCode: number; message: string}
}

function judge(step: Step, result: ToolResult | null, why: string | null): CheckOutcome[] {
  return step.checks.map((check) => {
    const base = {name: check.name, expect: check.expect, severity: check.severity}
    if (!result) return {...base, status: 'skipped', measured: [], reason: why ?? 'the step did not run'}
    const {verdict, measured} = evaluate(check.expression, result)
    return {...base, status: verdict, measured}
  })
}

/** Runs one step to its end (or Ctrl-C) and judges its checks. */
export async function runStep(step: Step, start: StartStep, signal: AbortSignal, observer: RunObserver = {}): Promise<StepOutcome> {
  const begun = Date.now()
  const base = {name: step.name, tool: step.tool, argv: step.argv, heatmap: step.heatmap ?? null}
  if (signal.aborted) {
    return {...base, status: 'interrupted', backend: null, reason: 'not started: the runbook was interrupted', exitCode: null, seconds: 0, result: null, checks: judge(step, null, 'not started: the runbook was interrupted')}
  }
  observer.stepStarted?.(step)
  const child = start([...step.argv, '--json', ...(step.command ? ['--', ...step.command] : [])])
  const onAbort = () => child.interrupt()
  signal.addEventListener('abort', onAbort, {once: true})
  let backend: StepOutcome['backend'] = null
  void child.ready.then((ready) => {
    if (!ready) return
    backend = {name: ready.backend, candidate: ready.candidate}
    observer.stepReady?.(step, ready)
  })
  const {exitCode, stdout, stderr} = await child.done.finally(() => signal.removeEventListener('abort', onAbort))
  const seconds = (Date.now() - begun) / 1000
  let parsed: ToolResult | ErrorJson | undefined
  try {
    // A rows tool's --json is NDJSON, read back into one result.
    parsed = parseSavedResult(stdout) as ToolResult | ErrorJson
  } catch {
    parsed = undefined
  }
  let outcome: StepOutcome
  if (parsed && 'schema' in parsed) {
    const result = parsed
    backend = {name: result.backend.name, candidate: result.backend.candidate}
    outcome = {...base, status: signal.aborted ? 'interrupted' : 'ran', backend, reason: null, exitCode, seconds, result, checks: judge(step, result, null)}
  } else {
    const message = parsed && 'error' in parsed ? parsed.error.message : stderr.trim().split('\n').pop() || `exit ${exitCode}`
    const status = exitCode === EXIT.notSupported ? 'skipped' : signal.aborted ? 'interrupted' : 'failed'
    outcome = {...base, status, backend, reason: message, exitCode, seconds, result: null, checks: judge(step, null, message)}
  }
  observer.stepDone?.(step, outcome)
  return outcome
}

/** The verdict and exit code of a runbook from its steps' outcomes. */
export function verdictOf(steps: StepOutcome[], interrupted: boolean): Pick<RunbookReport, 'verdict' | 'exitCode'> {
  const checks = steps.flatMap((s) => s.checks).filter((c) => c.severity === 'fail')
  if (checks.some((c) => c.status === 'fail')) return {verdict: 'fail', exitCode: RUNBOOK_EXIT.checkFailed}
  const judged = steps.every((s) => s.status === 'ran') && checks.every((c) => c.status === 'pass')
  if (judged) return {verdict: 'pass', exitCode: EXIT.ok}
  return {verdict: 'incomplete', exitCode: interrupted ? EXIT.interrupted : RUNBOOK_EXIT.incomplete}
}

/**
 * Runs the entries in order, the steps of a `parallel:` entry at once. `runEntry` lets the
 * progress display own the scheduling (listr2 runs the same steps as its tasks).
 */
export async function runRunbook(
  runbook: Runbook,
  run: (entry: Step[]) => Promise<StepOutcome[]>,
  signal: AbortSignal,
): Promise<RunbookReport> {
  const startedAt = new Date()
  const steps: StepOutcome[] = []
  for (const entry of runbook.entries) steps.push(...(await run(entry)))
  const interrupted = signal.aborted
  return {
    schema: 'diag/runbook-report',
    schemaVersion: 1,
    runbook: {name: runbook.name, description: runbook.description, source: runbook.source, variables: runbook.variables},
    host: {hostname: hostname(), kernel: release()},
    startedAt: startedAt.toISOString(),
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    ...verdictOf(steps, interrupted),
    interrupted,
    steps,
  }
}
