import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {EventBuffer, eventBufferKind} from '../../backends/bpf/event-buffer.js'
import {type Collector, type RunContext, type Runner, RowQueue, type RowStream} from '../../backends/runner.js'
import {formatIp} from '../../src/net/address.js'
import {PermissionError} from '../../src/errors.js'
import type {Row} from '../../src/result/model.js'
import {Symbolizer} from '../../src/symbols/symbolizer.js'
import {wallTime} from '../../src/system/clock.js'
import type {HostFiles} from '../../src/system/files.js'
import {fieldOffset, readEventFormat} from '../../src/tracefs/format.js'
import {type DropReasons, dropReasons, dropStack, ipVersion, reasonName, tcpFlags, tcpState, throughTcp} from './drops.js'
import {COLUMNS, EVENT, NAME, type TcpdropOptions} from './tool.js'

// struct drop_event (tcpdrop.h).
const RECORD = {ns: 0, pid: 8, stack: 16, reason: 20, protocol: 24, sport: 26, dport: 28, state: 30, flags: 31, headers: 32, saddr: 36, daddr: 52}
const NO_REASON = 0xffffffff
const LOST_STACK = '[lost kernel stack]'
// The function TCP dropped packets through from 4.10 to 5.x, without the tracepoint before 5.17.
const TCP_DROP = 'tcp_drop'

/** One record's fields (the stack still an id), as a row without its stack. */
export function dropRow(record: Buffer, reasons: DropReasons, toTime: (monotonicSeconds: number) => string = wallTime): Row {
  const ip = ipVersion(record.readUInt16LE(RECORD.protocol))
  const headers = record.readUInt32LE(RECORD.headers) === 1
  const address = (at: number) => (headers && ip ? formatIp(record.subarray(at, at + (ip === 4 ? 4 : 16))) : null)
  const reason = record.readUInt32LE(RECORD.reason)
  return {
    time: toTime(Number(record.readBigUInt64LE(RECORD.ns)) / 1e9),
    pid: record.readUInt32LE(RECORD.pid),
    ip,
    saddr: address(RECORD.saddr),
    sport: headers ? record.readUInt16LE(RECORD.sport) : null,
    daddr: address(RECORD.daddr),
    dport: headers ? record.readUInt16LE(RECORD.dport) : null,
    state: headers ? tcpState(record.readUInt8(RECORD.state)) : null,
    flags: headers ? tcpFlags(record.readUInt8(RECORD.flags)) : null,
    reason: reason === NO_REASON || !reasons.has ? null : reasonName(reasons, reason),
  }
}

/**
 * Stacks by id from the object's stack trace map, named with their offsets from /proc/kallsyms
 * (read once), each id named once: the map keeps a stack under one id for the whole run.
 */
class StackNames {
  private readonly named = new Map<number, string[]>()

  constructor(
    private readonly bpf: BpfTool,
    readonly symbols: Symbolizer,
  ) {}

  async frames(id: number): Promise<string[]> {
    if (id < 0) return [LOST_STACK]
    const known = this.named.get(id)
    if (known) return known
    const key = Buffer.alloc(4)
    key.writeUInt32LE(id)
    const value = this.bpf.lookup('stacks', key)
    if (!value) return [LOST_STACK]
    const frames: string[] = []
    for (let at = 0; at + 8 <= value.length; at += 8) {
      const address = value.readBigUInt64LE(at)
      if (address === 0n) break
      frames.push(await this.symbols.kernelFrameWithOffset(address))
    }
    const stack = dropStack(frames)
    this.named.set(id, stack)
    return stack
  }
}

/**
 * Refuses before anything is loaded when /proc/kallsyms hides kernel addresses: the stacks would
 * be addresses nobody can name.
 */
