import {accessSync, constants, statSync} from 'node:fs'
import path from 'node:path'

import {BadInputError} from '../errors.js'

// Finding the program a command names, apart from system/child.ts (which spawns it through execa):
// a tool checks its command at start, and execa's hundred modules need not load for that.

export function findExecutable(name: string): string | undefined {
  const dirs = name.includes('/') ? [''] : (process.env.PATH ?? '/usr/bin:/bin').split(':')
  for (const dir of dirs) {
    const candidate = dir ? path.join(dir, name) : name
    try {
      accessSync(candidate, constants.X_OK)
      if (statSync(candidate).isFile()) return path.resolve(candidate)
    } catch {
      // next directory
    }
  }
  return undefined
}

/** Bad input unless argv names a program that can run: checked before anything touches the kernel. */
export function checkCommand(argv: string[]): string {
  if (argv.length === 0) throw new BadInputError('no command given after --')
  const program = findExecutable(argv[0])
  if (!program) throw new BadInputError(`command not found, or not an executable file: ${argv[0]}`)
  return program
}
