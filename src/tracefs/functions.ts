import {BadInputError} from '../errors.js'
import type {HostFiles} from '../system/files.js'

// A function pattern is a glob over kernel function names and nothing else: it reaches tracefs
// files (set_ftrace_filter, kprobe_events), where a space, newline, colon or "!" would be a
// second command.
const PATTERN = /^[A-Za-z0-9_.*?]+$/

export function checkFunctionPattern(pattern: string): void {
  if (!PATTERN.test(pattern)) throw new BadInputError(`not a function pattern: ${JSON.stringify(pattern)} (letters, digits, _ . * ? only)`)
  if ((pattern.match(/[A-Za-z0-9_]/g) ?? []).length < 2)
    throw new BadInputError(`pattern ${JSON.stringify(pattern)} would match nearly every kernel function; name at least two characters`)
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.]/g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${body}$`)
}

/**
 * Kernel functions matching a glob, from the list ftrace can trace (available_filter_functions),
 * or from /proc/kallsyms' text symbols where that list cannot be read. Sorted and unique.
 */
export async function matchingFunctions(files: HostFiles, tracefs: string | undefined, pattern: string): Promise<string[]> {
  checkFunctionPattern(pattern)
  const match = globToRegExp(pattern)
  let names: string[] | undefined
  const traceable = tracefs ? await files.read(`${tracefs}/available_filter_functions`).catch(() => undefined) : undefined
  if (traceable !== undefined) names = traceable.split('\n').map((line) => line.split(/\s/)[0])
  else {
    const kallsyms = await files.read('/proc/kallsyms')
    names = kallsyms
      .split('\n')
      .map((line) => line.split(' '))
      .filter(([address, type]) => (type === 't' || type === 'T') && address !== '0000000000000000')
      .map(([, , name]) => name)
  }
  const found = [...new Set(names.filter((name) => name && !name.includes('.') && match.test(name)))].sort()
  if (found.length === 0) throw new BadInputError(`no traceable kernel function matches ${JSON.stringify(pattern)}`)
  return found
}
