import {createHash} from 'node:crypto'
import {chmodSync, copyFileSync, cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync} from 'node:fs'
import {availableParallelism, tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {onExit} from 'signal-exit'

import {parseConfig} from '../helpers/ground-truth.js'
import {shellQuote} from '../../src/system/shell.js'

/**
 * The kernel lab: boots a kernel from ../shared/kernels under qemu (software emulation), with an
 * initramfs holding busybox, node, the libraries node and the addon need, and the built diag.
 * Each boot runs a list of shell commands and hands back each one's output and exit status.
 */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const KERNELS_DIR = process.env.DIAG_KERNELS ?? path.resolve(REPO, '../shared/kernels')

export interface LabKernel {
  name: string
  image: string
  /** Its build config, the lab's ground truth of what the kernel has. */
  config: string
  /** Modules to insmod at boot, in order (the Debian kernel's virtio block driver). */
  modules: string[]
  /** Modules a guest with networking loads after those, in order (virtio_net and what it needs); [] when built in. */
  netModules: string[]
}

// The Debian kernel's virtio_net and its dependencies, from the same package as its vmlinuz: beside
// the block driver in modules/, or where scripts/setup.sh fetches them from that package (or
// DIAG_LAB_NET_MODULES) when that folder lacks them.
const NET_MODULES_DIR = process.env.DIAG_LAB_NET_MODULES ?? '/var/cache/diag-lab/net-modules'
const DEBIAN_NET_MODULES = ['failover', 'net_failover', 'virtio_net'].map((m) => {
  const beside = path.join(KERNELS_DIR, 'debian-6.1-cloud/modules', `${m}.ko`)
  return existsSync(beside) ? beside : path.join(NET_MODULES_DIR, `${m}.ko`)
})

const ALL_KERNELS: Record<string, LabKernel> = {
  'debian-6.1': {
    name: 'debian-6.1',
    image: path.join(KERNELS_DIR, 'debian-6.1-cloud/vmlinuz'),
    config: path.join(KERNELS_DIR, 'debian-6.1-cloud/config'),
    modules: ['virtio', 'virtio_ring', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'virtio_blk'].map((m) =>
      path.join(KERNELS_DIR, 'debian-6.1-cloud/modules', `${m}.ko`),
    ),
    netModules: DEBIAN_NET_MODULES,
  },
  'linux-4.9': {
    name: 'linux-4.9',
    image: path.join(KERNELS_DIR, 'linux-4.9/bzImage'),
    config: path.join(KERNELS_DIR, 'linux-4.9/config'),
    modules: [],
    netModules: [],
  },
  'nobpf-6.1': {
    name: 'nobpf-6.1',
    image: path.join(KERNELS_DIR, 'nobpf-6.1/bzImage'),
    config: path.join(KERNELS_DIR, 'nobpf-6.1/config'),
    modules: [],
    netModules: [],
  },
}

/** The lab kernels, or those named in DIAG_LAB_KERNELS (comma-separated) to run fewer. */
export const LAB_KERNELS: Record<string, LabKernel> = Object.fromEntries(
  Object.entries(ALL_KERNELS).filter(([name]) => !process.env.DIAG_LAB_KERNELS || process.env.DIAG_LAB_KERNELS.split(',').includes(name)),
)

/** Why the lab cannot run here, or undefined when it can. */
export function labUnavailable(kernel: LabKernel): string | undefined {
  if (!existsSync(kernel.image)) return `no lab kernel at ${kernel.image}`
  for (const tool of ['/usr/bin/qemu-system-x86_64', '/bin/busybox', '/usr/bin/cpio'])
    if (!existsSync(tool)) return `${tool} is not installed (scripts/setup.sh installs it)`
  if (!existsSync(path.join(REPO, 'dist/bundle/commands/capabilities.js'))) return 'diag is not built (npm run build)'
  return undefined
}

export interface LabCase {
  id: string
  /** A shell command run by busybox sh in /diag; `diag` and `diag-workload` are on PATH. */
  command: string
}

export interface LabResult {
  exitCode: number
  stdout: string
  stderr: string
  seconds: number
}

export interface LabBoot {
  release: string
  results: Map<string, LabResult>
  /** Everything qemu printed, for failure messages. */
  console: string
  /** Wall time of the boot, from building its initramfs to power-off (a stalled first try included). */
  seconds: number
}

async function sharedLibraries(binaries: string[]): Promise<string[]> {
  const libraries = new Set<string>()
  for (const binary of binaries) {
    const {stdout} = await execa('ldd', [binary])
    for (const match of stdout.matchAll(/(\/\S+\.so[.\d]*)/g)) libraries.add(match[1])
  }
  return [...libraries]
}

/** Copies a file to the same path under root, following symlinks to the real file. */
function copyIntoRoot(root: string, file: string, as = file): void {
  const target = path.join(root, as)
  mkdirSync(path.dirname(target), {recursive: true})
  copyFileSync(file, target)
  chmodSync(target, statSync(file).mode)
}

async function productionPackages(): Promise<string[]> {
  const {stdout} = await execa('npm', ['ls', '--omit=dev', '--all', '--parseable'], {cwd: REPO, reject: false})
  return stdout.split('\n').filter((p) => p.startsWith(path.join(REPO, 'node_modules')))
}

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/diag/lab-bin:/bin:/usr/bin:/usr/sbin:/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
ip link set lo up
for module in /lab/modules/*.ko; do [ -e "$module" ] && insmod "$module"; done
echo "@@LAB-READY $(cat /proc/sys/kernel/osrelease)"
cd /diag
. /lab/cases.sh
echo "@@LAB-DONE"
sync
poweroff -f
`

const PERF = '/usr/bin/perf'
/**
 * The guests get the host's perf (Debian's linux-perf, which setup installs) with its libraries,
 * so that the perf backends are tested on the lab kernels as the others are.
 */
export const labHasPerf = existsSync(PERF)

// Each lab run (process) works in a directory of its own in the temp directory, named with its
// pid: the base image it holds and one work directory per boot. It goes at exit, also on SIGINT
// or SIGTERM; the directory of a run killed outright goes with the next run's sweep.
const RUN_DIR = /^diag-lab-run-(\d+)-\w+$/
const BASE_IMAGE = /^diag-lab-base-\w+\.cpio$/
const PARTIAL_IMAGE = /^diag-lab-base-\w+\.cpio\.partial-(\d+)$/
let runDir: string | undefined

function labRunDir(): string {
  if (runDir) return runDir
  sweepLabTemp(tmpdir())
  const dir = mkdtempSync(path.join(tmpdir(), `diag-lab-run-${process.pid}-`))
  onExit(() => {
    rmSync(dir, {recursive: true, force: true})
  })
  return (runDir = dir)
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes what lab runs left in the temp directory: the run directories and half-built images of
 * processes that are gone; and, given the image this run uses, base images of other builds that
 * no running lab holds (a run holds a hard link to its image: a count of one link means nobody).
 */
export function sweepLabTemp(dir: string, keep?: string, alive = processAlive): string[] {
  const removed: string[] = []
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name)
    const owner = RUN_DIR.exec(name)?.[1] ?? PARTIAL_IMAGE.exec(name)?.[1]
    const unheldImage = keep !== undefined && BASE_IMAGE.test(name) && file !== keep && statSync(file, {throwIfNoEntry: false})?.nlink === 1
    if ((owner && !alive(Number(owner))) || unheldImage) {
      rmSync(file, {recursive: true, force: true})
      removed.push(name)
    }
  }
  return removed
}

