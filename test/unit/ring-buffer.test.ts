import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {EMPTY_CPU_MARGIN_NS, RawPipe} from '../../backends/ftrace/raw-pipe.js'
import {EventDecoders, type PageLayout, type RawEvent, parseHeaderEvent, parseHeaderPage, walkPage} from '../../backends/ftrace/ring-buffer.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import {parseEventFormat} from '../../src/tracefs/format.js'
import {NodeFiles} from '../../src/system/files.js'
import {INET_SOCK_SET_STATE, recordOf} from '../helpers/event-records.js'
import {UndoLog} from '../../src/system/undo.js'

// As x86_64 kernels print them, 4.9 and 6.x alike.
const HEADER_PAGE_64 = `\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;
\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;
\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;
\tfield: char data;\toffset:16;\tsize:4080;\tsigned:1;
`
// A 32-bit kernel's: a 4-byte commit, the data 4 bytes earlier.
const HEADER_PAGE_32 = `\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;
\tfield: local_t commit;\toffset:8;\tsize:4;\tsigned:1;
\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;
\tfield: char data;\toffset:12;\tsize:4084;\tsigned:1;
`
const HEADER_EVENT = `# compressed entry header
\ttype_len    :    5 bits
\ttime_delta  :   27 bits
\tarray       :   32 bits

\tpadding     : type == 29
\ttime_extend : type == 30
\ttime_stamp : type == 31
\tdata max type_len  == 28
`
const SYS_ENTER = `name: sys_enter
ID: 21
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;
\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;

print fmt: "NR %ld (%lx, %lx, %lx, %lx, %lx, %lx)", REC->id, REC->args[0], REC->args[1], REC->args[2], REC->args[3], REC->args[4], REC->args[5]
`
const SWITCH = `name: sched_process_exec
ID: 300
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:char comm[16];\toffset:12;\tsize:16;\tsigned:0;
\tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;
`

/** Builds one ring-buffer page as the kernel lays it out for `layout`. */
class PageBuilder {
  private readonly records: Buffer[] = []
  constructor(
    private readonly layout: PageLayout,
    private readonly base: number,
  ) {}

  private word(typeLen: number, delta: number, ...rest: number[]): Buffer {
    const b = Buffer.alloc(4 + 4 * rest.length)
    b.writeUInt32LE(((delta << 5) | typeLen) >>> 0, 0)
    rest.forEach((v, i) => b.writeUInt32LE(v >>> 0, 4 + 4 * i))
    return b
  }

  /** A record whose data fits type_len (a multiple of 4 bytes up to 112), or a long one (type_len 0). */
  data(delta: number, payload: Buffer, long = false): this {
    if (long) this.records.push(Buffer.concat([this.word(0, delta, payload.length + 4), payload]))
    else this.records.push(Buffer.concat([this.word(payload.length / 4, delta), payload]))
    return this
  }

  extend(delta: number): this {
    this.records.push(this.word(30, delta % 2 ** 27, Math.floor(delta / 2 ** 27)))
    return this
  }

  absolute(low59: number): this {
    this.records.push(this.word(31, low59 % 2 ** 27, Math.floor(low59 / 2 ** 27)))
    return this
  }

  /** A discarded record: padding with a delta, as long as its length word says. */
  discarded(delta: number, bytes: number): this {
    this.records.push(Buffer.concat([this.word(29, delta, bytes), Buffer.alloc(bytes - 4)]))
    return this
  }

  build(flags = 0): Buffer {
    const page = Buffer.alloc(this.layout.dataOffset + this.layout.dataSize)
    page.writeBigUInt64LE(BigInt(this.base), this.layout.timestampOffset)
    const data = Buffer.concat(this.records)
    page.writeUInt32LE((data.length | flags) >>> 0, this.layout.commitOffset)
    data.copy(page, this.layout.dataOffset)
    return page
  }
}

function sysEnter(pid: number, id: number): Buffer {
  const b = Buffer.alloc(64)
  b.writeUInt16LE(21, 0)
  b.writeInt32LE(pid, 4)
  b.writeBigInt64LE(BigInt(id), 8)
  return b
}

const decoders = () => new EventDecoders([{format: parseEventFormat('raw_syscalls/sys_enter', SYS_ENTER), fields: ['id']}])

function events(page: Buffer, layout: PageLayout): RawEvent[] {
  const out: RawEvent[] = []
  const d = decoders()
  walkPage(page, layout, parseHeaderEvent(HEADER_EVENT), (start, end, ts) => {
    const e = d.decode(page, start, end, 1, ts)
    if (e) out.push(e)
  })
  return out
}

