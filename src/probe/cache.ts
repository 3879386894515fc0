import {createHash} from 'node:crypto'
import {lstatSync, readFileSync, readdirSync, statSync} from 'node:fs'
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {readTextToEnd} from '../system/files.js'
import {bpfObjectPath, packageRoot} from '../system/paths.js'
import type {Outcome} from './types.js'

/**
 * Conclusive answers of the live probes that hold for a whole boot (does a program type load and
 * attach, does a map type exist), kept so that every diag run does not load and attach the same
 * probe programs again: that is most of `diag capabilities`' time and of a tool's start-up. An
 * installed program's answer (`perf --version`) is kept too, with the identity of the program's
 * file (Capability.stableWhile), and reused only while that file is the same.
 *
 * An answer is reused only for the same boot, kernel, diag build and privileges: the key holds
 * the boot id, the release, a fingerprint of the probe object, the addon and the capability table,
 * the effective capabilities and the lockdown mode. "unknown" is never cached. Only root uses the
 * cache, and only a file that root owns and nobody else can write: a cached "yes" decides what
 * diag loads into the kernel.
 */
export interface ProbeCache {
  load(): Promise<Map<string, CachedOutcome> | undefined>
  /**
   * Keeps these answers beside the others of this boot; with `replace` (--refresh, --no-cache) in
   * their place, so that what runs found after probing (tcp_sock's offsets) is found anew too.
   */
  save(outcomes: Map<string, CachedOutcome>, options?: {replace?: boolean}): Promise<void>
}

/**
 * This boot's cache as the runs after probing see it, for answers found later than the probe
 * that hold as long (tcp_sock's calibrated offsets, src/net/tcp-offsets.ts): the same file,
 * key and rules as the probes' answers.
 */
export interface BootAnswers {
  /** The answer kept under this name this boot; none when the run probes anew (--no-cache). */
  get(name: string): CachedOutcome | undefined
  /** Keeps the conclusive answers ("unknown" never is) for the rest of the run and in the cache; a cache that cannot be written is passed over. */
  keep(answers: Map<string, CachedOutcome>): Promise<void>
}

/**
 * BootAnswers over a cache and what the probe loaded from it (undefined when probing anew). What
 * this run keeps it also answers at once: a candidate that falls through to the next one does not
 * redo what the first found. Each keep is saved merged with the file as it is then (one read):
 * other diag processes (a runbook's parallel steps) may have saved answers since this run's probe
 * (two saving at the same moment can still lose one's: it is found again on a later run).
 */
export function bootAnswers(cache: ProbeCache, loaded: Map<string, CachedOutcome> | undefined): BootAnswers {
  const kept = new Map<string, CachedOutcome>()
  return {
    get: (name) => kept.get(name) ?? loaded?.get(name),
    keep(answers) {
      // An "unknown" is no answer: a later candidate asks again (and the file never holds one).
      for (const [name, answer] of answers) if (answer.status !== 'unknown') kept.set(name, answer)
      return cache.save(answers).catch(() => {})
    },
  }
}

/** A cached answer; `identity` is that of what it holds for (Capability.stableWhile), when it has one. */
export type CachedOutcome = Outcome & {identity?: string}

interface CacheFile {
  key: Record<string, string>
  outcomes: Record<string, CachedOutcome>
}

export const PROBE_CACHE_DIR = process.env.DIAG_CACHE_DIR ?? '/run/diag'

/** Written by scripts/bundle-js.mjs: a hash of every file of the bundle's code. */
export const BUILD_ID_FILE = 'build-id'

async function readTrimmed(file: string): Promise<string> {
  return (await readTextToEnd(file).catch(() => '')).trim()
}

/** Size and modification time of each file: a rebuilt diag probes anew. */
function fingerprint(files: string[], extra = ''): string {
  const hash = createHash('sha256').update(extra)
  for (const file of files) {
    try {
      const s = statSync(file)
      hash.update(`${file}:${s.size}:${s.mtimeMs}\n`)
    } catch {
      hash.update(`${file}:absent\n`)
    }
  }
  return hash.digest('hex').slice(0, 16)
}

