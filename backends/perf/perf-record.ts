import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import type {ResultPromise} from 'execa'

import {BackendError} from '../../src/errors.js'
import {spawnOwned} from '../../src/system/child.js'
import type {UndoLog} from '../../src/system/undo.js'

type RecordProcess = ResultPromise<{stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe']; reject: false}>

// How long perf may take to write a data file after SIGUSR2 or SIGINT before diag gives up on it.
const DUMP_TIMEOUT_MS = 10_000

/** Waits for the promise, or for ms at most (a timer that does not keep diag alive once it is done). */
async function atMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
  clearTimeout(timer)
}

/** The directory of one diag's perf data files, in the temporary directory: diag reset removes a dead diag's. */
export const PERF_DATA_DIR = /^diag-(\d+)-perf-\w+$/

export interface RecordTarget {
  /** One process and the children it forks from now on (-p), else every CPU (-a). */
  pid?: number
}

/**
 * One long-running `perf record`, writing a new data file each time diag asks
 * (--switch-output=signal: SIGUSR2 makes it close the file it writes and start the next), so that
 * each interval's samples are their own file. Like perf stat (perf-stat.ts), it opens its events
 * disabled (-D -1) and diag enables them through the control fd and waits for the ack, so that
 * sampling (and a traced command) starts only once everything is open. The files live in a
 * private temporary directory, removed by the undo log.
 */
export class PerfRecord {
  /** Data files perf has finished ("[ perf record: Dump FILE ]"), not yet taken. */
  private dumped: string[] = []
  private waiters: (() => void)[] = []
  private exited = false

  private constructor(
    private readonly perf: RecordProcess,
    readonly dir: string,
    private readonly ended: Promise<unknown>,
  ) {}

  static async start(eventArgs: string[], target: RecordTarget, undo: UndoLog): Promise<PerfRecord> {
    const dir = await mkdtemp(path.join(tmpdir(), `diag-${process.pid}-perf-`))
    undo.push(`remove ${dir}`, () => rm(dir, {recursive: true, force: true}))
    const args = ['record', ...eventArgs, '-o', path.join(dir, 'perf.data'), '--switch-output=signal', '--no-buildid', '--no-buildid-cache']
    args.push('-D', '-1', '--control', 'fd:3,4', ...(target.pid === undefined ? ['-a'] : ['-p', String(target.pid)]))
    const perf: RecordProcess = spawnOwned('perf', args, {stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], reject: false, cwd: dir})
    // perf's exit, and the end of its stderr (the last "Dump" line): execa's own promise would
    // also wait for the control fd diag writes to, which only diag can close.
    const exited = Promise.all([new Promise((resolve) => perf.once('exit', resolve)), new Promise((resolve) => perf.stderr.once('close', resolve))])
    undo.push('end perf record', async () => {
      if (perf.exitCode === null && perf.signalCode === null) perf.kill('SIGKILL')
      await atMost(exited, DUMP_TIMEOUT_MS)
      for (const stream of [perf.stdio[3], perf.stdio[4]]) (stream as unknown as {destroy(): void}).destroy()
      perf.unref()
    })
    const record = new PerfRecord(perf, dir, exited)
    let errors = ''
    let partial = ''
    perf.stderr.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n')
      partial = lines.pop()!
      for (const line of lines) {
        const dump = /\[ perf record: Dump (.+) \]$/.exec(line.trim())
        if (dump) record.finished(path.resolve(dir, dump[1]))
        else errors += `${line}\n`
      }
    })
    void exited.then(() => {
      record.exited = true
      record.wake()
    })
    const acked = new Promise<void>((resolve, reject) => {
      let answer = ''
      perf.stdio[4].on('data', (chunk: Buffer) => {
        answer += chunk
        if (answer.includes('ack')) resolve()
      })
      void exited.then(() => reject(new BackendError(`perf record exited before sampling: ${errors.trim().split('\n').slice(-3).join('; ')}`)))
    })
    ;(perf.stdio[3] as unknown as NodeJS.WritableStream).write('enable\n')
    await acked
    return record
  }

  private finished(file: string): void {
    this.dumped.push(file)
    this.wake()
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake()
  }

  /** Resolves once perf has written one more file, or has exited, or after the timeout. */
  private next(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, DUMP_TIMEOUT_MS)
      this.waiters.push(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  /**
   * The data files of everything sampled so far, not taken before: perf closes the one it is
   * writing first (SIGUSR2), unless it has exited (finish(), or a -p target that ended).
   */
  async take(): Promise<string[]> {
    if (!this.exited) {
      const written = this.next()
      this.perf.kill('SIGUSR2')
      await written
    }
    return this.dumped.splice(0)
  }

  /** Stops sampling: perf writes its last file and exits (SIGINT, as Ctrl-C). */
  async finish(): Promise<void> {
    if (this.exited) return
    this.perf.kill('SIGINT')
    await atMost(this.ended, DUMP_TIMEOUT_MS)
  }
}
