import {type Collector, type Runner, RowQueue, type RowStream} from '../../backends/runner.js'
import {startEventStream} from '../../backends/ftrace/stream.js'
import type {TraceLine} from '../../backends/ftrace/trace-pipe.js'
import type {Row} from '../../src/result/model.js'
import {wallTime} from '../../src/system/clock.js'
import {readEventFormat} from '../../src/tracefs/format.js'
import {type DropReasons, dropReasons, dropStack, ipVersion, throughTcp} from './drops.js'
import {COLUMNS, EVENT, type TcpdropOptions} from './tool.js'

// "skbaddr=000000003e2ab0f9 rx_sk=0000000000000000 protocol=2048 location=tcp_v4_rcv+0x91/0x1020 reason: NO_SOCKET"
// (4.9: "skbaddr=ffff88007c1e0d00 protocol=2048 location=ffffffff8171a0e5", no reason)
const PROTOCOL = /(?:^|\s)protocol=(\d+)/
const REASON = /\sreason: (\w+)\s*$/
// " => tcp_v4_rcv+0x91/0x1020" with the sym-offset option; " => tcp_v4_rcv" without.
const FRAME = /^\s*=> (\S+)/
const STACK_TRACE = '<stack trace>'

interface Drop {
  line: TraceLine
  frames: string[]
}

/**
 * Pairs each kfree_skb event with the kernel stack the stacktrace option records right after it,
 * in the same task, and makes a row of each drop whose stack passes through TCP. A stack is
 * complete once the lines of the read that brought it are all in (the kernel prints a stack as
 * one entry): flush() emits the drops read so far.
 */
export class DropPairing {
  private readonly waiting = new Map<number, Drop>()
  private reading: string[] | undefined
  private done: Drop[] = []

  constructor(
    private readonly reasons: Pick<DropReasons, 'has'>,
    private readonly toTime: (timestamp: number) => string = wallTime,
  ) {}

  line(line: TraceLine): void {
    this.reading = undefined
    if (line.body === STACK_TRACE) {
      const drop = this.waiting.get(line.pid)
      if (drop && drop.frames.length === 0) {
        this.waiting.delete(line.pid)
        this.done.push(drop)
        this.reading = drop.frames
      }
      return
    }
    if (line.event !== 'kfree_skb') return
    this.waiting.set(line.pid, {line, frames: []})
  }

  /** A line that is not an event's first: a frame of the stack being read. */
  other(text: string): void {
    const frame = this.reading && FRAME.exec(text)
    if (frame) this.reading!.push(frame[1].replace(/\/0x[0-9a-f]+$/, ''))
  }

  /** The rows of the drops whose stacks are in, TCP's only. */
  flush(): Row[] {
    const rows = this.done.flatMap((drop) => {
      const stack = dropStack(drop.frames)
      return throughTcp(stack) ? [this.row(drop.line, stack)] : []
    })
    this.done = []
    return rows
  }

  private row(line: TraceLine, stack: string[]): Row {
    const reason = this.reasons.has ? (REASON.exec(line.body)?.[1] ?? null) : null
    return {
      time: this.toTime(line.timestamp),
      pid: line.tgid ?? line.pid,
      ip: ipVersion(Number(PROTOCOL.exec(line.body)?.[1])),
      saddr: null,
      sport: null,
      daddr: null,
      dport: null,
      state: null,
      flags: null,
      reason,
      stack,
    }
  }
}

const IPV4 = 0x0800
const IPV6 = 0x86dd

/** The event filter: IPv4 and IPv6 packets, not normal frees (where the event has a reason). */
export function dropFilter(reasons: DropReasons): string {
  const ip = `(protocol == ${IPV4} || protocol == ${IPV6})`
  return reasons.has ? [ip, ...reasons.normal.map((value) => `reason != ${value}`)].join(' && ') : ip
}

/**
 * kfree_skb events in a private instance, filtered in the kernel to IP drops (and to the traced
 * process), each with the kernel stack the stacktrace option records (sym-offset: the kernel
 * names the frames, with their offsets); TCP's are kept by their stack, in diag.
 */
export const stream: Runner<TcpdropOptions> = {
  async start(ctx): Promise<Collector & RowStream> {
    const reasons = dropReasons(await readEventFormat(ctx.files, ctx.probe.tracefs!, EVENT))
    const pairing = new DropPairing(reasons)
    const queue = new RowQueue()
    let flushing: NodeJS.Immediate | undefined
    const flush = () => {
      clearImmediate(flushing)
      flushing = undefined
      queue.push(...pairing.flush())
    }
    const {pipe, attach} = await startEventStream(
      ctx,
      'tcpdrop',
      [EVENT],
      (line) => {
        pairing.line(line)
        // Once the read that brought these lines is fed in whole.
        flushing ??= setImmediate(flush)
      },
      {
        // diag's threads cause no drops, and the softirq that drops may run in one of them.
        excludeSelf: false,
        recordTgid: true,
        instanceOptions: ['stacktrace', 'sym-offset'],
        filters: {[EVENT]: dropFilter(reasons)},
        onOtherLine: (text) => pairing.other(text),
      },
    )
    return {
      attach: `${attach}, with the kernel stack of each (options/stacktrace)`,
      onRows: (emit) => queue.onRows(emit),
      async collect() {
        await pipe.catchUp()
        flush()
        return {kind: 'rows', columns: COLUMNS, rows: []}
      },
      async stop() {
        await pipe.stop()
        flush()
      },
      lost: () => pipe.lost(),
    }
  },
}