/**
 * The code that runs the probes. In the esbuild bundle (scripts/bundle-js.mjs) that is all of the
 * bundle, named by the build id the bundling wrote: one small file to read rather than a stat of
 * each of its two hundred files. Built with tsc (or run from sources in tests) it is every file
 * beside this module and the capability table.
 */
export function probeCode(here: string, bundle: string): {files: string[]; id: string} {
  if (here.startsWith(`${bundle}${path.sep}`)) {
    try {
      return {files: [], id: readFileSync(path.join(bundle, BUILD_ID_FILE), 'utf8').trim()}
    } catch {
      // a bundle without its id (built by hand): its files, as below
    }
  }
  const files = (dir: string) => readdirSync(dir, {withFileTypes: true}).filter((e) => e.isFile()).map((e) => path.join(dir, e.name))
  const table = path.join(here, 'table')
  return {files: [...files(here), ...(statSync(table, {throwIfNoEntry: false})?.isDirectory() ? files(table) : [])], id: ''}
}

/** The diag build in the key: package.json, the probe object, the addon, and the probe code. */
export function diagBuild(here = path.dirname(fileURLToPath(import.meta.url)), bundle = path.join(packageRoot, 'dist', 'bundle')): string {
  const code = probeCode(here, bundle)
  return fingerprint(
    [path.join(packageRoot, 'package.json'), bpfObjectPath('probe'), path.join(packageRoot, 'native/build/Release/diag_bpf.node'), ...code.files],
    code.id,
  )
}

async function cacheKey(): Promise<Record<string, string>> {
  const [bootId, release, status, lockdown] = await Promise.all(
    ['/proc/sys/kernel/random/boot_id', '/proc/sys/kernel/osrelease', '/proc/self/status', '/sys/kernel/security/lockdown'].map(readTrimmed),
  )
  return {bootId, release, build: diagBuild(), capabilities: /^CapEff:\s*(\S+)/m.exec(status)?.[1] ?? '', lockdown}
}

/** Owned by root and writable by nobody else: the only files whose answers diag trusts. */
function trusted(file: string): boolean {
  try {
    const s = lstatSync(file)
    return (s.isFile() || s.isDirectory()) && s.uid === 0 && (s.mode & 0o022) === 0
  } catch {
    return false
  }
}

export class FileProbeCache implements ProbeCache {
  private readonly file: string
  private key: Promise<Record<string, string>> | undefined

  constructor(private readonly dir = PROBE_CACHE_DIR) {
    this.file = path.join(dir, 'probes.json')
  }

  /** Only root reads and writes it (see above). */
  static usable(): boolean {
    return process.geteuid?.() === 0
  }

  private currentKey(): Promise<Record<string, string>> {
    this.key ??= cacheKey()
    return this.key
  }

  async load(): Promise<Map<string, CachedOutcome> | undefined> {
    if (!trusted(this.dir) || !trusted(this.file)) return undefined
    let cached: CacheFile
    try {
      cached = JSON.parse(await readFile(this.file, 'utf8')) as CacheFile
    } catch {
      return undefined
    }
    const key = await this.currentKey()
    const same = Object.keys(key).every((k) => cached.key?.[k] === key[k]) && key.bootId !== ''
    if (!same || typeof cached.outcomes !== 'object' || cached.outcomes === null) return undefined
    return new Map(Object.entries(cached.outcomes).filter(([, o]) => o.status === 'available' || o.status === 'unavailable'))
  }

  /** Written whole to a temporary file and renamed, so a reader never sees half of it. */
  async save(outcomes: Map<string, CachedOutcome>, {replace = false}: {replace?: boolean} = {}): Promise<void> {
    const conclusive = [...outcomes].filter(([, o]) => o.status !== 'unknown')
    if (conclusive.length === 0) return
    const key = await this.currentKey()
    if (key.bootId === '') return
    await mkdir(this.dir, {recursive: true, mode: 0o755})
    if (!trusted(this.dir)) return
    const previous = (replace ? undefined : await this.load()) ?? new Map<string, CachedOutcome>()
    const merged = Object.fromEntries([...previous, ...conclusive])
    const temporary = `${this.file}.${process.pid}.tmp`
    await writeFile(temporary, `${JSON.stringify({key, outcomes: merged} satisfies CacheFile)}\n`, {mode: 0o644})
    await rename(temporary, this.file)
  }
}
