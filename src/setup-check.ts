import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'

import {loadBpfAddon} from './system/bpf-addon.js'
import {packageRoot, packageVersion} from './system/paths.js'

/**
 * What `diag --version` and `diag doctor` report about diag's own set-up: the build (addon, BPF
 * objects), the tools it runs (clang, bpftool, perf), and the right to mount tracefs. The kernel's
 * side is `diag capabilities`; this is everything around it.
 */
export interface SetupCheck {
  name: string
  ok: boolean
  /** What was found, or what is missing. */
  detail: string
  /** The one command that fixes it, when it is missing. */
  fix: string | null
}

const npmRun = (script: string) => `npm --prefix ${packageRoot} run ${script}`

export function addonCheck(): SetupCheck & {libbpf: string | null; path: string | null} {
  const load = loadBpfAddon()
  if (!load.ok) return {name: 'addon', ok: false, libbpf: null, path: null, detail: `not loadable: ${load.tried.join('; ')}`, fix: npmRun('build:native')}
  const libbpf = load.addon.libbpfVersion()
  return {name: 'addon', ok: true, libbpf, path: load.path, detail: `${load.path}, on libbpf ${libbpf}`, fix: null}
}

/** The BPF C files diag builds: its own in bpf/ and each tool's in tools/<tool>/ (bpf/Makefile). */
function bpfSources(): string[] {
  const tools = path.join(packageRoot, 'tools')
  const folders = [path.join(packageRoot, 'bpf'), ...(existsSync(tools) ? readdirSync(tools).map((t) => path.join(tools, t)) : [])]
  return folders.filter((dir) => statSync(dir).isDirectory()).flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.bpf.c')).map((f) => path.join(dir, f)))
}

/**
 * Every BPF C file needs its bpf/<name>.bpf.o, no older than its source. An installed bundle ships
 * the objects without their sources: then the objects there are what counts.
 */
export function bpfObjectsCheck(): SetupCheck & {built: number; total: number} {
  const dir = path.join(packageRoot, 'bpf')
  const sources = bpfSources()
  if (sources.length === 0) {
    const objects = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.bpf.o')).length : 0
    const detail = `${objects} in ${dir} (built elsewhere; no sources here)`
    return {name: 'bpf-objects', ok: objects > 0, built: objects, total: objects, detail, fix: null}
  }
  const missing = sources.filter((source) => {
    const object = path.join(dir, path.basename(source).replace(/\.c$/, '.o'))
    return !existsSync(object) || statSync(object).mtimeMs < statSync(source).mtimeMs
  })
  const built = sources.length - missing.length
  const names = missing.map((m) => path.relative(packageRoot, m))
  const detail = missing.length === 0 ? `${built} of ${sources.length} built in ${dir}` : `${built} of ${sources.length} built; missing or stale: ${names.join(', ')}`
  return {name: 'bpf-objects', ok: missing.length === 0, built, total: sources.length, detail, fix: missing.length === 0 ? null : npmRun('build:bpf')}
}

/** A program diag or its build runs: there when `program args` runs and exits 0. */
async function programCheck(name: string, argv: string[], purpose: string, debianPackage: string): Promise<SetupCheck> {
  // Loaded here, not at the top: `diag --version` reads this module and runs no program.
  const {execa} = await import('execa')
  const result = await execa(argv[0], argv.slice(1), {reject: false, timeout: 10_000})
  const ok = result.exitCode === 0
  const version = `${result.stdout}\n${result.stderr}`.trim().split('\n')[0]
  return {
    name,
    ok,
    detail: ok ? `${version} (${purpose})` : `${argv.join(' ')} ${result.failed && result.exitCode === undefined ? 'not found' : `failed: ${version}`} (${purpose})`,
    fix: ok ? null : `apt-get install -y ${debianPackage}`,
  }
}

/** CAP_SYS_ADMIN is bit 21 of the effective capabilities. */
function hasSysAdmin(): boolean {
  const line = readFileSync('/proc/self/status', 'utf8').match(/^CapEff:\s*([0-9a-f]+)/m)
  return line !== null && (BigInt(`0x${line[1]}`) & (1n << 21n)) !== 0n
}

/** diag writes to tracefs, and mounts it privately when the host has not: both need root's rights. */
export function tracefsCheck(): SetupCheck {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '))
  const mounted = mounts.find((m) => m[2] === 'tracefs')?.[1]
  const sysAdmin = hasSysAdmin()
  if (sysAdmin) {
    const detail = mounted ? `mounted at ${mounted}; diag runs with CAP_SYS_ADMIN` : 'not mounted; diag has CAP_SYS_ADMIN and mounts it privately for each run'
    return {name: 'tracefs', ok: true, detail, fix: null}
  }
  return {
    name: 'tracefs',
    ok: false,
    detail: `${mounted ? `mounted at ${mounted}` : 'not mounted'}, and diag runs without CAP_SYS_ADMIN: it can neither mount tracefs nor load BPF`,
    fix: 'sudo diag ... (run diag as root)',
  }
}

export async function setupChecks(): Promise<SetupCheck[]> {
  const programs = await Promise.all([
    programCheck('clang', ['clang', '--version'], 'builds the BPF objects', 'clang llvm'),
    programCheck('bpftool', ['bpftool', 'version'], 'the tests compare probes with it', 'bpftool'),
    programCheck('perf', ['perf', '--version'], 'the perf backend', 'linux-perf'),
  ])
  const pick = ({name, ok, detail, fix}: SetupCheck): SetupCheck => ({name, ok, detail, fix})
  return [pick(addonCheck()), pick(bpfObjectsCheck()), ...programs, tracefsCheck()]
}

/** `diag --version`: diag's version, the libbpf it runs with, and whether its build is complete. */
export function versionLines(): string[] {
  const addon = addonCheck()
  const objects = bpfObjectsCheck()
  return [
    `diag ${packageVersion()} (node ${process.version}, ${process.platform}-${process.arch})`,
    addon.ok
      ? `libbpf ${addon.libbpf} (the system's, through the addon ${addon.path})`
      : `libbpf unknown: the addon is not built or does not load (${addon.fix})`,
    `BPF objects: ${objects.detail}${objects.fix ? ` (${objects.fix})` : ''}`,
  ]
}

