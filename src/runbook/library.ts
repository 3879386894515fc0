import {existsSync, readFileSync, readdirSync} from 'node:fs'
import path from 'node:path'

import {BadInputError} from '../errors.js'
import {packageRoot} from '../system/paths.js'

/** The runbooks shipped with diag (runbooks/NAME.yaml), run by name. */
export const BUILTIN_DIR = path.join(packageRoot, 'runbooks')

export function builtinRunbooks(): {name: string; file: string; description: string}[] {
  return readdirSync(BUILTIN_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const file = path.join(BUILTIN_DIR, f)
      // The description only, for the list: the file itself is checked when it runs.
      const description = /^description:\s*(?:>-?\s*\n)?\s*(.+)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? ''
      return {name: f.replace(/\.yaml$/, ''), file, description}
    })
}

/** A path to a runbook file, or the name of a built-in one. */
export function locateRunbook(nameOrFile: string): {file: string; text: string} {
  if (existsSync(nameOrFile)) return {file: nameOrFile, text: readFileSync(nameOrFile, 'utf8')}
  const builtin = builtinRunbooks().find((r) => r.name === nameOrFile)
  if (builtin) return {file: builtin.file, text: readFileSync(builtin.file, 'utf8')}
  const names = builtinRunbooks().map((r) => r.name)
  throw new BadInputError(`no runbook file ${nameOrFile}, and no built-in runbook of that name (built in: ${names.join(', ')})`)
}
