// The format files of the events tools read from trace_pipe_raw as kernels write them, and records
// laid out by them, decoded as the raw reader decodes them: the unit tests of what those tools read.

import {EventDecoders, type RawEvent} from '../../backends/ftrace/ring-buffer.js'
import {type EventFormat, parseEventFormat} from '../../src/tracefs/format.js'

const COMMON = `\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;
`

/** sock:inet_sock_set_state as the 6.18 host prints it (print fmt left out). */
export const INET_SOCK_SET_STATE = `name: inet_sock_set_state
ID: 2287
format:
${COMMON}
\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;
`

/** sched:sched_process_fork as 6.18 prints it: the comms are __data_loc strings there. */
export const SCHED_PROCESS_FORK = `name: sched_process_fork
ID: 366
format:
${COMMON}
\tfield:__data_loc char[] parent_comm;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t parent_pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:__data_loc char[] child_comm;\toffset:16;\tsize:4;\tsigned:0;
\tfield:pid_t child_pid;\toffset:20;\tsize:4;\tsigned:1;
`

/** tcp:tcp_probe as the 6.18 host prints it: saddr and daddr are a struct sockaddr_in6's 28 bytes. */
export const TCP_PROBE_6 = `name: tcp_probe
ID: 2273
format:
${COMMON}
\tfield:__u8 saddr[28];\toffset:8;\tsize:28;\tsigned:0;
\tfield:__u8 daddr[28];\toffset:36;\tsize:28;\tsigned:0;
\tfield:__u16 sport;\toffset:64;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:66;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:68;\tsize:2;\tsigned:0;
\tfield:__u32 mark;\toffset:72;\tsize:4;\tsigned:0;
\tfield:__u16 data_len;\toffset:76;\tsize:2;\tsigned:0;
\tfield:__u32 snd_nxt;\toffset:80;\tsize:4;\tsigned:0;
\tfield:__u32 snd_una;\toffset:84;\tsize:4;\tsigned:0;
\tfield:__u32 snd_cwnd;\toffset:88;\tsize:4;\tsigned:0;
\tfield:__u32 ssthresh;\toffset:92;\tsize:4;\tsigned:0;
\tfield:__u32 snd_wnd;\toffset:96;\tsize:4;\tsigned:0;
\tfield:__u32 srtt;\toffset:100;\tsize:4;\tsigned:0;
\tfield:__u32 rcv_wnd;\toffset:104;\tsize:4;\tsigned:0;
\tfield:__u64 sock_cookie;\toffset:112;\tsize:8;\tsigned:0;
\tfield:const void * skbaddr;\toffset:120;\tsize:8;\tsigned:0;
\tfield:const void * skaddr;\toffset:128;\tsize:8;\tsigned:0;
`

/**
 * tcp_probe without a family field (it came after 4.16's first version), its arrays' lengths
 * printed as the source wrote them, as older kernels print them.
 */
export const TCP_PROBE_OLD = `name: tcp_probe
ID: 1500
format:
${COMMON}
\tfield:__u8 saddr[sizeof(struct sockaddr_in6)];\toffset:8;\tsize:28;\tsigned:0;
\tfield:__u8 daddr[sizeof(struct sockaddr_in6)];\toffset:36;\tsize:28;\tsigned:0;
\tfield:__u16 sport;\toffset:64;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:66;\tsize:2;\tsigned:0;
\tfield:__u32 mark;\toffset:68;\tsize:4;\tsigned:0;
\tfield:__u16 length;\toffset:72;\tsize:2;\tsigned:0;
\tfield:__u32 snd_nxt;\toffset:76;\tsize:4;\tsigned:0;
\tfield:__u32 snd_una;\toffset:80;\tsize:4;\tsigned:0;
\tfield:__u32 snd_cwnd;\toffset:84;\tsize:4;\tsigned:0;
\tfield:__u32 ssthresh;\toffset:88;\tsize:4;\tsigned:0;
\tfield:__u32 snd_wnd;\toffset:92;\tsize:4;\tsigned:0;
\tfield:__u32 srtt;\toffset:96;\tsize:4;\tsigned:0;
\tfield:__u32 rcv_wnd;\toffset:100;\tsize:4;\tsigned:0;
`