describe('ring-buffer pages (trace_pipe_raw)', () => {
  it('reads the page and record headers from the kernel text', () => {
    expect(parseHeaderPage(HEADER_PAGE_64)).toEqual({timestampOffset: 0, commitOffset: 8, dataOffset: 16, dataSize: 4080})
    expect(parseHeaderPage(HEADER_PAGE_32)).toEqual({timestampOffset: 0, commitOffset: 8, dataOffset: 12, dataSize: 4084})
    expect(parseHeaderEvent(HEADER_EVENT)).toEqual({typeLenBits: 5, timeDeltaBits: 27, padding: 29, timeExtend: 30, timeStamp: 31, dataMax: 28})
  })

  for (const [name, text] of [
    ['64-bit', HEADER_PAGE_64],
    ['32-bit', HEADER_PAGE_32],
  ] as const) {
    it(`walks records, time extends, discarded records and the page end at the ${name} layout's offsets`, () => {
      const layout = parseHeaderPage(text)
      const base = 5_000_000_000_000
      const page = new PageBuilder(layout, base)
        .data(100, sysEnter(7, 39))
        .discarded(50, 72)
        .extend(3 * 2 ** 27 + 5)
        .data(1, sysEnter(8, -1), true)
        .data(2, sysEnter(9, 1))
        .build(2 ** 31) // "missed events" flag: not part of the length
      const got = events(page, layout)
      expect(got.map((e) => [e.pid, e.fields.id, e.cpu])).toEqual([
        [7, 39, 1],
        [8, -1, 1],
        [9, 1, 1],
      ])
      // As the kernel's reader counts: a discarded record's delta is not added.
      const ns = [base + 100, base + 100 + 3 * 2 ** 27 + 5 + 1, base + 100 + 3 * 2 ** 27 + 5 + 1 + 2]
      expect(got.map((e) => Math.round(e.timestamp * 1e9))).toEqual(ns)
    })
  }

  it('an absolute timestamp replaces the low 59 bits and keeps the page timestamp high bits', () => {
    const layout = parseHeaderPage(HEADER_PAGE_64)
    const page = new PageBuilder(layout, 1000).data(1, sysEnter(7, 0)).absolute(2_000_000_000).data(4, sysEnter(7, 0)).build()
    expect(events(page, layout).map((e) => Math.round(e.timestamp * 1e9))).toEqual([1001, 2_000_000_004])
  })

  it('stops at a null padding (the rest of the page) and ignores records of events not asked for', () => {
    const layout = parseHeaderPage(HEADER_PAGE_64)
    const other = sysEnter(5, 3)
    other.writeUInt16LE(99, 0)
    const page = new PageBuilder(layout, 0).data(1, other).data(1, sysEnter(6, 2)).build()
    // A null padding word (type 29, delta 0) after them, inside the committed length.
    page.writeUInt32LE(29, layout.dataOffset + 2 * 68)
    page.writeUInt32LE(2 * 68 + 8, layout.commitOffset)
    expect(events(page, layout).map((e) => e.pid)).toEqual([6])
  })

  it('reads strings from char arrays and __data_loc fields, and signed and unsigned integers', () => {
    const format = parseEventFormat('sched/sched_process_exec', SWITCH)
    const d = new EventDecoders([{format, fields: ['filename', 'comm', 'prio']}])
    const rec = Buffer.alloc(48)
    rec.writeUInt16LE(300, 0)
    rec.writeInt32LE(42, 4)
    rec.writeUInt32LE((10 << 16) | 32, 8)
    rec.write('bash\0junk', 12)
    rec.writeInt32LE(-20, 28)
    rec.write('/bin/true\0', 32)
    expect(d.decode(rec, 0, rec.length, 0, 0)).toEqual({
      event: 'sched_process_exec',
      pid: 42,
      cpu: 0,
      timestamp: 0,
      fields: {filename: '/bin/true', comm: 'bash', prio: -20},
    })
  })

  it('reads fixed byte arrays as their bytes, copied out of the page that is read into again', () => {
    const format = parseEventFormat('sock/inet_sock_set_state', INET_SOCK_SET_STATE)
    const d = new EventDecoders([{format, fields: ['saddr', 'daddr_v6', 'family']}])
    const rec = recordOf(format, 9, {saddr: Uint8Array.of(10, 0, 0, 1), daddr_v6: Uint8Array.from({length: 16}, (_, i) => i), family: 2})
    const event = d.decode(rec, 0, rec.length, 0, 0)!
    rec.fill(0xee)
    expect(event.fields).toEqual({saddr: Uint8Array.of(10, 0, 0, 1), daddr_v6: Uint8Array.from({length: 16}, (_, i) => i), family: 2})
    expect(event.fields.saddr).toBeInstanceOf(Uint8Array)
  })

  it('reads a pointer as its exact hex address, which a number would round (a kernel address is above 2^53)', () => {
    const format = parseEventFormat('sock/inet_sock_set_state', INET_SOCK_SET_STATE)
    const d = new EventDecoders([{format, fields: ['skaddr']}])
    // Two addresses 512 bytes apart, which one double would hold (its step is 2 KiB up there).
    const [a, b] = [0xffff8881_0a5c_3000n, 0xffff8881_0a5c_3200n]
    expect(Number(a)).toBe(Number(b))
    const read = (sk: bigint) => {
      const rec = recordOf(format, 9, {skaddr: sk})
      return d.decode(rec, 0, rec.length, 0, 0)!.fields.skaddr
    }
    expect([read(a), read(b)]).toEqual(['0xffff88810a5c3000', '0xffff88810a5c3200'])
  })
})

