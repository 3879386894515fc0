import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

import {packageRoot} from './paths.js'

/** Per-call outcome of libbpf's own feature probes: supported, not, or could not tell (errno). */
export interface LibbpfProbe {
  supported: boolean
  errno: number
  code: string
  log: string
}

export type AttachSpec =
  | {kind: 'auto'}
  | {kind: 'tracepoint'; category: string; name: string}
  | {kind: 'raw_tracepoint'; name: string}
  | {kind: 'kprobe' | 'kretprobe'; function: string}
  | {kind: 'kprobe_multi'; pattern: string; retprobe?: boolean}
  | {kind: 'kprobe_multi'; symbols: string[]; cookies?: number[]; retprobe?: boolean}
  | {kind: 'trace'}
  | {kind: 'uprobe' | 'uretprobe'; binary: string; function?: string; offset?: number; pid?: number}
  | {kind: 'perf_event'; type: number; config: number; cpu: number; pid?: number; frequency?: number}

export interface BpfObjectHandle {
  programs(): {name: string; section: string; autoload: boolean}[]
  setAutoload(program: string, autoload: boolean): void
  setAttachTarget(program: string, func: string): void
  setConst(name: string, value: Buffer): void
  setMaxEntries(map: string, maxEntries: number): void
  load(): void
  attach(program: string, spec: AttachSpec): number
  detach(link: number): void
  mapEntries(map: string): [Buffer, Buffer][]
  mapUpdate(map: string, key: Buffer, value: Buffer): void
  /**
   * Reads a ring buffer or perf buffer map from Node's loop (backends/bpf/event-buffer.ts):
   * onBatch(data, offsets) gets records data[offsets[i], offsets[i + 1]). Returns its id.
   */
  openEventBuffer(map: string, kind: 'ring' | 'perf', pageCount: number, onBatch: (data: Buffer, offsets: Uint32Array) => void): number
  /** Hands over every record written so far, now; returns how many. */
  consumeEventBuffer(buffer: number): number
  /** A perf buffer's samples that the kernel reported lost (PERF_RECORD_LOST); 0 for a ring buffer. */
  eventBufferLost(buffer: number): number
  closeEventBuffer(buffer: number): void
  /** One key's value, null when absent (stack trace maps cannot be walked before 4.15). */
  mapLookup(map: string, key: Buffer): Buffer | null
  /** Runs a loaded program once on ctx (BPF_PROG_TEST_RUN; a raw tracepoint's arguments), attached to nothing: its return value. For tests. */
  testRun(program: string, ctx: Buffer): number
  destroy(): void
}

/** The addon's flat API (native/diag_bpf.cc). Errors thrown carry errno, code and libbpfLog. */
export interface BpfAddon {
  libbpfVersion(): string
  /** Whether programs of this type may call this helper (libbpf_probe_bpf_helper). */
  probeHelper(progType: number, helperId: number): LibbpfProbe
  probeMapType(type: number): LibbpfProbe
  perfEventOpen(type: number, config: number, pid: number, cpu: number): void
  mapCreate(type: number, keySize: number, valueSize: number, maxEntries: number): void
  /** mount(2) of a pseudo file system ("nodev" source) on target, and umount(2): throw errno. */
  mount(fstype: string, target: string): void
  unmount(target: string): void
  /**
   * Opens a TCP connection of its own on 127.0.0.1, sends clientBytes and serverBytes back, waits
   * until all is acknowledged, and returns the client socket's TCP_INFO from one last getsockopt
   * (the bytes are null where the kernel's tcp_info has none: before 4.1). Blocks (milliseconds).
   */
  tcpLoopbackInfo(clientBytes: number, serverBytes: number): TcpLoopbackInfo
  /** A member's byte offset in a struct of the running kernel's BTF; null without BTF or member. */
  btfMemberOffset(structName: string, member: string): number | null
  BpfObject: new (pathOrBuffer: string | Buffer) => BpfObjectHandle
}

/** What the kernel reported in struct tcp_info for a socket: tcpi_rtt, tcpi_rttvar, the byte counts. */
export interface TcpLoopbackInfo {
  rtt: number
  rttvar: number
  bytesAcked: number | null
  bytesReceived: number | null
}

export interface BpfAddonError extends Error {
  errno?: number
  code?: string
  libbpfLog?: string
}

export type BpfAddonLoad = {ok: true; addon: BpfAddon; path: string} | {ok: false; reason: string; tried: string[]}

let cached: BpfAddonLoad | undefined

/**
 * Loads the addon on first use. A missing build or a missing libbpf is a value, not a crash:
 * the BPF backend is then reported unavailable with every path that was tried.
 */
export function loadBpfAddon(): BpfAddonLoad {
  if (cached) return cached
  const candidates = [
    process.env.DIAG_BPF_ADDON,
    path.join(packageRoot, 'native', 'build', 'Release', 'diag_bpf.node'),
    path.join(packageRoot, 'native', 'build', 'Debug', 'diag_bpf.node'),
  ].filter((p): p is string => Boolean(p))
  const require = createRequire(import.meta.url)
  const tried: string[] = []
  for (const candidate of candidates) {
    if (!existsSync(candidate)) {
      tried.push(`${candidate}: not built`)
      continue
    }
    try {
      cached = {ok: true, addon: require(candidate) as BpfAddon, path: candidate}
      return cached
    } catch (error) {
      // Typically libbpf.so missing: dlopen's message names it.
      tried.push(`${candidate}: ${(error as Error).message.split('\n')[0]}`)
    }
  }
  cached = {ok: false, reason: 'the libbpf addon is not available (run `npm run build:native`)', tried}
  return cached
}
