import {Command, Errors} from '@oclif/core'

import {DiagError, InterruptedError} from './errors.js'
import {UndoLog} from './system/undo.js'

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * What every diag command shares: --json (oclif prints what run() returns), typed errors mapped
 * to exit codes, and a session whose undo log is unwound on every way out: success, error, and
 * SIGINT/SIGTERM/SIGHUP (handlers only flag the abort; the normal flow then tears down).
 */
export abstract class DiagCommand extends Command {
  static override enableJsonFlag = true

  protected readonly undo = new UndoLog()
  protected readonly abort = new AbortController()
  private readonly onSignal = (signal: NodeJS.Signals) => {
    if (this.abort.signal.aborted) {
      process.stderr.write(`diag: ${signal} again; still cleaning up, please wait\n`)
      return
    }
    this.abort.abort(new InterruptedError(`interrupted by ${signal}`, {signal}))
  }

  override async init(): Promise<void> {
    for (const signal of SIGNALS) process.on(signal, this.onSignal)
    await super.init()
  }

  /** Throws the InterruptedError if a signal came in; long steps call it between kernel changes. */
  protected checkAborted(): void {
    if (this.abort.signal.aborted) throw this.abort.signal.reason
  }

  override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (!(error instanceof DiagError)) {
      // oclif's own usage errors (unknown flag, bad value) are bad input too, not internal bugs.
      if (error instanceof Errors.CLIError && !(error instanceof Errors.ExitError)) return this.fail(error.message, 'badInput', 2)
      throw error
    }
    return this.fail(error.message, error.kind, error.exitCode, error.details)
  }

  private fail(message: string, kind: string, exitCode: number, details: Record<string, unknown> = {}): never {
    if (this.jsonEnabled()) this.logJson({error: {kind, exitCode, message, ...details}})
    else process.stderr.write(`diag: ${message}\n`)
    this.exit(exitCode)
  }

  override async finally(error: Error | undefined): Promise<unknown> {
    const failures = await this.undo.unwind()
    for (const f of failures) process.stderr.write(`diag: cleanup failed: ${f.description}: ${f.error}\n`)
    for (const signal of SIGNALS) process.off(signal, this.onSignal)
    return super.finally(error)
  }
}
