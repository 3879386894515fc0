import {createHash} from 'node:crypto'
import {lstatSync, readdirSync, statSync} from 'node:fs'
import {mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {readTextToEnd} from '../system/files.js'
import {bpfObjectPath, packageRoot} from '../system/paths.js'
import type {Outcome} from './types.js'

/**
 * Conclusive answers of the live probes that hold for a whole boot (does a program type load and
 * attach, does a map type exist), kept so that every diag run does not load and attach the same
 * probe programs again: that is most of `diag capabilities`' time and of a tool's start-up.
 *
 * An answer is reused only for the same boot, kernel, diag build and privileges: the key holds
 * the boot id, the release, a fingerprint of the probe object, the addon and the capability table,
 * the effective capabilities and the lockdown mode. "unknown" is never cached. Only root uses the
 * cache, and only a file that root owns and nobody else can write: a cached "yes" decides what
 * diag loads into the kernel.
 */
export interface ProbeCache {
  load(): Promise<Map<string, Outcome> | undefined>
  save(outcomes: Map<string, Outcome>): Promise<void>
}

interface CacheFile {
  key: Record<string, string>
  outcomes: Record<string, Outcome>
}

export const PROBE_CACHE_DIR = process.env.DIAG_CACHE_DIR ?? '/run/diag'

async function readTrimmed(file: string): Promise<string> {
  return (await readTextToEnd(file).catch(() => '')).trim()
}

/** Size and modification time of each file: a rebuilt diag probes anew. */
function fingerprint(files: string[]): string {
  const hash = createHash('sha256')
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
 * The code that runs the probes: every file beside this module, and the capability table. Built
 * with tsc that is dist/src/probe/ with its table/; in the esbuild bundle (scripts/bundle-js.mjs)
 * it is the bundle's directory, whose files hold all of diag's code.
 */
function probeCodeFiles(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const files = (dir: string) => readdirSync(dir, {withFileTypes: true}).filter((e) => e.isFile()).map((e) => path.join(dir, e.name))
  const table = path.join(here, 'table')
  return [...files(here), ...(statSync(table, {throwIfNoEntry: false})?.isDirectory() ? files(table) : [])]
}

function diagBuild(): string {
  return fingerprint([
    path.join(packageRoot, 'package.json'),
    bpfObjectPath('probe'),
    path.join(packageRoot, 'native/build/Release/diag_bpf.node'),
    ...probeCodeFiles(),
  ])
}

async function cacheKey(): Promise<Record<string, string>> {
  const status = await readTrimmed('/proc/self/status')
  return {
    bootId: await readTrimmed('/proc/sys/kernel/random/boot_id'),
    release: await readTrimmed('/proc/sys/kernel/osrelease'),
    build: diagBuild(),
    capabilities: /^CapEff:\s*(\S+)/m.exec(status)?.[1] ?? '',
    lockdown: await readTrimmed('/sys/kernel/security/lockdown'),
  }
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

  async load(): Promise<Map<string, Outcome> | undefined> {
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
  async save(outcomes: Map<string, Outcome>): Promise<void> {
    const conclusive = [...outcomes].filter(([, o]) => o.status !== 'unknown')
    if (conclusive.length === 0) return
    const key = await this.currentKey()
    if (key.bootId === '') return
    await mkdir(this.dir, {recursive: true, mode: 0o755})
    if (!trusted(this.dir)) return
    const previous = (await this.load()) ?? new Map<string, Outcome>()
    const merged = Object.fromEntries([...previous, ...conclusive])
    const temporary = `${this.file}.${process.pid}.tmp`
    await writeFile(temporary, `${JSON.stringify({key, outcomes: merged} satisfies CacheFile)}\n`, {mode: 0o644})
    await rename(temporary, this.file)
  }
}
