import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

import {BadInputError} from '../../src/errors.js'
import {wallTime} from '../../src/system/clock.js'
import {readElf} from '../../src/system/elf.js'
import {LOOKUP_FUNCTIONS, findLibc, isLibcName, parseLoaderCache} from '../../src/system/libc.js'
import {mappedFiles} from '../../src/symbols/process-maps.js'
import {LookupPairing} from '../../tools/gethostlatency/ftrace.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import {UndoLog} from '../../src/system/undo.js'
import {MemoryFiles} from '../helpers/memory-files.js'
import {RecordRoundTrip, UPROBE_ENTRY, UPROBE_RETURN} from '../helpers/event-records.js'

const LOOKUPS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workload/diag-lookups')
const STATIC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workload/diag-workload')

describe('/proc/PID/maps', () => {
  it('lists each mapped file once, with its inode', () => {
    const text = [
      '55d0c0a00000-55d0c0a01000 r--p 00000000 fe:00 1180 /usr/bin/cat',
      '7f5f3c028000-7f5f3c1bd000 r-xp 00028000 fe:00 2345 /usr/lib/x86_64-linux-gnu/libc.so.6',
      '7f5f3c1bd000-7f5f3c215000 r--p 001bd000 fe:00 2345 /usr/lib/x86_64-linux-gnu/libc.so.6',
      '7ffd4b2f1000-7ffd4b312000 rw-p 00000000 00:00 0                          [stack]',
      '7f5f3c300000-7f5f3c301000 rw-p 00000000 00:00 0 ',
    ].join('\n')
    expect(mappedFiles(text)).toEqual([
      {path: '/usr/bin/cat', inode: 1180},
      {path: '/usr/lib/x86_64-linux-gnu/libc.so.6', inode: 2345},
    ])
  })

  it.each([
    ['/usr/lib/x86_64-linux-gnu/libc.so.6', true],
    ['/lib/libc-2.17.so', true],
    ['/lib/ld-musl-x86_64.so.1', true],
    ['/usr/lib/libc.so', true],
    ['/usr/lib/x86_64-linux-gnu/libcrypt.so.1', false],
    ['/usr/lib/x86_64-linux-gnu/libcap.so.2', false],
  ])('%s is a libc: %s', (file, expected) => expect(isLibcName(file)).toBe(expected))
})

describe('the loader cache', () => {
  it('reads the new format, alone or after the old one', () => {
    const strings = 'libc.so.6\0/lib/x86_64-linux-gnu/libc.so.6\0libm.so.6\0/lib/x86_64-linux-gnu/libm.so.6\0'
    const header = Buffer.alloc(48)
    header.write('glibc-ld.so.cache1.1')
    header.writeUInt32LE(2, 20)
    const entries = Buffer.alloc(48)
    const base = 48 + 48
    const at = (s: string) => base + strings.indexOf(s)
    entries.writeUInt32LE(0x303, 0)
    entries.writeUInt32LE(at('libc.so.6'), 4)
    entries.writeUInt32LE(at('/lib/x86_64-linux-gnu/libc.so.6'), 8)
    entries.writeUInt32LE(0x303, 24)
    entries.writeUInt32LE(at('libm.so.6'), 28)
    entries.writeUInt32LE(at('/lib/x86_64-linux-gnu/libm.so.6'), 32)
    const cache = Buffer.concat([header, entries, Buffer.from(strings)])
    const expected = [
      {soname: 'libc.so.6', path: '/lib/x86_64-linux-gnu/libc.so.6'},
      {soname: 'libm.so.6', path: '/lib/x86_64-linux-gnu/libm.so.6'},
    ]
    expect(parseLoaderCache(cache)).toEqual(expected)
    // Old-format files carry the new one after their own table; offsets stay relative to it.
    expect(parseLoaderCache(Buffer.concat([Buffer.from('ld.so-1.7.0\0\0\0\0\0'), cache]))).toEqual(expected)
    expect(parseLoaderCache(Buffer.from('not a cache'))).toEqual([])
  })
})

