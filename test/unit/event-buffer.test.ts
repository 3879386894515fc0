import {describe, expect, it} from 'vitest'

import {NO_GLOBAL_DATA, type RawEventBuffer, objectVariant} from '../../backends/bpf/bpf-tool.js'
import {EventBatch, EventBuffer, type EventSource, PERF_BUFFER, RING_BUFFER, eventBufferKind} from '../../backends/bpf/event-buffer.js'
import type {CapabilityResult} from '../../src/probe/types.js'
import {UndoLog} from '../../src/system/undo.js'

const probe = (available: string[]): {capabilities: CapabilityResult[]} => ({
  capabilities: [RING_BUFFER, PERF_BUFFER].map((name) => ({name, section: 'bpf', description: '', minKernel: '', status: available.includes(name) ? 'available' : 'unavailable', evidence: 'probe', detail: ''})),
})

/** A stand-in for a loaded BpfTool and the addon's buffer: the test plays the kernel. */
function fakeSource(kind: 'ring' | 'perf', counted = 0, kernelLost = 0, sent = 0) {
  const calls: string[] = []
  let deliver: ((data: Buffer, offsets: Uint32Array) => void) | undefined
  let pending: Buffer[] = []
  const batch = (records: Buffer[]) => {
    const offsets = new Uint32Array(records.length + 1)
    let at = 0
    records.forEach((r, i) => {
      offsets[i] = at
      at += r.length
    })
    offsets[records.length] = at
    deliver!(Buffer.concat(records), offsets)
  }
  const raw: RawEventBuffer = {
    consume: () => {
      const n = pending.length
      if (n) batch(pending)
      pending = []
      return n
    },
    kernelLost: () => kernelLost,
    close: () => calls.push('close'),
  }
  const source: EventSource = {
    events: kind,
    openEventBuffer: (map, pages, onBatch) => {
      calls.push(`open ${map} ${pages}`)
      deliver = onBatch
      return raw
    },
    lost: () => counted,
    countEntries: (map) => (map === 'events_sent' ? [[Buffer.alloc(4), sent]] : []),
  }
  return {source, calls, batch, leave: (records: Buffer[]) => (pending = records)}
}

describe('choosing the event buffer', () => {
  it('is a ring buffer where the kernel has one, else a perf buffer', () => {
    expect(eventBufferKind(probe([RING_BUFFER, PERF_BUFFER]))).toBe('ring')
    expect(eventBufferKind(probe([PERF_BUFFER]))).toBe('perf')
    expect(eventBufferKind({capabilities: []})).toBe('perf')
  })

  it('opens the ring buffer build or the perf buffer build of the object, whatever global data says', () => {
    expect(objectVariant('t', probe([]), 'ring')).toBe('t')
    expect(objectVariant('t', probe([]), 'perf')).toBe(`t.${NO_GLOBAL_DATA}`)
  })
})

describe('EventBuffer', () => {
  it('hands each batch over as records, and keeps those that came before a listener', () => {
    const fake = fakeSource('ring')
    const buffer = EventBuffer.open(fake.source, new UndoLog())
    expect(fake.calls).toEqual(['open events 64'])
    fake.batch([Buffer.from('ab'), Buffer.from('cde')])
    const seen: string[][] = []
    buffer.onEvents((batch) => seen.push([...batch].map(String)))
    fake.batch([Buffer.from('f')])
    expect(seen).toEqual([['ab', 'cde'], ['f']])
  })

  it('drains what is left, and nothing once closed', () => {
    const fake = fakeSource('ring')
    const buffer = EventBuffer.open(fake.source, new UndoLog(), {map: 'rows', perfPages: 8})
    const seen: string[] = []
    buffer.onEvents((batch) => seen.push(...[...batch].map(String)))
    fake.leave([Buffer.from('x'), Buffer.from('y')])
    expect(buffer.drain()).toBe(2)
    expect(seen).toEqual(['x', 'y'])
    buffer.close()
    fake.leave([Buffer.from('z')])
    expect(buffer.drain()).toBe(0)
    expect(fake.calls).toEqual(['open rows 8', 'close'])
  })

  it('is closed by the undo log, once', async () => {
    const fake = fakeSource('ring')
    const undo = new UndoLog()
    const buffer = EventBuffer.open(fake.source, undo)
    buffer.close()
    expect(await undo.unwind()).toEqual([])
    expect(fake.calls.filter((c) => c === 'close')).toHaveLength(1)
  })

  it("counts a ring buffer's losses as the program counted them", () => {
    expect(EventBuffer.open(fakeSource('ring', 7, 99).source, new UndoLog()).lost()).toBe(7)
  })

  // A perf buffer's losses: what the kernel reported so far while running; once drained, exactly
  // what emit() sent less what arrived (the kernel may never report the last ones, and before 5.4
  // the program cannot tell); plus the object's other losses (full maps).
  it("counts a perf buffer's losses as the kernel reports them, and exactly as sent - received once drained, also after close", () => {
    const fake = fakeSource('perf', 2, 5, 10)
    const buffer = EventBuffer.open(fake.source, new UndoLog())
    fake.batch([Buffer.from('a'), Buffer.from('b')])
    expect(buffer.lost()).toBe(2 + 5)
    fake.leave([Buffer.from('c')])
    buffer.drain()
    expect(buffer.lost()).toBe(2 + 10 - 3)
    buffer.close()
    expect(buffer.lost()).toBe(2 + 10 - 3)
  })

  it('slices a batch by its offsets', () => {
    const batch = new EventBatch(Buffer.from('abcdef'), Uint32Array.from([0, 1, 1, 6]))
    expect(batch.count).toBe(3)
    expect([...batch].map(String)).toEqual(['a', '', 'bcdef'])
  })
})
