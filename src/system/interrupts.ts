import {EXIT, InterruptedError} from '../errors.js'
import type {UndoLog} from './undo.js'

// Signals after which diag stops waiting for its cleanup and quits.
export const FORCE_QUIT_AFTER = 3

/**
 * What SIGINT, SIGTERM and SIGHUP do to a running diag. The first stops tracing (the abort), and
 * the normal flow then removes what diag made. A second says cleanup is under way. A third quits
 * at once, naming what is still in place: everything diag makes carries its pid, so `diag reset`
 * removes it once this process is gone. Only a cleanup step that never returns makes anyone
 * need that.
 */
export class Interrupts {
  private received = 0

  constructor(
    private readonly abort: AbortController,
    private readonly undo: UndoLog,
    private readonly io: {write(text: string): void; exit(code: number): void} = {
      write: (text) => process.stderr.write(text),
      exit: (code) => process.exit(code),
    },
  ) {}

  readonly handle = (signal: NodeJS.Signals): void => {
    this.received++
    if (this.received < FORCE_QUIT_AFTER) {
      if (!this.abort.signal.aborted) this.abort.abort(new InterruptedError(`interrupted by ${signal}`, {signal}))
      else this.io.write(`diag: ${signal}: still cleaning up (a third signal quits now and leaves the rest to diag reset)\n`)
      return
    }
    const left = this.undo.pending()
    this.io.write(
      `diag: ${signal}: quitting before cleanup finished${left.length ? `; still in place: ${left.join('; ')}` : ''}\n` +
        'diag: run `diag reset` to remove what this diag left\n',
    )
    this.io.exit(EXIT.interrupted)
  }
}
