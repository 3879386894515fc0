import {Command, Errors} from '@oclif/core'
import type {Input, ParserOutput} from '@oclif/core/interfaces'

import {BadInputError, DiagError, EXIT} from './errors.js'
import {Interrupts} from './system/interrupts.js'
import {UndoLog} from './system/undo.js'

// oclif's own shapes of parsed flags and arguments, which it does not export.
type FlagOutput = {[name: string]: any} // eslint-disable-line @typescript-eslint/no-explicit-any
type ArgOutput = {[name: string]: any} // eslint-disable-line @typescript-eslint/no-explicit-any

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * What every diag command shares: --json (oclif prints what run() returns), typed errors mapped
 * to exit codes, and a session whose undo log is unwound on every way out: success, error, and
 * SIGINT/SIGTERM/SIGHUP (the first only flags the abort and the normal flow then tears down; a
 * third quits at once, see system/interrupts.ts).
 */
export abstract class DiagCommand extends Command {
  static override enableJsonFlag = true

  protected readonly undo = new UndoLog()
  protected readonly abort = new AbortController()
  private readonly onSignal = new Interrupts(this.abort, this.undo).handle

  // An exception that escapes to the event loop (a bug in a callback) stops tracing like a signal
  // does, so the normal flow still tears down; it is then reported as the internal error it is.
  private uncaught: Error | undefined
  private readonly onUncaught = (error: Error) => {
    this.uncaught ??= error
    if (!this.abort.signal.aborted) this.abort.abort(error)
  }

  override async init(): Promise<void> {
    for (const signal of SIGNALS) process.on(signal, this.onSignal)
    process.on('uncaughtException', this.onUncaught)
    await super.init()
  }

  /** Throws the InterruptedError if a signal came in; long steps call it between kernel changes. */
  protected checkAborted(): void {
    if (this.abort.signal.aborted) throw this.abort.signal.reason
  }

  /** Every failure to parse flags or arguments is bad input, whatever oclif calls it. */
  protected override async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(
    options?: Input<F, B, A>,
    argv?: string[],
  ): Promise<ParserOutput<F, B, A>> {
    try {
      return await super.parse(options, argv)
    } catch (error) {
      const message = (error as Error).message
        .replace(/\s*See more help with --help$/, '')
        .replace(/^Parsing (--\S+)\s*\n\s*/, '$1 ')
        .replace(/\s*\n\s*/g, ' ')
      throw new BadInputError(message.trim())
    }
  }

  override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    if (error instanceof DiagError) return this.fail(error.message, error.kind, error.exitCode, error.details)
    // Anything else is a bug in diag: say so, with the stack, and keep JSON output JSON.
    if (error instanceof Errors.CLIError) return this.fail(error.message, 'badInput', EXIT.badInput)
    process.stderr.write(`${error.stack ?? error.message}\n`)
    return this.fail(`internal error: ${error.message}`, 'internal', EXIT.internal)
  }

  /** --json is for programs: plain JSON, never coloured by an oclif theme a user has set. */
  override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
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
    process.off('uncaughtException', this.onUncaught)
    if (this.uncaught) {
      process.stderr.write(`diag: internal error: ${this.uncaught.stack ?? this.uncaught.message}\n`)
      process.exitCode = EXIT.internal
    }
    return super.finally(error)
  }
}
