import {accessSync, constants, statSync} from 'node:fs'
import path from 'node:path'

import {execa} from 'execa'

import {BadInputError} from '../errors.js'

/**
 * A command diag traces (`diag TOOL -- command ...`). It is started held at a gate (a shell
 * waiting on fd 3) so that its pid is known, and tracing attached, before it runs a single
 * instruction of its own; release() lets it exec the command.
 */
export interface TracedCommand {
  pid: number
  release(): void
  /** Resolves with the exit status once the command ends. */
  exited: Promise<number | null>
  kill(): void
}

function findExecutable(name: string): string | undefined {
  const dirs = name.includes('/') ? [''] : (process.env.PATH ?? '/usr/bin:/bin').split(':')
  for (const dir of dirs) {
    const candidate = dir ? path.join(dir, name) : name
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // next directory
    }
  }
  return undefined
}

/** Bad input unless argv names a program that can run: checked before anything touches the kernel. */
export function checkCommand(argv: string[]): void {
  if (argv.length === 0) throw new BadInputError('no command given after --')
  if (!findExecutable(argv[0])) throw new BadInputError(`command not found, or not an executable file: ${argv[0]}`)
}

export function startGatedCommand(argv: string[], options: {stdoutToStderr: boolean}): TracedCommand {
  checkCommand(argv)
  const child = execa('/bin/sh', ['-c', 'read -r _ <&3; exec 3<&-; exec "$0" "$@"', ...argv], {
    stdio: ['inherit', options.stdoutToStderr ? process.stderr : 'inherit', 'inherit', 'pipe'],
    reject: false,
  })
  const exited = child.then((result) => result.exitCode ?? null)
  return {
    pid: child.pid!,
    release: () => (child.stdio[3] as unknown as NodeJS.WritableStream).end('\n'),
    exited,
    kill: () => void child.kill('SIGTERM'),
  }
}
