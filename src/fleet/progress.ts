import {WriteStream} from 'node:tty'

import {Listr, ListrLogger, ProcessOutput} from 'listr2'

import type {HostEvents, HostOutcome} from './fleet.js'
import type {FleetHost} from './inventory.js'

/** Past this many hosts, one summary line instead of a line per host. */
const LINE_PER_HOST_UP_TO = 20

export interface FleetProgress {
  events: HostEvents
  /** Resolves once the display has drawn its last state. */
  done: Promise<void>
}

const outcomeLine = (outcome: HostOutcome<unknown>) =>
  outcome.ok
    ? `done in ${outcome.seconds.toFixed(1)} s${outcome.copied ? ' (bundle copied)' : ''}${outcome.removed ? `; removed the older ${outcome.removed.join(', ')}` : ''}`
    : `${outcome.error.stage} failed: ${outcome.error.message}`

/** One plain line per event on stderr, for logs and pipes. */
export function plainFleetProgress(write: (line: string) => void): FleetProgress {
  return {
    events: {
      copying: (host) => write(`[${host.name}] copying the bundle`),
      finished: (outcome) => write(`[${outcome.host.name}] ${outcomeLine(outcome)}`),
    },
    done: Promise.resolve(),
  }
}

/** listr2 on a terminal (on stderr, so that stdout stays the matrix): a task per host, or a summary. */
export function listrFleetProgress(hosts: FleetHost[], what: string): FleetProgress {
  const finished = new Map<string, (outcome: HostOutcome<unknown>) => void>()
  const waits = new Map(hosts.map((host) => [host.name, new Promise<HostOutcome<unknown>>((resolve) => finished.set(host.name, resolve))]))
  const titles = new Map<string, (title: string) => void>()
  // listr2 draws on what it takes as stdout and holds back (hijacks) both streams while it draws:
  // two streams of its own on the terminal of stderr, so that stdout stays the matrix's.
  const logger = new ListrLogger({processOutput: new ProcessOutput(new WriteStream(2), new WriteStream(2))})
  let tasks
  if (hosts.length <= LINE_PER_HOST_UP_TO) {
    tasks = hosts.map((host) => ({
      title: `${host.name}: waiting`,
      task: async (_: unknown, task: {title: string}) => {
        titles.set(host.name, (title) => (task.title = `${host.name}: ${title}`))
        const outcome = await waits.get(host.name)!
        if (!outcome.ok) {
          // listr2 shows the error in place of the title.
          throw new Error(`${host.name}: ${outcomeLine(outcome)}`)
        }
        task.title = `${host.name}: ${outcomeLine(outcome)}`
      },
    }))
  } else {
    tasks = [
      {
        title: `${what} on ${hosts.length} hosts`,
        task: async (_: unknown, task: {output: string}) => {
          let ok = 0
          let failed = 0
          for (const wait of waits.values())
            void wait.then((outcome) => {
              if (outcome.ok) ok++
              else failed++
              task.output = `${ok + failed}/${hosts.length} done, ${failed} failed`
            })
          await Promise.all(waits.values())
        },
      },
    ]
  }
  const done = new Listr(tasks, {
    concurrent: true,
    exitOnError: false,
    // The terminal is stderr's: stdout (the matrix) may well be a file.
    renderer: 'default',
    fallbackRendererCondition: false,
    forceTTY: true,
    rendererOptions: {logger},
  }).run().then(() => {})
  return {
    events: {
      started: (host) => titles.get(host.name)?.(`connecting (${host.destination})`),
      copying: (host) => titles.get(host.name)?.('copying the bundle'),
      running: (host) => titles.get(host.name)?.(`running diag ${what}`),
      finished: (outcome) => finished.get(outcome.host.name)?.(outcome),
    },
    done,
  }
}
