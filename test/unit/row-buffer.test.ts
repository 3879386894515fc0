import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {bpfObjectPath} from '../../src/system/paths.js'

// The ring buffer of the row tools (bpf/diag.h DIAG_ROW_EVENTS_BYTES): 4 MiB, the size
// bench/row-buffer.mjs chose (README), in every ring-buffer build of each of them.
const ROW_OBJECTS = ['tcplife', 'tcplife.tp_btf', 'tcplife.kprobe', 'tcpdrop', 'tcpdrop.tp_btf', 'gethostlatency']
const ROW_EVENTS_BYTES = 4 * 1024 * 1024

type BtfType = {id: number; kind: string; name: string; type_id?: number; nr_elems?: number; members?: {name: string; type_id: number}[]}

/** The `events` map an object declares: its type and max_entries, as its BTF says (bpftool). */
function eventsMap(object: string): {type: number | undefined; maxEntries: number | undefined} {
  const dump = spawnSync('bpftool', ['-j', 'btf', 'dump', 'file', bpfObjectPath(object)])
  if (dump.status !== 0) throw new Error(`bpftool btf dump ${object}: ${dump.stderr}`)
  const types = new Map((JSON.parse(dump.stdout.toString()) as {types: BtfType[]}).types.map((t) => [t.id, t]))
  const events = [...types.values()].find((t) => t.kind === 'VAR' && t.name === 'events')
  // A map definition's __uint(field, N) is a pointer to an array of N (libbpf's bpf_helpers.h).
  const field = (name: string) => types.get(types.get(types.get(events?.type_id ?? -1)?.members?.find((m) => m.name === name)?.type_id ?? -1)?.type_id ?? -1)?.nr_elems
  return {type: field('type'), maxEntries: field('max_entries')}
}

const BPF_MAP_TYPE_RINGBUF = 27
const built = ROW_OBJECTS.every((o) => existsSync(bpfObjectPath(o)))
const bpftool = spawnSync('bpftool', ['version']).status === 0

describe.skipIf(!built || !bpftool)('the row tools ring buffer (needs npm run build:bpf and bpftool)', () => {
  it.for(ROW_OBJECTS)('%s declares a ring buffer of 4 MiB', (object) => {
    expect(eventsMap(object)).toEqual({type: BPF_MAP_TYPE_RINGBUF, maxEntries: ROW_EVENTS_BYTES})
  })
})
