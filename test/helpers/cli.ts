import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {type ResultPromise, execa} from 'execa'

export const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/run.js')

export interface CliRun {
  exitCode: number
  stdout: string
  stderr: string
}

/** Runs the built diag as a user would, in its own process, and never throws on failure. */
export async function diag(args: string[], options: {timeout?: number} = {}): Promise<CliRun> {
  const result = await execa(process.execPath, [BIN, ...args], {reject: false, timeout: options.timeout ?? 60_000})
  return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)}
}

/** Runs diag with --json and parses what it printed. */
export async function diagJson<T = Record<string, unknown>>(args: string[], options: {timeout?: number} = {}): Promise<CliRun & {json: T}> {
  // --json goes before any `--`, after which everything belongs to the traced command.
  const dash = args.indexOf('--')
  const run = await diag(dash < 0 ? [...args, '--json'] : [...args.slice(0, dash), '--json', ...args.slice(dash)], options)
  let json: T
  try {
    json = JSON.parse(run.stdout) as T
  } catch {
    throw new Error(`diag ${args.join(' ')} --json printed no JSON (exit ${run.exitCode}):\n${run.stdout}\n${run.stderr}`)
  }
  return {...run, json}
}

/** Starts diag in the background, as from a terminal, to signal or kill it mid-run. */
export function startDiag(args: string[]): ResultPromise<{reject: false}> {
  return execa(process.execPath, [BIN, ...args], {reject: false})
}

/**
 * Resolves once diag's output says tracing has started (the ready line goes to stderr, the
 * header to stdout); rejects if diag exits first.
 */
export function tracingStarted(tracer: ReturnType<typeof startDiag>, marker: string): Promise<string> {
  let output = ''
  return new Promise((resolve, reject) => {
    const watch = (chunk: Buffer) => {
      output += chunk
      if (output.includes(marker)) resolve(output)
    }
    tracer.stdout!.on('data', watch)
    tracer.stderr!.on('data', watch)
    tracer.on('exit', (code) => reject(new Error(`diag exited (${code}) before tracing: ${output}`)))
  })
}