describe.skipIf(!existsSync(LOOKUPS))('the libc of this machine', () => {
  it('finds the lookup functions at the file offsets readelf gives', async () => {
    const libc = await findLibc({program: LOOKUPS})
    expect(libc.functions.map((f) => f.name)).toEqual([...LOOKUP_FUNCTIONS])
    const {stdout} = await execa('readelf', ['-W', '--dyn-syms', libc.path])
    const {stdout: segments} = await execa('readelf', ['-W', '-l', libc.path])
    // The address readelf gives, mapped to the file through the segment that loads it.
    const loads = [...segments.matchAll(/LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/g)].map((m) => m.slice(1).map((h) => BigInt(`0x${h}`)))
    for (const f of libc.functions) {
      const address = BigInt(`0x${new RegExp(`:\\s+([0-9a-f]+)\\s+\\d+\\s+FUNC\\s+\\w+\\s+DEFAULT\\s+\\d+\\s+${f.name}@@`).exec(stdout)![1]}`)
      const [offset, vaddr] = loads.find(([, v, size]) => address >= v && address < v + size)!
      expect(f.offset).toBe(address - vaddr + offset)
    }
  })

  it('names the same libc for a running process, the system and the command', async () => {
    const system = await findLibc({})
    const own = await findLibc({pid: process.pid})
    const elf = await readElf(LOOKUPS)
    expect(elf.interpreter).toMatch(/ld-linux/)
    expect(elf.needed).toContain('libc.so.6')
    expect(own.functions).toEqual(system.functions)
  })

  it('refuses what is no libc, or cannot be traced through one, as bad input', async () => {
    await expect(findLibc({libc: '/etc/hostname'})).rejects.toThrow(BadInputError)
    await expect(findLibc({libc: '/nonexistent/libc.so.6'})).rejects.toThrow(/ENOENT/)
    await expect(findLibc({libc: LOOKUPS})).rejects.toThrow(/defines none of getaddrinfo/)
    await expect(findLibc({libc: '/tmp/a b/libc.so.6'})).rejects.toThrow(/cannot go in a uprobe definition/)
    await expect(findLibc({pid: 2 ** 22 + 1})).rejects.toThrow(/is the process gone/)
    if (existsSync(STATIC)) await expect(findLibc({program: STATIC})).rejects.toThrow(/statically linked/)
  })
})

describe('pairing uprobe events (trace_pipe_raw records) into rows', () => {
  const events = new RecordRoundTrip({
    'diag_1_gethostlatency/getaddrinfo': {text: UPROBE_ENTRY(2601, 'getaddrinfo'), fields: ['host']},
    'diag_1_gethostlatency/getaddrinfo_return': {text: UPROBE_RETURN(2602, 'getaddrinfo_return'), fields: []},
    'diag_1_gethostlatency/gethostbyname': {text: UPROBE_ENTRY(2603, 'gethostbyname'), fields: ['host']},
    'diag_1_gethostlatency/gethostbyname_return': {text: UPROBE_RETURN(2604, 'gethostbyname_return'), fields: []},
  })
  const event = (pid: number, name: string, timestamp: number, host?: string | null) =>
    events.event(`diag_1_gethostlatency/${name}`, pid, timestamp, host === undefined ? {} : {host, __probe_ip: 0x7f0000001000})
  // Threads 101 and 102 of process 100.
  const threads = {groupOf: () => 100, nameOf: () => 'diag-lookups'}

  it("pairs each return with its thread's entry, and reads the host (null where its read faulted)", () => {
    const pairing = new LookupPairing(threads, (t) => `t${t}`)
    expect(event(101, 'getaddrinfo', 1.0, 'a.example').fields).toEqual({host: 'a.example'})
    expect(pairing.event(event(101, 'getaddrinfo', 1.0, 'a.example'))).toBeUndefined()
    expect(pairing.event(event(102, 'gethostbyname', 1.1, 'b.example'))).toBeUndefined()
    expect(pairing.event(event(102, 'gethostbyname_return', 1.1025))).toEqual({time: 't1.1025', pid: 100, comm: 'diag-lookups', latMs: 2.5, host: 'b.example'})
    expect(pairing.event(event(101, 'getaddrinfo_return', 1.5))).toEqual({time: 't1.5', pid: 100, comm: 'diag-lookups', latMs: 500, host: 'a.example'})
    // A return whose entry came before tracing makes no row.
    expect(pairing.event(event(101, 'getaddrinfo_return', 2))).toBeUndefined()
    // A faulted fetch (a length of 0), and an empty name (its NUL alone).
    expect(pairing.event(event(101, 'getaddrinfo', 3, null))).toBeUndefined()
    expect(pairing.event(event(101, 'getaddrinfo_return', 3.001))).toMatchObject({host: null})
    expect(pairing.event(event(101, 'getaddrinfo', 4, ''))).toBeUndefined()
    expect(pairing.event(event(101, 'getaddrinfo_return', 4.001))).toMatchObject({host: ''})
  })
})

