import {constants} from 'node:fs'
import {access, rename, rm, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {BadInputError} from '../errors.js'

/**
 * Files diag writes besides its output (a flame graph, a runbook's reports): checked before any
 * work starts, so that a mistyped path fails at once rather than after minutes of tracing, and
 * written whole.
 */

/** Refuses a path diag could not write `flag`'s file to: no such directory, not writable there, or not a file. */
export async function checkOutputFile(flag: string, file: string): Promise<void> {
  if (file === '' || file === '-') throw new BadInputError(`${flag} takes a file name (standard output carries the text or the JSON)`)
  const full = path.resolve(file)
  const existing = await stat(full).catch(() => undefined)
  if (existing?.isDirectory()) throw new BadInputError(`${flag} ${file}: is a directory`)
  if (existing && !existing.isFile()) throw new BadInputError(`${flag} ${file}: exists and is not a regular file`)
  const dir = path.dirname(full)
  const parent = await stat(dir).catch(() => undefined)
  if (!parent?.isDirectory()) throw new BadInputError(`${flag} ${file}: there is no directory ${dir}`)
  // The file is written beside its name and renamed over it: the directory must take new files.
  const writable = await access(dir, constants.W_OK).then(
    () => true,
    () => false,
  )
  if (!writable) throw new BadInputError(`${flag} ${file}: cannot write in ${dir}`)
}

/** Written to a temporary file beside it and renamed, so a reader (a textfile collector, a browser) never sees half. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  try {
    await writeFile(temporary, text)
    await rename(temporary, file)
  } catch (error) {
    await rm(temporary, {force: true})
    throw error
  }
}

/** writeAtomically for `flag`'s file, its failure (a full disk) an error that names the flag. */
export async function writeOutputFile(flag: string, file: string, text: string): Promise<void> {
  try {
    await writeAtomically(file, text)
  } catch (error) {
    throw new BadInputError(`${flag} ${file}: could not write it: ${(error as Error).message}`)
  }
}
