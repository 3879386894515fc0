import {describe, expect, it} from 'vitest'

import {BadInputError} from '../../src/errors.js'
import {type ProbeEventSpec, defineProbeEvent, probeDefinition, probeRemoval} from '../../src/tracefs/probe-events.js'
import {MemoryFiles} from '../helpers/memory-files.js'

const T = '/sys/kernel/tracing'
const LIBC = '/lib/x86_64-linux-gnu/libc.so.6'

describe('probe event definitions (kprobe_events, uprobe_events)', () => {
  it.each<[string, ProbeEventSpec, string]>([
    ['a kprobe', {group: 'diag_1_bpf', event: 'tcp_drop', site: {kind: 'kprobe', func: 'tcp_drop'}}, 'p:diag_1_bpf/tcp_drop tcp_drop'],
    ['a kretprobe with a fetch argument', {group: 'g', event: 'receive', site: {kind: 'kprobe', func: 'tcp_recvmsg'}, ret: true, fetch: ['bytes=$retval:s32']}, 'r:g/receive tcp_recvmsg bytes=$retval:s32'],
    ['a uprobe at a file offset, in hex', {group: 'g', event: 'getaddrinfo', site: {kind: 'uprobe', path: LIBC, offset: 0xefc70n}, fetch: ['host=+0(%di):string']}, `p:g/getaddrinfo ${LIBC}:0xefc70 host=+0(%di):string`],
    ['a uretprobe at offset 0', {group: 'g', event: 'x_return', site: {kind: 'uprobe', path: '/usr/bin/node', offset: 0n}, ret: true}, 'r:g/x_return /usr/bin/node:0x0'],
  ])('writes %s as the kernel reads it', (_, spec, line) => {
    expect(probeDefinition(spec)).toBe(line)
  })

  it.each<[string, ProbeEventSpec]>([
    ['a kprobe fetch argument with a space', {group: 'g', event: 'e', site: {kind: 'kprobe', func: 'f'}, fetch: ['a=%di b=1']}],
    ['a fetch argument that starts another definition', {group: 'g', event: 'e', site: {kind: 'kprobe', func: 'f'}, fetch: ['-:g/e']}],
    ['a uprobe event name with a slash', {group: 'g', event: 'x/y', site: {kind: 'uprobe', path: LIBC, offset: 1n}}],
    ['a uprobe on a relative path', {group: 'g', event: 'e', site: {kind: 'uprobe', path: 'libc.so.6', offset: 1n}}],
    ['a uprobe on a path with a newline', {group: 'g', event: 'e', site: {kind: 'uprobe', path: `${LIBC}\n-:x/y`, offset: 1n}}],
    ['a uprobe at a negative offset', {group: 'g', event: 'e', site: {kind: 'uprobe', path: LIBC, offset: -1n}}],
  ])('refuses %s', (_, spec) => {
    expect(() => probeDefinition(spec)).toThrow(BadInputError)
  })

  it('removes by group and event', () => {
    expect(probeRemoval('diag_1_bpf', 'tcp_drop')).toBe('-:diag_1_bpf/tcp_drop')
  })

  it('defines an event in the file of its kind and returns its tracepoint id; remove() takes it away', async () => {
    const files = new MemoryFiles()
    files.files.set(`${T}/events/g/e/id`, '1234\n')
    const event = await defineProbeEvent(files, T, {group: 'g', event: 'e', site: {kind: 'uprobe', path: LIBC, offset: 16n}})
    expect(event.id).toBe(1234)
    await event.remove()
    expect(files.writes.map((w) => `${w.path} ${w.mode} ${w.text}`)).toEqual([`${T}/uprobe_events append p:g/e ${LIBC}:0x10`, `${T}/uprobe_events append -:g/e`])
  })

  it('removes the event again when its id cannot be read, and writes nothing for a refused definition', async () => {
    const files = new MemoryFiles()
    await expect(defineProbeEvent(files, T, {group: 'g', event: 'e', site: {kind: 'kprobe', func: 'vfs_read'}})).rejects.toThrow(/ENOENT/)
    expect(files.writes.map((w) => `${w.path} ${w.text}`)).toEqual([`${T}/kprobe_events p:g/e vfs_read`, `${T}/kprobe_events -:g/e`])
    const refused = new MemoryFiles()
    await expect(defineProbeEvent(refused, T, {group: 'g', event: 'e', site: {kind: 'kprobe', func: 'f'}, fetch: ['bad arg']})).rejects.toBeInstanceOf(BadInputError)
    expect(refused.writes).toEqual([])
  })
})
