import {NotSupportedError} from '../../src/errors.js'
import type {EventFormat} from '../../src/tracefs/format.js'

/**
 * The binary pages of the ftrace ring buffer, as per_cpu/cpuN/trace_pipe_raw gives them: every
 * offset and size is read from the running kernel (events/header_page, events/header_event, each
 * event's format), not taken from one kernel's headers.
 */

/** Where a page keeps its base timestamp, its committed length and its records. */
export interface PageLayout {
  timestampOffset: number
  commitOffset: number
  dataOffset: number
  /** Bytes of records a page holds; a page is dataOffset + dataSize bytes. */
  dataSize: number
}

/** The record header: a type_len of typeLenBits, the rest of the first word a time delta. */
export interface RecordHeader {
  typeLenBits: number
  timeDeltaBits: number
  padding: number
  timeExtend: number
  /** Absent where the kernel does not say (it then never writes one). */
  timeStamp?: number
  /** type_len values 1..dataMax hold the record's length in 4-byte words. */
  dataMax: number
}

// The commit word's top bits are flags: events were missed before this page (and their count is
// stored after the data). Their count comes from per_cpu/cpuN/stats instead.
const COMMIT_LENGTH_MASK = 0x3fffffff

export function parseHeaderPage(text: string): PageLayout {
  const field = (name: string) => {
    const m = new RegExp(`field:[^;]*\\b${name};\\s*offset:(\\d+);\\s*size:(\\d+);`).exec(text)
    if (!m) throw new NotSupportedError(`events/header_page has no ${name} field`)
    return {offset: Number(m[1]), size: Number(m[2])}
  }
  const timestamp = field('timestamp')
  const commit = field('commit')
  const data = field('data')
  if (timestamp.size !== 8 || (commit.size !== 4 && commit.size !== 8))
    throw new NotSupportedError(`events/header_page has a ${timestamp.size}-byte timestamp and a ${commit.size}-byte commit; diag reads 8 and 4 or 8`)
  return {timestampOffset: timestamp.offset, commitOffset: commit.offset, dataOffset: data.offset, dataSize: data.size}
}

export function parseHeaderEvent(text: string): RecordHeader {
  const bits = (name: string) => Number(new RegExp(`^\\s*${name}\\s*:\\s*(\\d+) bits`, 'm').exec(text)?.[1])
  const type = (name: string) => {
    const m = new RegExp(`^\\s*${name}\\s*:\\s*type == (\\d+)`, 'm').exec(text)
    return m ? Number(m[1]) : undefined
  }
  const typeLenBits = bits('type_len')
  const timeDeltaBits = bits('time_delta')
  const padding = type('padding')
  const timeExtend = type('time_extend')
  const dataMax = Number(/data max type_len\s*==\s*(\d+)/.exec(text)?.[1])
  if (typeLenBits + timeDeltaBits !== 32 || padding === undefined || timeExtend === undefined || !dataMax)
    throw new NotSupportedError('events/header_event is not the compressed entry header diag reads')
  return {typeLenBits, timeDeltaBits, padding, timeExtend, timeStamp: type('time_stamp'), dataMax}
}

/** One event as the reader gives it: the fields the consumer asked for, by name. */
export interface RawEvent {
  /** The event's name without its group ("sys_enter"), as trace_pipe names it. */
  event: string
  pid: number
  cpu: number
  /** Seconds, as the instance's trace clock gives them (nanosecond resolution). */
  timestamp: number
  fields: Record<string, FieldValue>
}

/**
 * A field's value: an integer, a string (text, or a pointer as its hex address: a key, exact where
 * a number would round one above 2^53), or the bytes of a fixed byte array (an address, a struct
 * sockaddr); null for a __data_loc string the kernel stored none for (a probe's fetch that faulted,
 * which trace_pipe prints as "(fault)").
 */
export type FieldValue = number | string | Uint8Array | null

type FieldRead = (data: Buffer, offset: number, end: number) => FieldValue
const TWO_32 = 2 ** 32

// "__u8 saddr[4]", "u8 daddr[16]", "__u8 saddr[sizeof(struct sockaddr_in6)]" (kernels that print the
// array's length as its source wrote it): bytes, not text. Arrays of char stay strings.
const BYTE_ARRAY = /^(?:const\s+)?(?:__u8|u8|uint8_t|unsigned char)\s+\w+\[[^\]]*\]$/
// "const void * skaddr", "struct sk_buff *skbaddr": a kernel address.
const POINTER = /\*\s*\w+$/

/**
 * Reads a field at its format's offset and size: integers as numbers (64-bit ones exact to 2^53),
 * pointers as hex text ("0xffff888812345000": a kernel address is above 2^53), char arrays and __data_loc strings as text (null for none), fixed byte arrays as their bytes (a copy: the page
 * they are read from is read into again).
 */
