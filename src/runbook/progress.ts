import {Listr, type ListrDefaultRenderer, type ListrSimpleRenderer, type ListrTaskWrapper} from 'listr2'

import type {Step} from './file.js'
import {type CheckOutcome, type RunObserver, type StartStep, type StepOutcome, runStep} from './run.js'

/**
 * How a runbook shows its progress. On a terminal, listr2: a task per step with the backend it
 * chose and a countdown, then a tick or a cross per check. Elsewhere (a pipe, a CI log, --ci),
 * one plain line per event. Both run the same steps through runStep.
 */
export type RunEntry = (entry: Step[]) => Promise<StepOutcome[]>

type Task = ListrTaskWrapper<unknown, ListrDefaultRenderer, ListrSimpleRenderer>

function checkLine(check: CheckOutcome): string {
  const measured = check.reason ?? check.measured.map((m) => m.text).join('; ')
  return `${check.expect}: ${check.status}${check.status === 'fail' && check.severity === 'warn' ? ' (warning)' : ''}${measured ? ` (${measured})` : ''}`
}

function outcomeLine(outcome: StepOutcome): string {
  if (outcome.status === 'ran') return `done in ${outcome.seconds.toFixed(1)} s`
  return `${outcome.status}: ${outcome.reason ?? ''}`
}

/** One line per event, for logs: `[runqlat] started`, `[runqlat] check p99 < 10ms: pass (...)`. */
export function plainProgress(start: StartStep, signal: AbortSignal, write: (line: string) => void): RunEntry {
  const observer: RunObserver = {
    stepStarted: (step) => write(`[${step.name}] started: diag ${step.argv.join(' ')}`),
    stepReady: (step, ready) => write(`[${step.name}] tracing with ${ready.candidate} (${ready.backend})`),
    stepDone: (step, outcome) => {
      write(`[${step.name}] ${outcomeLine(outcome)}`)
      for (const check of outcome.checks) write(`[${step.name}] check ${checkLine(check)}`)
    },
  }
  return (entry) => Promise.all(entry.map((step) => runStep(step, start, signal, observer)))
}

/** listr2 on a terminal: the runbook's entries as tasks, a parallel entry as concurrent subtasks. */
export function listrProgress(start: StartStep, signal: AbortSignal): RunEntry {
  const stepTask = (step: Step, outcomes: StepOutcome[]) => ({
    title: `${step.name}: ${step.tool}`,
    task: async (_: unknown, task: Task) => {
      let timer: NodeJS.Timeout | undefined
      const observer: RunObserver = {
        stepReady: (_step, ready) => {
          task.title = `${step.name}: ${step.tool} on ${ready.candidate} (${ready.backend})`
          if (step.duration === undefined) return
          const end = Date.now() + step.duration * 1000
          const tick = () => {
            task.output = `${Math.max(0, Math.ceil((end - Date.now()) / 1000))} s left`
          }
          tick()
          timer = setInterval(tick, 1000)
        },
      }
      let outcome: StepOutcome
      try {
        outcome = await runStep(step, start, signal, observer)
      } finally {
        clearInterval(timer)
      }
      outcomes.push(outcome)
      if (outcome.status !== 'ran') task.title = `${task.title}: ${outcomeLine(outcome)}`
      if (outcome.checks.length === 0) {
        if (outcome.status === 'failed') throw new Error(outcome.reason ?? 'failed')
        if (outcome.status !== 'ran') task.skip(task.title)
        return
      }
      return task.newListr(
        outcome.checks.map((check) => ({
          title: checkLine(check),
          task: (_ctx: unknown, sub: Task) => {
            if (check.status === 'fail' && check.severity === 'fail') throw new Error(checkLine(check))
            if (check.status !== 'pass') sub.skip(checkLine(check))
          },
        })),
        {exitOnError: false},
      )
    },
  })
  return async (entry) => {
    const outcomes: StepOutcome[] = []
    const tasks =
      entry.length === 1
        ? [stepTask(entry[0], outcomes)]
        : [{title: `at once: ${entry.map((s) => s.name).join(', ')}`, task: (_: unknown, task: Task) => task.newListr(entry.map((s) => stepTask(s, outcomes)), {concurrent: true, exitOnError: false})}]
    await new Listr(tasks, {exitOnError: false, rendererOptions: {collapseSubtasks: false, collapseSkips: false}}).run()
    // In the runbook's order, whatever order the parallel steps finished in.
    return entry.map((step) => outcomes.find((o) => o.name === step.name)!)
  }
}
