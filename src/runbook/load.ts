import type {Config} from '@oclif/core'

import {BadInputError} from '../errors.js'
import {type FlagInfo, type Runbook, parseRunbook} from './file.js'
import {locateRunbook} from './library.js'

/** `--set name=value` pairs as variables. */
export function parseSets(sets: string[] | undefined): Record<string, string> {
  const variables: Record<string, string> = {}
  for (const set of sets ?? []) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(set)
    if (!match) throw new BadInputError(`--set takes NAME=VALUE, not "${set}"`)
    variables[match[1]] = match[2]
  }
  return variables
}

/** Reads a runbook (a file, or a built-in by name) and checks it against this diag's tools and flags. */
export function loadRunbook(nameOrFile: string, sets: string[] | undefined, config: Config): Runbook {
  const {file, text} = locateRunbook(nameOrFile)
  // The tools' flags as oclif knows them (from its manifest, without loading the commands).
  const flagsOf = (tool: string) => config.findCommand(tool)?.flags as Record<string, FlagInfo> | undefined
  return parseRunbook(text, file, {set: parseSets(sets), flagsOf})
}