let base: Promise<string> | undefined

/**
 * The part of the initramfs that does not change between boots, held in this run's directory (a
 * hard link: another run that sweeps the temp directory cannot take it away). Built once per
 * run, and cached in the temp directory, keyed by what went into it, for the runs after.
 */
export function baseInitramfs(): Promise<string> {
  base ??= holdBaseInitramfs()
  return base
}

async function holdBaseInitramfs(): Promise<string> {
  const held = path.join(labRunDir(), 'base.cpio')
  for (let attempt = 1; ; attempt++) {
    const cache = await cachedBaseInitramfs()
    try {
      linkSync(cache, held)
      // Images of older builds are 100 MB each: keep only those in use.
      sweepLabTemp(tmpdir(), cache)
      return held
    } catch (error) {
      // Another run's sweep took the cache between its check and the link: build it again.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 1) throw error
    }
  }
}

async function cachedBaseInitramfs(): Promise<string> {
  const inputs = ['dist', 'bpf', 'bench/event-consumer.mjs', 'bench/tcp-calibration.mjs', 'runbooks', 'oclif.manifest.json', 'native/build/Release/diag_bpf.node', 'native/build/Release/diag-gate', 'test/workload/diag-workload', 'test/workload/diag-lookups', 'test/workload/diag-offcpu', 'test/workload/diag-spin', 'test/workload/diag-tcp', 'package.json', 'package-lock.json']
  const hash = createHash('sha256')
  const stamp = (p: string) => {
    const full = path.join(REPO, p)
    if (!existsSync(full)) return
    const st = statSync(full)
    hash.update(`${p}:${st.size}:${st.mtimeMs}`)
    if (st.isDirectory()) for (const entry of readdirSorted(full)) stamp(path.join(p, entry))
  }
  inputs.forEach(stamp)
  if (labHasPerf) hash.update(`perf:${statSync(PERF).size}:${statSync(PERF).mtimeMs}`)
  hash.update(readFileSync(fileURLToPath(import.meta.url))) // how the image is built is an input too
  const cache = path.join(tmpdir(), `diag-lab-base-${hash.digest('hex').slice(0, 16)}.cpio`)
  if (existsSync(cache)) return cache

  const root = mkdtempSync(path.join(labRunDir(), 'root-'))
  try {
    for (const dir of ['bin', 'dev', 'proc', 'sys', 'tmp', 'root', 'lab/modules', 'diag/lab-bin', 'sys/kernel/tracing', 'sys/kernel/debug'])
      mkdirSync(path.join(root, dir), {recursive: true})
    copyIntoRoot(root, '/bin/busybox')
    copyIntoRoot(root, process.execPath, '/usr/bin/node')
    const addon = path.join(REPO, 'native/build/Release/diag_bpf.node')
    for (const library of await sharedLibraries([process.execPath, addon])) copyIntoRoot(root, library)
    copyIntoRoot(root, '/lib64/ld-linux-x86-64.so.2')
    for (const p of ['package.json', 'oclif.manifest.json', 'dist', 'bin', 'schema', 'runbooks', 'bench/event-consumer.mjs', 'bench/tcp-calibration.mjs', 'native/build/Release/diag_bpf.node', 'native/build/Release/diag-gate'])
      cpSync(path.join(REPO, p), path.join(root, 'diag', p), {recursive: true})
    mkdirSync(path.join(root, 'diag/bpf'))
    for (const object of readdirSorted(path.join(REPO, 'bpf')).filter((f) => f.endsWith('.bpf.o')))
      copyFileSync(path.join(REPO, 'bpf', object), path.join(root, 'diag/bpf', object))
    for (const pkg of await productionPackages())
      cpSync(pkg, path.join(root, 'diag', path.relative(REPO, pkg)), {recursive: true, dereference: true})
    copyIntoRoot(root, path.join(REPO, 'test/workload/diag-workload'), '/diag/lab-bin/diag-workload')
    // Dynamically linked on the libc node brought (gethostlatency traces it), with what it needs besides.
    copyIntoRoot(root, path.join(REPO, 'test/workload/diag-lookups'), '/diag/lab-bin/diag-lookups')
    for (const library of await sharedLibraries([path.join(REPO, 'test/workload/diag-lookups')])) copyIntoRoot(root, library)
    // Dynamically linked: its libc and loader are node's, already in the image.
    copyIntoRoot(root, path.join(REPO, 'test/workload/diag-offcpu'), '/diag/lab-bin/diag-offcpu')
    copyIntoRoot(root, path.join(REPO, 'test/workload/diag-spin'), '/diag/lab-bin/diag-spin')
    // Static; on loopback, which init brings up.
    copyIntoRoot(root, path.join(REPO, 'test/workload/diag-tcp'), '/diag/lab-bin/diag-tcp')
    if (labHasPerf) {
      copyIntoRoot(root, PERF)
      for (const library of await sharedLibraries([PERF])) copyIntoRoot(root, library)
    }
    writeFileSync(path.join(root, 'diag/lab-bin/diag'), '#!/bin/sh\nexec /usr/bin/node /diag/bin/run.js "$@"\n', {mode: 0o755})
    mkdirSync(path.join(root, 'etc'))
    writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n') // oclif asks for the user
    writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\n')
    writeFileSync(path.join(root, 'etc/hosts'), '127.0.0.1 localhost\n') // diag-lookups' name resolves from the file
    writeFileSync(path.join(root, 'init'), INIT, {mode: 0o755})
    await packCpioAtomically(root, cache)
    return cache
  } finally {
    rmSync(root, {recursive: true, force: true})
  }
}