export function fieldReader(format: EventFormat, name: string): FieldRead {
  const field = format.fields.get(name)
  if (!field) throw new NotSupportedError(`${format.event} has no field ${name}`, {event: format.event, field: name})
  const at = field.offset
  if (field.type.startsWith('__data_loc')) {
    // A 32-bit word: the string's offset in the record (low half) and length (high half).
    return (data, offset, end) => {
      const loc = data.readUInt32LE(offset + at)
      // A stored string has at least its NUL: a length of 0 is none.
      if (loc >>> 16 === 0) return null
      const start = offset + (loc & 0xffff)
      return cString(data, start, Math.min(end, start + (loc >>> 16)))
    }
  }
  if (BYTE_ARRAY.test(field.type)) return (data, offset) => new Uint8Array(data.subarray(offset + at, offset + at + field.size))
  if (/\[\d+\]$/.test(field.type) && /\bchar\b/.test(field.type)) return (data, offset) => cString(data, offset + at, offset + at + field.size)
  if (POINTER.test(field.type) && field.size === 8) return (data, offset) => `0x${data.readBigUInt64LE(offset + at).toString(16)}`
  if (POINTER.test(field.type) && field.size === 4) return (data, offset) => `0x${data.readUInt32LE(offset + at).toString(16)}`
  switch (field.size) {
    case 1:
      return field.signed ? (data, offset) => data.readInt8(offset + at) : (data, offset) => data[offset + at]
    case 2:
      return field.signed ? (data, offset) => data.readInt16LE(offset + at) : (data, offset) => data.readUInt16LE(offset + at)
    case 4:
      return field.signed ? (data, offset) => data.readInt32LE(offset + at) : (data, offset) => data.readUInt32LE(offset + at)
    case 8:
      return field.signed
        ? (data, offset) => data.readInt32LE(offset + at + 4) * TWO_32 + data.readUInt32LE(offset + at)
        : (data, offset) => data.readUInt32LE(offset + at + 4) * TWO_32 + data.readUInt32LE(offset + at)
    default:
      throw new NotSupportedError(`${format.event} field ${name} is ${field.size} bytes: not a number or string diag reads`)
  }
}

function cString(data: Buffer, start: number, end: number): string {
  const nul = data.indexOf(0, start)
  return data.toString('utf8', start, nul >= 0 && nul < end ? nul : end)
}

/** How the records of the enabled events are told apart and read. */
export class EventDecoders {
  private readonly byType = new Map<number, (data: Buffer, offset: number, end: number, cpu: number, timestamp: number) => RawEvent>()
  private readonly typeAt: number
  private readonly pidAt: number

  /** `events`: each event's format file text with the fields its consumer reads. */
  constructor(events: {format: EventFormat; fields: string[]}[]) {
    const first = events[0]?.format
    if (!first) throw new NotSupportedError('no events to read')
    const common = (name: string) => {
      const field = first.fields.get(name)
      if (!field) throw new NotSupportedError(`${first.event} has no ${name} field`)
      return field
    }
    if (common('common_type').size !== 2 || common('common_pid').size !== 4) throw new NotSupportedError('common_type or common_pid has a size diag does not read')
    this.typeAt = common('common_type').offset
    this.pidAt = common('common_pid').offset
    for (const {format, fields} of events) {
      const name = format.event.split('/').pop()!
      const readers = fields.map((field) => [field, fieldReader(format, field)] as const)
      this.byType.set(format.id, (data, offset, end, cpu, timestamp) => {
        const values: Record<string, FieldValue> = {}
        for (const [field, read] of readers) values[field] = read(data, offset, end)
        return {event: name, pid: data.readInt32LE(offset + this.pidAt), cpu, timestamp, fields: values}
      })
    }
  }

  /** The event a record holds, or undefined for an event that was not asked for. */
  decode(data: Buffer, offset: number, end: number, cpu: number, timestampNs: number): RawEvent | undefined {
    if (end - offset < this.pidAt + 4) return undefined
    return this.byType.get(data.readUInt16LE(offset + this.typeAt))?.(data, offset, end, cpu, timestampNs / 1e9)
  }
}

// Absolute timestamps carry the low 59 bits; the top ones are the page's.
const ABSOLUTE_HIGH = 2 ** 59

/**
 * The records of one page, in order, as the kernel's own reader walks them (rb_update_read_stamp):
 * a data record adds its delta to the running timestamp, a time-extend record adds a long one,
 * an absolute one sets it, padding (a discarded record) is skipped and a null padding ends the
 * page. `onRecord` gets the data's bounds in `page` and the record's timestamp in the clock's units.
 */
export function walkPage(
  page: Buffer,
  layout: PageLayout,
  header: RecordHeader,
  onRecord: (start: number, end: number, timestamp: number) => void,
): number {
  let timestamp = page.readUInt32LE(layout.timestampOffset + 4) * TWO_32 + page.readUInt32LE(layout.timestampOffset)
  const typeMask = (1 << header.typeLenBits) - 1
  const deltaShift = header.typeLenBits
  const extendScale = 2 ** header.timeDeltaBits
  const end = layout.dataOffset + Math.min(page.readUInt32LE(layout.commitOffset) & COMMIT_LENGTH_MASK, layout.dataSize)
  let records = 0
  for (let at = layout.dataOffset; at + 4 <= end; ) {
    const word = page.readUInt32LE(at)
    const typeLen = word & typeMask
    const delta = word >>> deltaShift
    if (typeLen === header.padding) {
      if (delta === 0) break
      at += 4 + page.readUInt32LE(at + 4)
    } else if (typeLen === header.timeExtend) {
      timestamp += page.readUInt32LE(at + 4) * extendScale + delta
      at += 8
    } else if (typeLen === header.timeStamp) {
      const low = page.readUInt32LE(at + 4) * extendScale + delta
      timestamp = Math.floor(timestamp / ABSOLUTE_HIGH) * ABSOLUTE_HIGH + low
      at += 8
    } else if (typeLen === 0) {
      // The length word counts itself: the data follows it.
      const length = page.readUInt32LE(at + 4)
      timestamp += delta
      if (at + 4 + length > end) break
      onRecord(at + 8, at + 4 + length, timestamp)
      records++
      at += 4 + length
    } else if (typeLen <= header.dataMax) {
      timestamp += delta
      const next = at + 4 + typeLen * 4
      if (next > end) break
      onRecord(at + 4, next, timestamp)
      records++
      at = next
    } else {
      throw new NotSupportedError(`a ring-buffer record of type ${typeLen}, which events/header_event does not describe`)
    }
  }
  return records
}
