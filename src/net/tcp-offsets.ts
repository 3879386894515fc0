/**
 * Where the running kernel keeps a few fields of struct tcp_sock, found without BTF: diag opens a
 * loopback TCP connection of its own, moves distinctive byte counts both ways, and asks the kernel
 * for the socket's TCP_INFO; a kprobe on tcp_get_info (bpf/tcp-offsets.bpf.c), which that very
 * getsockopt calls in diag's own process, copies the head of the socket. The kernel computes
 * tcp_info from the fields (tcp_get_info: tcpi_rtt = srtt_us >> 3, tcpi_rttvar = mdev_us >> 2,
 * tcpi_bytes_acked = bytes_acked, tcpi_bytes_received = bytes_received, since 4.1), so a field
 * is where the dump holds what tcp_info reported, in every one of several connections, and only
 * there. A field found in more than one place, or in none, is refused, never guessed; where the
 * kernel has BTF too, each offset found must be the one BTF gives. The offsets found are kept for
 * the boot in the probe cache (src/probe/cache.ts: keyed by boot id and release, so another kernel
 * build of the same version is another boot), each field on its own.
 */
import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import type {RunContext} from '../../backends/runner.js'
import {BackendError, NotSupportedError} from '../errors.js'
import type {BootAnswers, CachedOutcome} from '../probe/cache.js'
import {type BpfAddon, type TcpLoopbackInfo, loadBpfAddon} from '../system/bpf-addon.js'

/** The fields calibrated, by their names in struct tcp_sock. */
export type TcpSockField = 'srtt_us' | 'mdev_us' | 'bytes_acked' | 'bytes_received'

/**
 * The size of an IPv4 TCP socket's slab object (the TCP cache's objsize in /proc/slabinfo: at
 * least sizeof(struct tcp_sock)), or undefined where it cannot be read. A dump is searched only
 * that far: past it lies the next socket of the slab, which can hold the same counts (seen on 4.9).
 */
export function tcpSockSize(slabinfo: string): number | undefined {
  const line = slabinfo.split('\n').find((l) => l.startsWith('TCP '))
  const size = Number(line?.trim().split(/\s+/)[3])
  return Number.isInteger(size) && size > 0 ? size : undefined
}

/** One connection: what TCP_INFO reported, and the socket's head as tcp_get_info began. */
export interface SockDump {
  info: TcpLoopbackInfo
  bytes: Buffer
}

/** Each field's offset in tcp_sock, or why it was not found. */
export type TcpSockOffsets = Record<TcpSockField, {offset: number} | {why: string}>

// Client and server byte counts of each calibration connection: distinct, odd, unlike any
// constant a socket holds. Three connections: a field must match in each.
export const TRANSFERS: [number, number][] = [
  [300_017, 200_029],
  [123_457, 345_679],
  [77_773, 55_541],
]

const DUMP_CHUNK = 256
const DUMP_CHUNKS = 16

/** The 4-byte-aligned offsets whose u32 `matches` in every dump. */
function u32Matches(dumps: SockDump[], matches: (value: number, info: TcpLoopbackInfo) => boolean): number[] {
  const size = Math.min(...dumps.map((d) => d.bytes.length))
  const found: number[] = []
  for (let offset = 0; offset + 4 <= size; offset += 4) {
    if (dumps.every((d) => matches(d.bytes.readUInt32LE(offset), d.info))) found.push(offset)
  }
  return found
}

/** The 8-byte-aligned offsets whose u64 equals `expected(info)` in every dump. */
function u64Matches(dumps: SockDump[], expected: (info: TcpLoopbackInfo) => number | null): number[] {
  const size = Math.min(...dumps.map((d) => d.bytes.length))
  const found: number[] = []
  for (let offset = 0; offset + 8 <= size; offset += 8) {
    if (dumps.every((d) => expected(d.info) !== null && d.bytes.readBigUInt64LE(offset) === BigInt(expected(d.info)!))) found.push(offset)
  }
  return found
}

const places = (offsets: number[]) => (offsets.length ? `${offsets.length} places (${offsets.join(', ')})` : 'no place')

function unique(field: TcpSockField, what: string, offsets: number[]): {offset: number} | {why: string} {
  return offsets.length === 1 ? {offset: offsets[0]} : {why: `tcp_sock.${field}: ${what} in ${places(offsets)} of the socket, not exactly one`}
}

/**
 * The fields' offsets in dumps of one kernel's tcp_sock. srtt_us is the u32 whose >> 3 is
 * tcpi_rtt (never 0: a socket that has measured an RTT) followed by mdev_us, whose >> 2 is
 * tcpi_rttvar: adjacent in every tcp_sock from 3.15 to 6.7, and the pair is what makes a small
 * RTT unmistakable. 6.8 moved mdev_us away (the cache-line groups): with no such pair, srtt_us
 * must be the only u32 that matches tcpi_rtt. bytes_acked and bytes_received are the u64s equal
 * to their tcp_info counts. Only the first objectSize bytes (tcpSockSize) are searched, when known.
 */