/** Packs a directory tree as a newc cpio archive (what the kernel unpacks as its initramfs). */
async function packCpio(dir: string, out: string): Promise<void> {
  await execa('sh', ['-c', `find . -print0 | sort -z | cpio --null -o -H newc --quiet > '${out}'`], {cwd: dir})
}

/** Packs a cached image under a name of its own first, so that no reader ever sees it half written. */
async function packCpioAtomically(dir: string, cache: string): Promise<void> {
  const partial = `${cache}.partial-${process.pid}`
  await packCpio(dir, partial)
  await execa('mv', [partial, cache])
}

/** The initrd of one boot: a cached base image, then this boot's own files (later archives add to earlier ones). */
async function initrdWith(base: string, extra: string, work: string): Promise<string> {
  const extraCpio = path.join(work, 'extra.cpio')
  await packCpio(extra, extraCpio)
  const initrd = path.join(work, 'initrd.cpio')
  await execa('sh', ['-c', `cat '${base}' '${extraCpio}' > '${initrd}'`])
  return initrd
}

function readdirSorted(dir: string): string[] {
  return statSync(dir).isDirectory() ? readdirSync(dir).sort() : []
}

export {shellQuote}

// A case that runs longer is stopped, so that one hang cannot eat the whole boot. It is killed
// with SIGKILL: diag catches SIGTERM to clean up, and a diag stuck in cleanup would ignore it.
// first-look (eight steps, a diag process each) takes 106 to 146 s under emulation alone; boots
// run up to 1.85 times slower in CI (two at once beside the host tests), which brings it to about
// 270 s: hence four times its usual time, so that only a hang is stopped.
const CASE_TIMEOUT_S = 600

