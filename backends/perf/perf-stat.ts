import {type ResultPromise, execa} from 'execa'

import {BackendError} from '../../src/errors.js'
import type {UndoLog} from '../../src/system/undo.js'

/** Counts of events, by event name, from `perf stat -x,` output. */
export function parsePerfStat(output: string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const line of output.split('\n')) {
    const [value, , event] = line.split(',')
    if (!event) continue
    // "<not counted>" means the event never ran in the window: zero, for a counter.
    counts.set(event, /^\d+$/.test(value) ? Number(value) : 0)
  }
  return counts
}

/**
 * One `perf stat` counting window. perf starts with its events disabled (-D -1) and diag enables
 * them through perf's control fd and waits for the ack, so that a traced command is released only
 * once counting has begun. stop() ends the window with SIGINT and returns the counts.
 */
export class PerfStat {
  private constructor(private readonly perf: ResultPromise<{stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe']; reject: false}>) {}

  static async start(events: string[], target: {pid?: number}, undo: UndoLog): Promise<PerfStat> {
    const args = ['stat', '-x', ',', '-e', events.join(','), '-D', '-1', '--control', 'fd:3,4']
    args.push(...(target.pid === undefined ? ['-a'] : ['-p', String(target.pid)]))
    const perf = execa('perf', args, {stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], reject: false})
    undo.push('stop perf stat', async () => {
      perf.kill('SIGINT')
      await perf
    })
    const acked = new Promise<void>((resolve, reject) => {
      let answer = ''
      perf.stdio[4].on('data', (chunk: Buffer) => {
        answer += chunk
        if (answer.includes('ack')) resolve()
      })
      void perf.then((result) =>
        reject(new BackendError(`perf stat exited before counting: ${String(result.stderr).trim()}`)),
      )
    })
    ;(perf.stdio[3] as unknown as NodeJS.WritableStream).write('enable\n')
    await acked
    return new PerfStat(perf)
  }

  async stop(): Promise<Map<string, number>> {
    this.perf.kill('SIGINT')
    const result = await this.perf
    return parsePerfStat(String(result.stderr))
  }
}