async function checkKernelAddresses(symbols: Symbolizer, files: HostFiles): Promise<void> {
  if (await symbols.kernelAddressesVisible()) return
  const restrict = (await files.read('/proc/sys/kernel/kptr_restrict').catch(() => '?')).trim()
  throw new PermissionError(
    `/proc/kallsyms shows no kernel addresses here (kernel.kptr_restrict = ${restrict}), so the drops' kernel stacks could not be named: run as root with kernel.kptr_restrict at 0 or 1 (sysctl kernel.kptr_restrict=1), or use --backend ftrace, where the kernel names the frames itself`,
  )
}

async function start(ctx: RunContext<TcpdropOptions>, object: string, classic: boolean): Promise<Collector & RowStream> {
  const {files, probe, undo} = ctx
  const format = await readEventFormat(files, probe.tracefs!, EVENT)
  const reasons = dropReasons(format)
  const symbols = new Symbolizer(files)
  await checkKernelAddresses(symbols, files)
  const bpf = await BpfTool.forRun(object, ctx, classic ? eventBufferKind(probe) : 'ring')
  const stacks = new StackNames(bpf, symbols)
  const consumed = reasons.normal.find((value) => value !== 0)
  if (consumed !== undefined) bpf.setU32('consumed_reason', consumed)
  if (classic) {
    bpf.setU32('protocol_offset', fieldOffset(format, 'protocol', [2]))
    if (reasons.has) bpf.setU32('reason_offset', fieldOffset(format, 'reason', [4]))
  } else {
    bpf.setU8('has_reason', reasons.has ? 1 : 0)
  }
  // Where tcp_drop() is there to probe (not inlined), its drops too: they never reach kfree_skb.
  const kprobes = probe.capabilities.find((c) => c.name === 'bpf-kprobe')?.status === 'available'
  const withTcpDrop = kprobes && (await symbols.kernelHas(TCP_DROP))
  bpf.load(withTcpDrop ? ['kfree_skb', TCP_DROP] : ['kfree_skb'])
  const events = EventBuffer.open(bpf, undo)
  const queue = new RowQueue()
  // Records are named in order, one batch after another (naming a new stack reads the map).
  let naming = Promise.resolve()
  let failure: unknown
  events.onEvents((batch) => {
    const records = [...batch].map((record) => Buffer.from(record))
    naming = naming.then(async () => {
      const rows: Row[] = []
      for (const record of records) {
        const stack = await stacks.frames(record.readInt32LE(RECORD.stack))
        // Without the headers (no BTF), TCP's drops are those whose stack passes through TCP.
        if (classic && !throughTcp(stack)) continue
        rows.push({...dropRow(record, reasons), stack})
      }
      queue.push(...rows)
    }).catch((error) => {
      failure ??= error
    })
  })
  if (classic) bpf.attachTracepoint('kfree_skb', format)
  else bpf.attach('kfree_skb', {kind: 'trace'}, 'tp_btf skb:kfree_skb')
  if (withTcpDrop) await bpf.attachKprobe(TCP_DROP, TCP_DROP, false, files, probe.tracefs, ctx.pid)
  const settle = async () => {
    events.drain()
    await naming
    if (failure) throw failure
  }
  return {
    attach: `${bpf.attachments}, records through a ${events.kind} buffer, kernel stacks named from /proc/kallsyms`,
    onRows: (emit) => queue.onRows(emit),
    async collect() {
      await settle()
      return {kind: 'rows', columns: COLUMNS, rows: []}
    },
    stop: settle,
    lost: async () => events.lost(),
  }
}

/** tcpdrop on the BTF-typed kfree_skb (tcpdrop.tp_btf.bpf.c): TCP drops only, every field known. */
export const tpBtf: Runner<TcpdropOptions> = {
  start: (ctx) => start(ctx, `${NAME}.tp_btf`, false),
}

/** tcpdrop on the classic kfree_skb (tcpdrop.bpf.c), for kernels without BTF: TCP's drops told by their stack. */
export const tracepoint: Runner<TcpdropOptions> = {
  start: (ctx) => start(ctx, NAME, true),
}