export function findTcpSockOffsets(dumps: SockDump[], objectSize?: number): TcpSockOffsets {
  if (dumps.length === 0) throw new Error('no socket dumps')
  if (objectSize !== undefined) dumps = dumps.map((d) => ({...d, bytes: d.bytes.subarray(0, objectSize)}))
  const srtt = u32Matches(dumps, (v, i) => v !== 0 && v >>> 3 === i.rtt)
  const mdev = u32Matches(dumps, (v, i) => v !== 0 && v >>> 2 === i.rttvar)
  const pairs = srtt.filter((o) => mdev.includes(o + 4))
  const rttWhat = 'a u32 whose >> 3 is tcpi_rtt'
  const found: TcpSockOffsets = {
    srtt_us: pairs.length ? unique('srtt_us', `${rttWhat}, followed by mdev_us (>> 2 is tcpi_rttvar)`, pairs) : unique('srtt_us', rttWhat, srtt),
    mdev_us: pairs.length === 1 ? {offset: pairs[0] + 4} : unique('mdev_us', 'a u32 whose >> 2 is tcpi_rttvar', mdev),
    bytes_acked: unique('bytes_acked', 'a u64 equal to tcpi_bytes_acked', u64Matches(dumps, (i) => i.bytesAcked)),
    bytes_received: unique('bytes_received', 'a u64 equal to tcpi_bytes_received', u64Matches(dumps, (i) => i.bytesReceived)),
  }
  if (dumps.some((d) => d.info.bytesAcked === null)) {
    for (const field of ['bytes_acked', 'bytes_received'] as const) found[field] = {why: `tcp_sock.${field}: this kernel's tcp_info has no byte counts (4.1+)`}
  }
  return found
}

/** The offsets of these fields, or NotSupportedError saying why each missing one was not found. */
export function requireOffsets<F extends TcpSockField>(offsets: TcpSockOffsets, fields: F[]): Record<F, number> {
  const missing = fields.map((f) => offsets[f]).filter((r): r is {why: string} => 'why' in r)
  if (missing.length) throw new NotSupportedError(`tcp_sock offsets not calibrated: ${missing.map((m) => m.why).join('; ')}`)
  return Object.fromEntries(fields.map((f) => [f, (offsets[f] as {offset: number}).offset])) as Record<F, number>
}

/** Where the running kernel's BTF disagrees with offsets found: one line each, none where it has no BTF. */
export function btfDisagreements(offsets: Partial<Record<TcpSockField, number>>, btfOffset: (field: TcpSockField) => number | null): string[] {
  return Object.entries(offsets).flatMap(([field, offset]) => {
    const btf = btfOffset(field as TcpSockField)
    return btf === null || btf === offset ? [] : [`tcp_sock.${field} calibrated at ${offset}, BTF says ${btf}`]
  })
}

/** The socket as the last dump copied it (bpf/tcp-offsets.bpf.c `dump`, chunk by chunk). */
function readDump(bpf: BpfTool): Buffer {
  const chunks = bpf.entries('dump').sort(([a], [b]) => a.readUInt32LE(0) - b.readUInt32LE(0))
  return Buffer.concat(chunks.map(([, value]) => value))
}

function clearDump(bpf: BpfTool): void {
  const zero = Buffer.alloc(DUMP_CHUNK)
  for (let i = 0; i < DUMP_CHUNKS; i++) {
    const key = Buffer.alloc(4)
    key.writeUInt32LE(i)
    bpf.update('dump', key, zero)
  }
}

const dumpsTaken = (bpf: BpfTool) => bpf.countEntries('dumps').find(([key]) => key.readUInt32LE(0) === 0)?.[1] ?? 0

function bpfAddon(): BpfAddon {
  const load = loadBpfAddon()
  if (!load.ok) throw new NotSupportedError(`${load.reason}; tried ${load.tried.join(', ')}`)
  return load.addon
}

type CalibrationContext = Pick<RunContext<unknown>, 'undo' | 'probe' | 'files' | 'pid'>

/**
 * Calibrates tcp_sock on the running kernel: loads the kprobe on tcp_get_info, runs the
 * TRANSFERS connections, and takes it all down again before returning (whatever the outcome).
 * Needs BPF kprobes; throws BackendError where they do not see diag's connections.
 */