describe('uprobe definitions', () => {
  const T = '/sys/kernel/tracing'
  const session = () => {
    const files = new MemoryFiles()
    const undo = new UndoLog()
    return {files, undo, tracefs: new TracefsSession(files, T, 4242, undo)}
  }

  it('defines entry and return probes at a file offset, pid-named, removed at the end', async () => {
    const {files, undo, tracefs} = session()
    const target = {path: '/lib/x86_64-linux-gnu/libc.so.6', offset: 0xefc70n}
    expect(await tracefs.uprobe('gethostlatency', 'getaddrinfo', target, false, ['host=+0(%di):string'])).toBe('diag_4242_gethostlatency/getaddrinfo')
    await tracefs.uprobe('gethostlatency', 'getaddrinfo_return', target, true)
    expect(await undo.unwind()).toEqual([])
    expect(files.writes.map((w) => `${w.mode} ${w.text}`)).toEqual([
      'append p:diag_4242_gethostlatency/getaddrinfo /lib/x86_64-linux-gnu/libc.so.6:0xefc70 host=+0(%di):string',
      'append r:diag_4242_gethostlatency/getaddrinfo_return /lib/x86_64-linux-gnu/libc.so.6:0xefc70',
      'append -:diag_4242_gethostlatency/getaddrinfo_return',
      'append -:diag_4242_gethostlatency/getaddrinfo',
    ])
  })

  it.each([
    ['a path with a space', {path: '/tmp/a b/libc.so.6', offset: 1n}, 'ok', []],
    ['a relative path', {path: 'libc.so.6', offset: 1n}, 'ok', []],
    ['a path with a newline', {path: '/lib/libc.so.6\n-:x/y', offset: 1n}, 'ok', []],
    ['an event name with a slash', {path: '/lib/libc.so.6', offset: 1n}, 'x/y', []],
    ['a fetch argument with a space', {path: '/lib/libc.so.6', offset: 1n}, 'ok', ['a=+0(%di):string b=1']],
    ['a negative offset', {path: '/lib/libc.so.6', offset: -1n}, 'ok', []],
  ])('refuses %s, writing nothing', async (_, target, event, fetch) => {
    const {files, tracefs} = session()
    await expect(tracefs.uprobe('gethostlatency', event, target, false, fetch)).rejects.toBeInstanceOf(BadInputError)
    expect(files.writes).toEqual([])
  })

  it('maps a monotonic trace timestamp to the wall clock', () => {
    expect(wallTime(100.5, Date.parse('2026-11-27T10:00:00.000Z'), 101_000)).toBe('2026-11-27T09:59:59.500Z')
  })
})
