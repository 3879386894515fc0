import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import {FileProbeCache} from '../../src/probe/cache.js'
import {probeHost} from '../../src/probe/probe.js'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {TRANSFERS, type TcpSockField, calibrateTcpSock, tcpSockSize} from '../../src/net/tcp-offsets.js'
import {type BpfAddon, loadBpfAddon} from '../../src/system/bpf-addon.js'
import {NodeFiles} from '../../src/system/files.js'
import {UndoLog} from '../../src/system/undo.js'
import {expectKernelStateKept, isRoot} from '../helpers/kernel-state.js'
import {hostTruths, skipReason} from '../helpers/ground-truth.js'

const FIELDS: TcpSockField[] = ['srtt_us', 'mdev_us', 'bytes_acked', 'bytes_received']

/** tcp_sock's members and their byte offsets (and its size, as `sizeof`) as bpftool reads this kernel's BTF: apart from the addon. */
async function bpftoolTcpSock(): Promise<Map<string, number>> {
  const {stdout} = await execa('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', '--json'])
  const types = (JSON.parse(stdout) as {types: {kind: string; name: string; size: number; members?: {name: string; bits_offset: number}[]}[]}).types
  const sock = types.find((t) => t.kind === 'STRUCT' && t.name === 'tcp_sock')!
  return new Map([...sock.members!.map((m): [string, number] => [m.name, m.bits_offset / 8]), ['sizeof', sock.size]])
}

describe.skipIf(!isRoot)('tcp_sock calibration on this host (needs root)', () => {
  expectKernelStateKept()
  let addon: BpfAddon
  let truths: Map<string, boolean> | undefined
  beforeAll(async () => {
    const load = loadBpfAddon()
    if (!load.ok) throw new Error(load.reason)
    addon = load.addon
    truths = await hostTruths()
  })

  it("the addon's loopback connection reports the bytes it moved through the kernel's TCP_INFO", () => {
    const [client, server] = TRANSFERS[0]
    const info = addon.tcpLoopbackInfo(client, server)
    // bytes_acked counts the SYN too: the peer acknowledges one sequence number more than the data.
    expect(info).toMatchObject({bytesAcked: client + 1, bytesReceived: server})
    expect(info.rtt).toBeGreaterThan(0)
  })

  it("the addon reads tcp_sock's offsets from BTF as bpftool does", async (context) => {
    if (!truths?.get('btf')) return context.skip('this kernel lacks btf')
    const members = await bpftoolTcpSock()
    for (const field of FIELDS) expect(addon.btfMemberOffset('tcp_sock', field), field).toBe(members.get(field))
    expect(addon.btfMemberOffset('tcp_sock', 'no_such_member')).toBeNull()
  })

  it("bounds the search by the TCP slab's objects, which hold a whole tcp_sock", async (context) => {
    if (!truths?.get('btf')) return context.skip('this kernel lacks btf')
    const size = tcpSockSize(readFileSync('/proc/slabinfo', 'utf8'))
    expect(size).toBeGreaterThanOrEqual((await bpftoolTcpSock()).get('sizeof')!)
  })

  // The exact check: on a kernel with BTF as well, what calibration finds is where BTF says.
  it('calibrates srtt_us and the byte counts against TCP_INFO where BTF puts them, keeps them for the boot, and leaves nothing behind', async (context) => {
    const needs = ['bpf-syscall', 'bpf-helper-probe-read', 'bpf-map-hash', 'bpf-kprobe', 'btf']
    const missing = skipReason(needs, truths)
    if (missing) return context.skip(missing)
    // A cache of this test's own (root's, mode 0700: trusted), empty at first: the first run calibrates.
    const dir = mkdtempSync(path.join(tmpdir(), 'diag-calibration-'))
    const undo = new UndoLog()
    try {
      const fields: TcpSockField[] = ['srtt_us', 'bytes_acked', 'bytes_received']
      const calibrate = async () => {
        const probe = await probeHost({only: [...needs, 'bpf-global-data'], cache: new FileProbeCache(dir)}, undo)
        return calibrateTcpSock({probe, files: new NodeFiles('/'), undo, pid: process.pid}, fields)
      }
      const first = await calibrate()
      const members = await bpftoolTcpSock()
      expect(first).toEqual({offsets: {srtt_us: members.get('srtt_us'), bytes_acked: members.get('bytes_acked'), bytes_received: members.get('bytes_received')}, cached: false})
      expect(undo.size).toBe(0)
      expect(await calibrate()).toEqual({offsets: first.offsets, cached: true})
    } finally {
      expect(await undo.unwind()).toEqual([])
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