describe('reading per_cpu/cpuN/trace_pipe_raw', () => {
  let root: string | undefined
  afterEach(() => {
    if (root) rmSync(root, {recursive: true, force: true})
  })
  function fakeInstance(pagesOf: (cpu: number) => Buffer[]): {root: string; dir: string} {
    const root = mkdtempSync(path.join(tmpdir(), 'diag-raw-pipe-'))
    const dir = 'instances/diag-1-test'
    mkdirSync(path.join(root, dir, 'events/raw_syscalls/sys_enter'), {recursive: true})
    writeFileSync(path.join(root, dir, 'events/raw_syscalls/sys_enter/format'), SYS_ENTER)
    mkdirSync(path.join(root, 'events'), {recursive: true})
    writeFileSync(path.join(root, 'events/header_page'), HEADER_PAGE_64)
    writeFileSync(path.join(root, 'events/header_event'), HEADER_EVENT)
    for (const cpu of [0, 1]) {
      mkdirSync(path.join(root, dir, `per_cpu/cpu${cpu}`), {recursive: true})
      writeFileSync(path.join(root, dir, `per_cpu/cpu${cpu}/trace_pipe_raw`), Buffer.concat(pagesOf(cpu)))
    }
    return {root, dir}
  }
  const layout = parseHeaderPage(HEADER_PAGE_64)
  const SPEC = [{event: 'raw_syscalls/sys_enter', fields: ['id']}]

  // Regular files stand for the per-CPU pipes: whole pages, then the end (read as dry).
  it('reads many pages per system call from every CPU and decodes every record', async () => {
    const perPage = 50
    const pages = 70 // more than one readv's worth
    const made = fakeInstance((cpu) =>
      Array.from({length: pages}, (_, p) => {
        const builder = new PageBuilder(layout, p * 1000)
        for (let i = 0; i < perPage; i++) builder.data(1, sysEnter(100 + cpu, i))
        return builder.build()
      }),
    )
    root = made.root
    const got = new Map<number, number>()
    const session = new TracefsSession(new NodeFiles('/'), root, 1, new UndoLog())
    const pipe = await RawPipe.open(session, made.dir, SPEC, (e) => got.set(e.cpu, (got.get(e.cpu) ?? 0) + 1), {pollMs: 60_000})
    try {
      await pipe.catchUp()
      expect(Object.fromEntries(got)).toEqual({0: pages * perPage, 1: pages * perPage})
    } finally {
      pipe.close()
    }
  })

  // CPU 0 writes at even nanoseconds, CPU 1 at odd ones, each over many pages: a consumer that
  // pairs events across CPUs gets them merged by time.
  it('ordered: merges the CPUs by time', async () => {
    const pages = 40
    const perPage = 10
    const made = fakeInstance((cpu) =>
      Array.from({length: pages}, (_, p) => {
        const builder = new PageBuilder(layout, p * 2 * perPage + cpu)
        for (let i = 0; i < perPage; i++) builder.data(i === 0 ? 0 : 2, sysEnter(cpu, p * perPage + i))
        return builder.build()
      }),
    )
    root = made.root
    const times: number[] = []
    const session = new TracefsSession(new NodeFiles('/'), root, 1, new UndoLog())
    const pipe = await RawPipe.open(session, made.dir, SPEC, (e) => times.push(Math.round(e.timestamp * 1e9)), {pollMs: 60_000, ordered: true})
    try {
      await pipe.catchUp()
      expect(times).toEqual(Array.from({length: 2 * pages * perPage}, (_, i) => i))
    } finally {
      pipe.close()
    }
  })

  // CPU 1 is empty when read at EMPTY_CPU_MARGIN_NS + 500 ns: it can still give an event from
  // 500 ns on (one stamped before the read but committed after it), so CPU 0's later ones wait,
  // until the end.
  it('ordered: holds back what an empty CPU could still precede, until the end', async () => {
    const made = fakeInstance((cpu) =>
      cpu === 1
        ? []
        : Array.from({length: 40}, (_, p) => {
            const builder = new PageBuilder(layout, p * 20)
            for (let i = 0; i < 20; i++) builder.data(i === 0 ? 0 : 1, sysEnter(cpu, i))
            return builder.build()
          }),
    )
    root = made.root
    const times: number[] = []
    const session = new TracefsSession(new NodeFiles('/'), root, 1, new UndoLog())
    const pipe = await RawPipe.open(session, made.dir, SPEC, (e) => times.push(Math.round(e.timestamp * 1e9)), {
      pollMs: 60_000,
      ordered: true,
      clockNowNs: () => EMPTY_CPU_MARGIN_NS + 500,
    })
    try {
      await pipe.catchUp()
      expect(times).toEqual(Array.from({length: 501}, (_, i) => i))
      await pipe.stop()
      expect(times).toEqual(Array.from({length: 800}, (_, i) => i))
    } finally {
      pipe.close()
    }
  })
})
