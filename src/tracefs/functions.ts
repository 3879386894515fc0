import {distance} from 'fastest-levenshtein'

import {BadInputError, NotSupportedError} from '../errors.js'
import type {HostFiles} from '../system/files.js'

// A function pattern is a glob over kernel function names and nothing else: it reaches tracefs
// files (set_ftrace_filter, kprobe_events), where a space, newline, colon or "!" would be a
// second command.
const PATTERN = /^[A-Za-z0-9_.*?]+$/

// KSYM_NAME_LEN, with its NUL: 128 up to 6.0, 512 since. No kernel has a longer symbol, so a
// longer pattern is a mistake whatever the kernel.
export const MAX_SYMBOL_LENGTH = 511

export function checkFunctionPattern(pattern: string): void {
  if (pattern.length > MAX_SYMBOL_LENGTH)
    throw new BadInputError(`function pattern of ${pattern.length} characters: no kernel has a function name longer than ${MAX_SYMBOL_LENGTH} (KSYM_NAME_LEN)`)
  if (!PATTERN.test(pattern)) throw new BadInputError(`not a function pattern: ${JSON.stringify(pattern)} (letters, digits, _ . * ? only)`)
  if ((pattern.match(/[A-Za-z0-9_]/g) ?? []).length < 2)
    throw new BadInputError(`pattern ${JSON.stringify(pattern)} would match nearly every kernel function; name at least two characters`)
}

function globToRegExp(pattern: string, flags = ''): RegExp {
  const body = pattern.replace(/[.]/g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${body}$`, flags)
}

/** The kernel functions diag can attach to, and where the list came from. */
export interface FunctionList {
  /** "available_filter_functions" or "/proc/kallsyms". */
  source: string
  /** Unique, without compiler clones (`foo.isra.0`) or padding symbols (`__pfx_foo`). */
  names: string[]
}

// Symbols that are not functions of their own: the padding before a function (__pfx_, 6.2+) and
// its CFI preamble (__cfi_).
const NOT_A_FUNCTION = /^__(?:pfx|cfi)_/

/**
 * The list ftrace can trace (available_filter_functions), or /proc/kallsyms' text symbols where
 * that cannot be read (no function tracer, or reading it is refused); undefined when neither can.
 */
export async function readFunctionList(files: HostFiles, tracefs: string | undefined): Promise<FunctionList | undefined> {
  let source = 'available_filter_functions'
  let names: string[]
  const traceable = tracefs ? await files.read(`${tracefs}/available_filter_functions`).catch(() => undefined) : undefined
  if (traceable !== undefined) names = traceable.split('\n').map((line) => line.split(/\s/)[0])
  else {
    const kallsyms = await files.read('/proc/kallsyms').catch(() => undefined)
    if (kallsyms === undefined) return undefined
    source = '/proc/kallsyms'
    names = kallsyms
      .split('\n')
      .map((line) => line.split(/\s+/))
      .filter(([, type]) => type === 't' || type === 'T')
      .map(([, , name]) => name)
  }
  const unique = new Set(names.filter((name) => name && !name.includes('.') && !NOT_A_FUNCTION.test(name)))
  if (unique.size === 0) return undefined
  return {source, names: [...unique]}
}

// The prefixes kernels put before a system call's name: sys_ (SyS_ for the wrappers of 3.x to
// 4.16), the 4.17+ entry points __x64_sys_ and __ia32_sys_ (and other architectures' own), the
// bodies behind them __do_sys_ and __se_sys_, and ksys_ helpers.
const SYSCALL_PREFIX = /^(?:__(?:x64|x32|ia32|arm64|riscv|s390x|s390|powerpc|mips)_|__do_|__se_|k)?(?:compat_)?sys_/i

/** What a name keeps across kernels: without its syscall prefix and leading underscores, in lower case. */
function stem(name: string): string {
  return name.replace(SYSCALL_PREFIX, '').replace(/^_+/, '').toLowerCase()
}

/**
 * Up to `limit` names of `names` a person who typed `pattern` may have meant: those that differ
 * only by a syscall prefix or case (`SyS_getppid` is `sys_getppid` on 4.9 and `__do_sys_getppid`
 * on 6.1), or, when there are none, those a few typing mistakes away; closest first. A glob
 * compares its literal start with the start of each name.
 */
export function closeFunctionNames(pattern: string, names: Iterable<string>, limit = 5): string[] {
  const wanted = stem(pattern)
  // A stem of fewer than two letters (`sys_*`) would call every name close.
  const sameStem = (wanted.match(/[a-z0-9_]/g) ?? []).length >= 2 ? globToRegExp(wanted, 'i') : undefined
  const head = pattern.split(/[*?]/)[0].toLowerCase()
  const glob = head.length < pattern.length
  const most = Math.max(1, Math.min(3, Math.floor(head.length / 4)))
  const close: {name: string; tier: number; edits: number}[] = []
  for (const name of names) {
    const lower = name.toLowerCase()
    if (sameStem?.test(stem(name))) close.push({name, tier: 0, edits: distance(pattern.toLowerCase(), lower)})
    else if (head.length >= 2 && (glob ? lower.length >= head.length : Math.abs(lower.length - head.length) <= most)) {
      const edits = distance(head, glob ? lower.slice(0, head.length) : lower)
      if (edits <= most) close.push({name, tier: 1, edits})
    }
  }
  // A name that differs only by its prefix or case is the one meant; typing mistakes only without one.
  const best = close.some((c) => c.tier === 0) ? close.filter((c) => c.tier === 0) : close
  best.sort((a, b) => a.edits - b.edits || a.name.length - b.name.length || a.name.localeCompare(b.name))
  return best.slice(0, limit).map((c) => c.name)
}

/** The names of `list` matching a glob, sorted; bad input, with close names, when none does. */
export function matchFunctions(list: FunctionList, pattern: string): string[] {
  checkFunctionPattern(pattern)
  const match = globToRegExp(pattern)
  const found = list.names.filter((name) => match.test(name)).sort()
  if (found.length > 0) return found
  const close = closeFunctionNames(pattern, list.names)
  const hint = close.length === 0 ? '' : `; did you mean ${close.length === 1 ? close[0] : `one of ${close.join(', ')}`}?`
  throw new BadInputError(`no traceable kernel function matches ${JSON.stringify(pattern)} (of ${list.names.length} in ${list.source})${hint}`, {
    pattern,
    didYouMean: close,
  })
}

/**
 * The functions routing matched, for a runner that attaches to each one: NotSupported when the
 * kernel's function list could not be read (src/run.ts reads it once, before routing).
 */
export function matchedFunctions(functions: string[] | undefined): string[] {
  if (!functions) throw new NotSupportedError("this kernel's functions cannot be listed: neither available_filter_functions nor /proc/kallsyms can be read")
  return functions
}