/**
 * The per-boot script: each case's stdout and stderr go to the console base64-encoded. A case runs
 * in its own session; a watchdog prints what its processes are blocked on before killing them,
 * so that a hang reports where it hung.
 */
function casesScript(cases: LabCase[]): string {
  const lines = [
    'lab_hung() {',
    '  echo "@@HUNG $1"',
    '  for p in /proc/[0-9]*; do',
    '    sid=$(cut -d" " -f6 $p/stat 2>/dev/null)',
    '    [ "$sid" = "$2" ] || continue',
    '    echo "pid ${p#/proc/} $(cut -d" " -f3 $p/stat) wchan=$(cat $p/wchan 2>/dev/null) $(tr "\\0" " " < $p/cmdline | cut -c1-120)"',
    '    for t in $p/task/*; do echo "  task ${t##*/} $(cut -d" " -f3 $t/stat) wchan=$(cat $t/wchan 2>/dev/null)"; cat $t/stack 2>/dev/null | sed "s/^/    /"; done',
    '  done',
    '  echo "@@HUNG-END $1"',
    '}',
    'lab_case() {',
    '  start=$(cut -d" " -f1 /proc/uptime)',
    '  echo "@@START $1"',
    '  setsid sh -c "$2" > /tmp/out 2> /tmp/err < /dev/null &',
    '  pid=$!',
    `  ( sleep ${CASE_TIMEOUT_S}; lab_hung "$1" "$pid"; kill -9 -"$pid" ) &`,
    '  dog=$!',
    '  wait "$pid"',
    '  rc=$?',
    '  kill "$dog" 2>/dev/null',
    '  end=$(cut -d" " -f1 /proc/uptime)',
    '  echo "@@CASE $1 $rc $start $end"',
    '  base64 /tmp/out',
    '  echo "@@STDERR $1"',
    '  base64 /tmp/err',
    '  echo "@@END $1"',
    '}',
  ]
  for (const c of cases) {
    if (!/^[\w.-]+$/.test(c.id)) throw new Error(`lab case ids are words: ${c.id}`)
    lines.push(`lab_case ${c.id} ${shellQuote(c.command)}`)
  }
  return `${lines.join('\n')}\n`
}

/** A boot whose console went silent for longer than any case may run: the emulated machine stalled. */
class LabStall extends Error {}

/** The watchdog's reports, by case: what the processes of a case it killed were blocked on. */
function hangReports(console: string): Map<string, string> {
  const reports = new Map<string, string>()
  for (const m of console.matchAll(/@@HUNG (\S+)\r?\n([\s\S]*?)@@HUNG-END \1/g))
    reports.set(m[1], `killed after ${CASE_TIMEOUT_S} s; its processes were:\n${m[2]}`)
  return reports
}