/** uprobe_events' entry probe with a string fetch (`host=+0(%di):string`) and return probe, as 6.x defines them. */
export const UPROBE_ENTRY = (id: number, name: string) => `name: ${name}
ID: ${id}
format:
${COMMON}
\tfield:unsigned long __probe_ip;\toffset:8;\tsize:8;\tsigned:0;
\tfield:__data_loc char[] host;\toffset:16;\tsize:4;\tsigned:1;
`
export const UPROBE_RETURN = (id: number, name: string) => `name: ${name}
ID: ${id}
format:
${COMMON}
\tfield:unsigned long __probe_func;\toffset:8;\tsize:8;\tsigned:0;
\tfield:unsigned long __probe_ret_ip;\toffset:16;\tsize:8;\tsigned:0;
`

export type RecordValue = number | bigint | Uint8Array | string | null

/**
 * A record of `format` as the kernel writes one into the ring buffer: each value at its field's
 * offset (integers little-endian at the field's size, a bigint as 8 bytes, bytes as they are); a __data_loc field's
 * string after the fixed fields, NUL-terminated, its word the string's offset and length (null: a
 * length of 0, as a probe's faulted fetch stores).
 */
export function recordOf(format: EventFormat, pid: number, values: Record<string, RecordValue>): Buffer {
  const fixed = Math.max(...[...format.fields.values()].map((f) => f.offset + f.size))
  const strings: Buffer[] = []
  let dynamicAt = fixed
  const locs: [number, number][] = []
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== 'string' && value !== null) continue
    const field = format.fields.get(name)
    if (!field?.type.startsWith('__data_loc')) throw new Error(`${format.event} has no __data_loc field ${name}`)
    const text = value === null ? Buffer.alloc(0) : Buffer.from(`${value}\0`)
    locs.push([field.offset, ((text.length << 16) | dynamicAt) >>> 0])
    strings.push(text)
    dynamicAt += text.length
  }
  const record = Buffer.alloc(Math.ceil(dynamicAt / 4) * 4)
  record.writeUInt16LE(format.id, 0)
  record.writeInt32LE(pid, 4)
  Buffer.concat(strings).copy(record, fixed)
  for (const [offset, loc] of locs) record.writeUInt32LE(loc, offset)
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === 'string' || value === null) continue
    const field = format.fields.get(name)
    if (!field) throw new Error(`${format.event} has no ${name}`)
    if (value instanceof Uint8Array) {
      if (value.length > field.size) throw new Error(`${name} holds ${field.size} bytes`)
      record.set(value, field.offset)
    } else if (typeof value === 'bigint') record.writeBigUInt64LE(value, field.offset)
    else record.writeUIntLE(value >>> 0, field.offset, Math.min(field.size, 4))
  }
  return record
}

/** Encodes records of the given events and decodes them back as the raw reader does (EventDecoders). */
export class RecordRoundTrip {
  private readonly formats: Map<string, EventFormat>
  private readonly decoders: EventDecoders

  constructor(events: Record<string, {text: string; fields: string[]}>) {
    this.formats = new Map(Object.entries(events).map(([event, {text}]) => [event, parseEventFormat(event, text)]))
    this.decoders = new EventDecoders(Object.entries(events).map(([event, {fields}]) => ({format: this.formats.get(event)!, fields})))
  }

  event(event: string, pid: number, timestamp: number, values: Record<string, RecordValue> = {}): RawEvent {
    const record = recordOf(this.formats.get(event)!, pid, values)
    return this.decoders.decode(record, 0, record.length, 0, Math.round(timestamp * 1e9))!
  }
}

/** A struct sockaddr_in (family 2) or sockaddr_in6 (10) in a 28-byte array, as TP_STORE_ADDR_PORTS fills one. */
export function sockaddr(address: number[], port: number): Uint8Array {
  const bytes = Buffer.alloc(28)
  const v6 = address.length === 16
  bytes.writeUInt16LE(v6 ? 10 : 2, 0)
  bytes.writeUInt16BE(port, 2)
  bytes.set(address, v6 ? 8 : 4)
  return bytes
}

/** The kernel's TCP states by name (include/net/tcp_states.h), as inet_sock_set_state reports them. */
export const TCP_STATES = {ESTABLISHED: 1, SYN_SENT: 2, SYN_RECV: 3, FIN_WAIT1: 4, FIN_WAIT2: 5, CLOSE: 7, CLOSE_WAIT: 8, LAST_ACK: 9, LISTEN: 10}