export async function measureTcpSock(ctx: CalibrationContext): Promise<TcpSockOffsets> {
  const addon = bpfAddon()
  const objectSize = tcpSockSize(await ctx.files.read('/proc/slabinfo').catch(() => ''))
  const mark = ctx.undo.mark()
  let dumps: SockDump[]
  try {
    const bpf = BpfTool.open('tcp-offsets', ctx.undo, ctx.probe)
    bpf.setU32('tgid', process.pid)
    bpf.load(['tcp_get_info_entry'])
    await bpf.attachKprobe('tcp_get_info_entry', 'tcp_get_info', false, ctx.files, ctx.probe.tracefs, ctx.pid)
    dumps = []
    for (const [client, server] of TRANSFERS) {
      clearDump(bpf)
      const before = dumpsTaken(bpf)
      let info: TcpLoopbackInfo
      try {
        info = addon.tcpLoopbackInfo(client, server)
      } catch (error) {
        throw new BackendError(`calibrating tcp_sock on a loopback connection: ${(error as Error).message}`)
      }
      if (dumpsTaken(bpf) === before) throw new BackendError('calibrating tcp_sock: the kprobe on tcp_get_info saw no getsockopt(TCP_INFO) of diag')
      dumps.push({info, bytes: readDump(bpf)})
    }
  } finally {
    const failures = await ctx.undo.unwindTo(mark)
    if (failures.length) throw new BackendError(`taking down the tcp_sock calibration: ${failures.map((f) => f.description).join(', ')}`)
  }
  return findTcpSockOffsets(dumps, objectSize)
}

/** What calibrateTcpSock asks of the kernel: the calibration itself and its BTF; fakes in the unit tests. */
export interface TcpSockKernel {
  measure(ctx: CalibrationContext): Promise<TcpSockOffsets>
  /** The field's offset in the kernel's BTF, null where it has none. */
  btfOffset(field: TcpSockField): number | null
}

const RUNNING_KERNEL: TcpSockKernel = {
  measure: measureTcpSock,
  btfOffset: (field) => bpfAddon().btfMemberOffset('tcp_sock', field),
}

const FIELDS: TcpSockField[] = ['srtt_us', 'mdev_us', 'bytes_acked', 'bytes_received']
/** A field's name in the probe cache. */
const cacheName = (field: TcpSockField) => `tcp_sock.${field}`

/** The fields' offsets kept this boot, when every one of them is. */
function cachedOffsets<F extends TcpSockField>(answers: BootAnswers | undefined, fields: F[]): Record<F, number> | undefined {
  const kept = fields.map((f): [F, unknown] => [f, answers?.get(cacheName(f))?.value])
  return kept.every(([, offset]) => Number.isInteger(offset) && (offset as number) >= 0) ? (Object.fromEntries(kept) as Record<F, number>) : undefined
}

/** Keeps each field found, unless BTF contradicts any of them: a calibration BTF refutes is kept in no part. */
async function keepOffsets(answers: BootAnswers | undefined, found: TcpSockOffsets, btfOffset: TcpSockKernel['btfOffset']): Promise<void> {
  if (!answers) return
  const offsets = Object.fromEntries(FIELDS.flatMap((f) => ('offset' in found[f] ? [[f, found[f].offset]] : [])))
  if (btfDisagreements(offsets, btfOffset).length > 0) return
  const kept = new Map<string, CachedOutcome>(
    Object.entries(offsets).map(([f, offset]) => [cacheName(f as TcpSockField), {status: 'available', evidence: 'probe', detail: 'calibrated against TCP_INFO', value: offset}]),
  )
  if (kept.size > 0) await answers.keep(kept)
}

/**
 * The offsets of `fields` in the running kernel's tcp_sock: kept from an earlier calibration in
 * this boot (ctx.probe.answers, none with --no-cache), else calibrated now (measureTcpSock), and
 * what it found kept. Throws NotSupportedError where the calibration does not settle the fields,
 * and BackendError where they disagree with the kernel's BTF, cached or not.
 */
export async function calibrateTcpSock<F extends TcpSockField>(
  ctx: CalibrationContext,
  fields: F[],
  kernel: TcpSockKernel = RUNNING_KERNEL,
): Promise<{offsets: Record<F, number>; cached: boolean}> {
  // Each field's BTF offset looked up once: the keeping and the check below both ask.
  const btf = new Map<TcpSockField, number | null>()
  const btfOffset = (field: TcpSockField) => (btf.has(field) ? btf.get(field)! : btf.set(field, kernel.btfOffset(field)).get(field)!)
  let offsets = cachedOffsets(ctx.probe.answers, fields)
  const cached = offsets !== undefined
  if (!offsets) {
    const found = await kernel.measure(ctx)
    await keepOffsets(ctx.probe.answers, found, btfOffset)
    offsets = requireOffsets(found, fields)
  }
  const disagree = btfDisagreements(offsets, btfOffset)
  if (disagree.length) throw new BackendError(`calibrated tcp_sock offsets disagree with the kernel's BTF: ${disagree.join('; ')}`)
  return {offsets, cached}
}

/** How a runner's attach line says where the offsets came from. */
export const calibratedHow = (cached: boolean) => (cached ? 'calibrated against TCP_INFO earlier this boot, cached' : 'calibrated against TCP_INFO')