function parseConsole(console: string, stalled: boolean, timedOutS?: number): Omit<LabBoot, 'seconds'> {
  const release = /@@LAB-READY (\S+)/.exec(console)?.[1]
  const hung = hangReports(console)
  if (!release || !console.includes('@@LAB-DONE')) {
    const last = [...console.matchAll(/@@START (\S+)/g)].pop()?.[1]
    const what = `the lab VM did not finish its cases${last ? ` (it was running ${last})` : ''}${timedOutS ? `: stopped after ${timedOutS} s, the boot's time limit` : ''}`
    // Only a machine that stopped without its watchdog speaking is a stall; a case that hung is diag's.
    if (stalled && hung.size === 0) throw new LabStall(`${what}: its console was silent for ${STALL_S} s`)
    const where = [...hung].map(([id, report]) => `\n${id} ${report}`).join('')
    throw new Error(`${what}${where}\n${console.slice(-4000)}`)
  }
  const results = new Map<string, LabResult>()
  const pattern = /@@CASE (\S+) (\d+) ([\d.]+) ([\d.]+)\r?\n([\s\S]*?)@@STDERR \1\r?\n([\s\S]*?)@@END \1/g
  const decode = (text: string) => Buffer.from(text.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('utf8')
  for (const m of console.matchAll(pattern))
    results.set(m[1], {exitCode: Number(m[2]), stdout: decode(m[5]), stderr: decode(m[6]), seconds: Number(m[4]) - Number(m[3])})
  // A case the watchdog killed: what its processes were blocked on goes with its stderr.
  for (const [id, report] of hung) {
    const result = results.get(id)
    if (result) result.stderr = `${report}\n${result.stderr}`
  }
  return {release, results, console}
}

// Every case prints within CASE_TIMEOUT_S (its result, or the watchdog's report): a console silent
// for longer means the emulated machine itself stopped.
const STALL_S = CASE_TIMEOUT_S + 60

/**
 * qemu's arguments for a boot: with a virtio disk and no network (the lab's boots), or with QEMU
 * user networking and no disk (a guest), sshd's port forwarded from 127.0.0.1 only.
 */
function qemuArgs(kernel: LabKernel, initrd: string, attach: {disk: string} | {sshPort: number}): string[] {
  return [
    '-kernel', kernel.image,
    '-initrd', initrd,
    '-append', 'console=ttyS0 panic=-1 quiet loglevel=1',
    // rdrand lets the kernel seed its random generator at boot (random.trust_cpu), so the first
    // node does not wait in getrandom() for entropy that an idle emulated machine gathers slowly.
    '-cpu', 'qemu64,+rdrand',
    // One host thread for both CPUs: with a thread per CPU (MTTCG) the guest sometimes stops dead
    // while the kernel patches its own text, as every tracepoint enable does (see the README).
    '-accel', 'tcg,thread=single',
    '-nographic', '-no-reboot', '-m', '2048', '-smp', '2',
    ...('disk' in attach
      ? ['-nic', 'none', '-drive', `file=${attach.disk},format=raw,if=virtio`]
      : ['-nic', `user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:${attach.sshPort}-:22`]),
  ]
}

async function runQemu(kernel: LabKernel, initrd: string, disk: string, timeoutMs: number): Promise<Omit<LabBoot, 'seconds'>> {
  const qemu = execa('qemu-system-x86_64', qemuArgs(kernel, initrd, {disk}), {reject: false, timeout: timeoutMs, stdin: 'ignore'})
  let stalled = false
  const silence = setTimeout(() => {
    stalled = true
    qemu.kill('SIGKILL')
  }, STALL_S * 1000)
  qemu.stdout?.on('data', () => silence.refresh())
  const result = await qemu
  clearTimeout(silence)
  return parseConsole(`${result.stdout}\n${result.stderr}`, stalled, result.timedOut ? timeoutMs / 1000 : undefined)
}

export interface LabBootOptions {
  /** Bounds each boot (a stalled one's second try has as long again); by default, room for a hung case's watchdog and more. */
  timeoutMs?: number
  /** Sizes the virtio disk. */
  diskMiB?: number
  /** Host files this boot's image gets on top of the base image, which stays as it is (a bench's bpftrace). */
  hostFiles?: HostFiles
}

export interface HostFiles {
  /** Programs, at their paths, with the shared libraries they link (ldd). */
  programs?: string[]
  /** Files and folders, at their paths (the headers a program reads, a script). */
  paths?: string[]
}

/** Copies host files into an image's root at the paths they have here, programs with their libraries. */
export async function addHostFiles(root: string, files: HostFiles): Promise<void> {
  const programs = files.programs ?? []
  for (const file of [...programs, ...(await sharedLibraries(programs))]) copyIntoRoot(root, file)
  for (const file of files.paths ?? []) cpSync(file, path.join(root, file), {recursive: true, dereference: true})
}

/**
 * Boots the kernel once, runs every case in order, and powers off. A boot whose machine stalled
 * (see STALL_S) is tried once more, saying so; a case that hangs fails the boot with where it hung.
 * Boots may run side by side: each works in a directory of its own. Its errors name the kernel.
 */
export async function bootLab(kernel: LabKernel, cases: LabCase[], options: LabBootOptions = {}): Promise<LabBoot> {
  const started = performance.now()
  let work: string | undefined
  try {
    const base = await baseInitramfs()
    work = mkdtempSync(path.join(labRunDir(), `${kernel.name}-`))
    const extra = path.join(work, 'extra')
    mkdirSync(path.join(extra, 'lab/modules'), {recursive: true})
    writeFileSync(path.join(extra, 'lab/cases.sh'), casesScript(cases))
    kernel.modules.forEach((module, i) => copyFileSync(module, path.join(extra, 'lab/modules', `${i}-${path.basename(module)}`)))
    if (options.hostFiles) await addHostFiles(extra, options.hostFiles)
    const initrd = await initrdWith(base, extra, work)
    const disk = path.join(work, 'disk.img')
    for (let attempt = 1; ; attempt++) {
      writeFileSync(disk, '') // a second boot starts from an empty disk too
      truncateSync(disk, (options.diskMiB ?? 64) * 2 ** 20)
      try {
        const boot = await runQemu(kernel, initrd, disk, options.timeoutMs ?? 2 * CASE_TIMEOUT_S * 1000)
        return {...boot, seconds: (performance.now() - started) / 1000}
      } catch (error) {
        if (!(error instanceof LabStall) || attempt > 1) throw error
        console.warn(`lab: ${kernel.name}: ${error.message}; booting it again`)
      }
    }
  } catch (error) {
    throw new Error(`lab kernel ${kernel.name}: ${(error as Error).message}`, {cause: error})
  } finally {
    if (work) rmSync(work, {recursive: true, force: true})
  }
}

/** How many lab kernels boot at once: DIAG_LAB_CONCURRENCY, else two (each qemu keeps one host core busy). */
export function labConcurrency(env = process.env): number {
  const setting = env.DIAG_LAB_CONCURRENCY
  if (setting === undefined || setting === '') return Math.min(2, availableParallelism())
  if (!/^[1-9]\d*$/.test(setting)) throw new Error(`DIAG_LAB_CONCURRENCY must be a whole number of boots, at least 1: ${setting}`)
  return Number(setting)
}

/** Runs the jobs in order, at most `limit` at a time; each job's promise settles as the job does. */
export function withLimit<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T>[] {
  let running = 0
  const waiting: (() => void)[] = []
  return jobs.map(
    (job) =>
      new Promise<T>((resolve, reject) => {
        const start = () => {
          running++
          Promise.resolve()
            .then(job)
            .then(resolve, reject)
            .finally(() => {
              running--
              waiting.shift()?.()
            })
        }
        if (running < limit) start()
        else waiting.push(start)
      }),
  )
}

export interface LabBootJob {
  kernel: LabKernel
  cases: LabCase[]
  options?: LabBootOptions
}

/**
 * Starts every kernel's boot, DIAG_LAB_CONCURRENCY at a time (labConcurrency), and hands back each
 * kernel's boot by name, for its tests to await. A boot that fails before its tests await it is
 * not an unhandled rejection: its tests get the error.
 */
export function startLabBoots(jobs: LabBootJob[], limit = labConcurrency()): Map<string, Promise<LabBoot>> {
  const boots = withLimit(
    jobs.map((job) => () => bootLab(job.kernel, job.cases, job.options)),
    limit,
  )
  for (const boot of boots) boot.catch(() => {})
  return new Map(jobs.map((job, i) => [job.kernel.name, boots[i]]))
}

/** Reads a kernel config file into symbol -> value, as the lab's ground truth. */
export function labConfig(kernel: LabKernel): Map<string, string> {
  return existsSync(kernel.config) ? parseConfig(readFileSync(kernel.config, 'utf8')) : new Map()
}

/*
 * Guests: a lab kernel that stays up, on the network, as a host of a fleet. QEMU user networking
 * gives it 10.0.2.15 and forwards a port of 127.0.0.1 (only) to its sshd. Its image has what a
 * bare host has (busybox, glibc, dash, the host's OpenSSH sshd with its libraries) and
 * no Node.js and no diag: `diag fleet` copies its bundle there, which brings its own runtime.
 */

export interface GuestNetwork {
  /** The port of 127.0.0.1 forwarded to the guest's sshd. */
  sshPort: number
  /** sshd's private host key (a file of the test's); the guest gets a copy. */
  hostKey: string
  /** The authorized_keys for root. */
  authorizedKeys: string
}

export interface LabGuest {
  kernel: LabKernel
  release: string
  sshPort: number
  /** Everything qemu printed so far, for failure messages. */
  console(): string
  /** Tells the guest to power off, and waits for qemu to end (killing it if the guest does not). */
  powerOff(): Promise<void>
  /** Ends qemu at once (SIGKILL): the machine is gone, as in a power cut. */
  kill(): void
}

const SSHD_BINARY = '/usr/sbin/sshd'
// dash as root's shell and as `sh` on PATH (as on Debian). No GNU tar nor gzip: the bundle's
// install script unpacks with busybox's tar (its --strip-components and --no-same-owner), as on a
// host with busybox alone.
const GUEST_TOOLS = ['/usr/bin/dash']
const GLIBC = /\/(ld-linux[\w-]*|libc|libm|libdl|libpthread|librt|libresolv|libutil)\.so/

/** Why a guest of this kernel cannot boot here, or undefined when it can. */
export function guestUnavailable(kernel: LabKernel): string | undefined {
  if (!existsSync(kernel.image)) return `no lab kernel at ${kernel.image}`
  for (const tool of ['/usr/bin/qemu-system-x86_64', '/bin/busybox', '/usr/bin/cpio', SSHD_BINARY, ...GUEST_TOOLS])
    if (!existsSync(tool)) return `${tool} is not installed (scripts/setup.sh installs it)`
  const missing = kernel.netModules.filter((m) => !existsSync(m))
  if (missing.length > 0)
    return `its network driver is a module and ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing (from linux-image-6.1.0-50-cloud-amd64-unsigned 6.1.176-1; or name a folder with them in DIAG_LAB_NET_MODULES)`
  return undefined
}

const GUEST_INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
ip link set lo up
for module in /lab/modules/*.ko; do [ -e "$module" ] && insmod "$module"; done
# QEMU user networking: the guest is 10.0.2.15, the gateway (the host) 10.0.2.2.
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config &
echo "@@LAB-READY $(cat /proc/sys/kernel/osrelease)"
# Up until the test writes "poweroff" to the console (qemu's stdin), or closes it.
while read -r line; do [ "$line" = poweroff ] && break; done
echo "@@LAB-DONE"
poweroff -f
`

const GUEST_SSHD_CONFIG = ['Port 22', 'HostKey /etc/ssh/host_key', 'AuthorizedKeysFile /etc/ssh/authorized_keys', 'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'UseDNS no', 'StrictModes no', 'PidFile /run/sshd.pid', ''].join('\n')

/** The image of every guest (cached like baseInitramfs), without its keys and modules. */
let guestImage: Promise<string> | undefined

/** The guests' image, built once per run: guests boot at once, and must not build it side by side. */
export function guestInitramfs(): Promise<string> {
  guestImage ??= buildGuestInitramfs()
  return guestImage
}

async function buildGuestInitramfs(): Promise<string> {
  const hash = createHash('sha256')
  for (const file of [SSHD_BINARY, ...GUEST_TOOLS, WORKLOAD]) {
    const st = statSync(file)
    hash.update(`${file}:${st.size}:${st.mtimeMs}`)
  }
  hash.update(readFileSync(fileURLToPath(import.meta.url)))
  const cache = path.join(tmpdir(), `diag-lab-guest-${hash.digest('hex').slice(0, 16)}.cpio`)
  if (existsSync(cache)) return cache
  // Guest images of older builds: keep only the one being made.
  for (const old of readdirSync(tmpdir()).filter((f) => /^diag-lab-guest-\w+\.cpio$/.test(f))) rmSync(path.join(tmpdir(), old), {force: true})
  const root = mkdtempSync(path.join(labRunDir(), 'guest-root-'))
  try {
    for (const dir of ['bin', 'usr/bin', 'dev', 'proc', 'sys', 'tmp', 'root', 'run/sshd', 'var/tmp', 'etc/ssh', 'lab/modules', 'sys/kernel/tracing', 'sys/kernel/debug'])
      mkdirSync(path.join(root, dir), {recursive: true, mode: 0o755})
    chmodSync(path.join(root, 'tmp'), 0o1777)
    chmodSync(path.join(root, 'var/tmp'), 0o1777)
    copyIntoRoot(root, '/bin/busybox')
    copyIntoRoot(root, SSHD_BINARY)
    for (const tool of GUEST_TOOLS) copyIntoRoot(root, tool)
    copyIntoRoot(root, '/usr/bin/dash', '/usr/bin/sh')
    // glibc as every host has it (the bundle leaves it out), and what sshd and dash need besides.
    const glibc = (await sharedLibraries([process.execPath])).filter((library) => GLIBC.test(library))
    for (const library of [...glibc, ...(await sharedLibraries([SSHD_BINARY, ...GUEST_TOOLS]))]) copyIntoRoot(root, library)
    copyIntoRoot(root, '/lib64/ld-linux-x86-64.so.2')
    // At the path it has here: `diag fleet run` starts the same command line on every host.
    copyIntoRoot(root, WORKLOAD)
    writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/usr/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n')
    writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n')
    writeFileSync(path.join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\n', {mode: 0o600})
    writeFileSync(path.join(root, 'etc/ssh/sshd_config'), GUEST_SSHD_CONFIG)
    writeFileSync(path.join(root, 'init'), GUEST_INIT, {mode: 0o755})
    await packCpioAtomically(root, cache)
    return cache
  } finally {
    rmSync(root, {recursive: true, force: true})
  }
}

const WORKLOAD = path.join(REPO, 'test/workload/diag-workload')

/**
 * Boots a kernel as a guest on the network, with sshd up, and leaves it running: resolves once
 * the guest said it is ready (sshd started; a login may take a few more seconds under emulation).
 */
export async function startGuest(kernel: LabKernel, options: {network: GuestNetwork; readyTimeoutMs?: number}): Promise<LabGuest> {
  const base = await guestInitramfs()
  // In this run's directory, which goes at exit also when the run is interrupted.
  const work = mkdtempSync(path.join(labRunDir(), `guest-${kernel.name}-`))
  const extra = path.join(work, 'extra')
  mkdirSync(path.join(extra, 'lab/modules'), {recursive: true})
  mkdirSync(path.join(extra, 'etc/ssh'), {recursive: true})
  copyFileSync(options.network.hostKey, path.join(extra, 'etc/ssh/host_key'))
  chmodSync(path.join(extra, 'etc/ssh/host_key'), 0o600) // sshd refuses a host key others can read
  copyFileSync(options.network.authorizedKeys, path.join(extra, 'etc/ssh/authorized_keys'))
  ;[...kernel.modules, ...kernel.netModules].forEach((module, i) => copyFileSync(module, path.join(extra, 'lab/modules', `${String(i).padStart(2, '0')}-${path.basename(module)}`)))
  const initrd = await initrdWith(base, extra, work)
  const qemu = execa('qemu-system-x86_64', qemuArgs(kernel, initrd, {sshPort: options.network.sshPort}), {reject: false, stdin: 'pipe', all: true})
  let output = ''
  qemu.all?.on('data', (chunk: Buffer) => (output += chunk))
  const ended = qemu.then(() => rmSync(work, {recursive: true, force: true}))
  const release = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      qemu.kill('SIGKILL')
      reject(new Error(`${kernel.name} did not come up in ${(options.readyTimeoutMs ?? 600_000) / 1000} s:\n${output.slice(-4000)}`))
    }, options.readyTimeoutMs ?? 600_000)
    const watch = () => {
      // The whole line: the console may hand the release over in pieces.
      const ready = /@@LAB-READY (\S+)\r?\n/.exec(output)
      if (ready) {
        clearTimeout(timer)
        qemu.all?.off('data', watch)
        resolve(ready[1])
      }
    }
    qemu.all?.on('data', watch)
    void ended.then(() => {
      clearTimeout(timer)
      reject(new Error(`${kernel.name} ended before it was ready:\n${output.slice(-4000)}`))
    })
  })
  return {
    kernel,
    release,
    sshPort: options.network.sshPort,
    console: () => output,
    async powerOff() {
      if (qemu.exitCode === null && !qemu.killed) {
        qemu.stdin?.end('poweroff\n')
        const timer = setTimeout(() => qemu.kill('SIGKILL'), 60_000)
        await ended
        clearTimeout(timer)
      }
      await ended
    },
    kill() {
      qemu.kill('SIGKILL')
    },
  }
}
