import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {Row} from '../../src/result/model.js'
import {tcplife} from '../../tools/tcplife/tool.js'
import {diag, startDiag, tracingStarted} from '../helpers/cli.js'
import {hostTruths, skipReason} from '../helpers/ground-truth.js'
import {expectKernelStateKept, isRoot, watched} from '../helpers/kernel-state.js'
import {parseRowStream} from '../helpers/results.js'
import {TCP_WORKLOAD, startTcpServer, workloadBuilt} from '../helpers/workload.js'

const CANDIDATES = tcplife.candidates.map((c) => ({id: c.id, needs: c.needs}))
// The candidates that read the bytes from the socket: through BTF, or (the no-BTF BPF ones) at
// offsets calibrated against TCP_INFO where the kernel has BPF kprobes; the others cannot know them.
const KNOWS_BYTES = new Set(['bpf-tp-btf'])
const CALIBRATES_BYTES = new Set(['bpf-tracepoint', 'bpf-kprobe'])
let kprobes = false
const knowsBytes = (id: string) => KNOWS_BYTES.has(id) || (CALIBRATES_BYTES.has(id) && kprobes)
const SEND = 100_000
const REPLY = 50_000

/** The client's pid (the shell execs it, so `$$` is its pid) and its sessions' local ports, from its output. */
function clientSaid(text: string): {pid: number; lports: number[]} {
  return {pid: Number(/^pid (\d+)$/m.exec(text)?.[1]), lports: [...text.matchAll(/^lport (\d+)$/gm)].map((m) => Number(m[1]))}
}

const client = (address: string, port: number, sessions: number) => ['sh', '-c', `echo pid $$; exec ${TCP_WORKLOAD} client ${address} ${port} ${sessions} ${SEND}`]

/** What every row of the client's sessions must say, by backend: bytes within 1 KiB where it can know them, null where not. */
function expectSessionRows(rows: Row[], id: string, expected: {pid: number; lports: number[]; address: string; port: number; tx: number; rx: number}): void {
  expect(rows.map((r) => r.lport)).toEqual(expected.lports)
  for (const row of rows) {
    expect(row).toMatchObject({pid: expected.pid, comm: 'diag-tcp', laddr: expected.address, raddr: expected.address, rport: expected.port, backend: id})
    expect(row.ms).toBeGreaterThanOrEqual(0)
    if (knowsBytes(id)) {
      expect(Math.abs(Number(row.txKb) * 1024 - expected.tx)).toBeLessThanOrEqual(1024)
      expect(Math.abs(Number(row.rxKb) * 1024 - expected.rx)).toBeLessThanOrEqual(1024)
    } else {
      expect(row.txKb).toBeNull()
      expect(row.rxKb).toBeNull()
    }
  }
}

describe.skipIf(!isRoot || !workloadBuilt)('tcplife on this host (needs root and test/workload/diag-tcp)', () => {
  expectKernelStateKept()
  // Why a candidate cannot run here, from what the kernel has (its config, peers), not from diag's probe.
  let truths: Map<string, boolean> | undefined
  const servers: Record<string, Awaited<ReturnType<typeof startTcpServer>>> = {}
  beforeAll(async () => {
    truths = await hostTruths()
    kprobes = truths?.get('bpf-kprobe') === true
    servers['127.0.0.1'] = await startTcpServer('127.0.0.1', REPLY)
    servers['::1'] = await startTcpServer('::1', REPLY)
  })
  afterAll(async () => {
    for (const server of Object.values(servers)) await server.stop()
  })
  const missing = (needs: string[]) => skipReason(needs, truths)

  for (const [address, sessions] of [['127.0.0.1', 3], ['::1', 2]] as const) {
    it.for(CANDIDATES)(`$id prints exactly one row per session a traced command opens to ${address}, with its pid, ports and bytes`, async ({id, needs}, context) => {
      if (missing(needs)) return context.skip(missing(needs)!)
      const {port} = servers[address]
      const run = await diag(['tcplife', '--backend', id, '--json', '--', ...client(address, port, sessions)])
      expect(run.exitCode, run.stderr).toBe(0)
      const {rows, summary} = parseRowStream(run.stdout)
      const said = clientSaid(run.stderr)
      expect(said.lports).toHaveLength(sessions)
      expectSessionRows(rows, id, {...said, address, port, tx: SEND, rx: REPLY})
      expect(summary.backend).toMatchObject({candidate: id})
      expect(summary.lost).toBe(0)
      expect(summary.rowCount).toBe(sessions)
    })
  }

  // The server's side: its sessions are passive (opened by packets, in whatever process the kernel
  // interrupted), so their owner is the server from its close; what it sent is the client's RX.
  it.for(CANDIDATES)('$id names the server as the owner of the sessions it accepted (--pid), with the bytes the other way', async ({id, needs}, context) => {
    if (missing(needs)) return context.skip(missing(needs)!)
    const server = servers['127.0.0.1']
    const tracer = startDiag(['tcplife', '--backend', id, '--json', '--pid', String(server.pid), '--duration', '30'])
    await tracingStarted(tracer, 'Hit Ctrl-C')
    const run = await execa(TCP_WORKLOAD, ['client', '127.0.0.1', String(server.port), '2', String(SEND)])
    // The server closes its side last: its rows come once it has; then diag is stopped.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    tracer.kill('SIGINT')
    const result = await tracer
    expect(result.exitCode, String(result.stderr)).toBe(0)
    const {rows} = parseRowStream(String(result.stdout))
    const lports = clientSaid(run.stdout).lports
    expect(rows.map((r) => r.rport)).toEqual(lports)
    for (const row of rows) {
      expect(row).toMatchObject({pid: server.pid, comm: 'diag-tcp', lport: server.port, backend: id})
      if (knowsBytes(id)) {
        expect(Math.abs(Number(row.txKb) * 1024 - REPLY)).toBeLessThanOrEqual(1024)
        expect(Math.abs(Number(row.rxKb) * 1024 - SEND)).toBeLessThanOrEqual(1024)
      }
    }
  })

  // System-wide: the client's sessions close in the server's context (its FIN), yet are the client's.
  it.for(CANDIDATES)('$id names each session of the whole system by the process that owned it, not the one its close came in', async ({id, needs}, context) => {
    if (missing(needs)) return context.skip(missing(needs)!)
    const server = servers['127.0.0.1']
    const tracer = startDiag(['tcplife', '--backend', id, '--json', '--duration', '30'])
    await tracingStarted(tracer, 'Hit Ctrl-C')
    const run = execa(TCP_WORKLOAD, ['client', '127.0.0.1', String(server.port), '2', String(SEND)])
    const {stdout} = await run
    await new Promise((resolve) => setTimeout(resolve, 1000))
    tracer.kill('SIGINT')
    const result = await tracer
    expect(result.exitCode, String(result.stderr)).toBe(0)
    const lports = clientSaid(stdout).lports
    const {rows} = parseRowStream(String(result.stdout))
    expectSessionRows(rows.filter((r) => r.rport === server.port), id, {pid: run.pid!, lports, address: '127.0.0.1', port: server.port, tx: SEND, rx: REPLY})
    expect(rows.filter((r) => r.lport === server.port).map((r) => r.pid)).toEqual([server.pid, server.pid])
  })

  it.for(CANDIDATES)('$id keeps only the sessions --local-port and --remote-port ask for', async ({id, needs}, context) => {
    if (missing(needs)) return context.skip(missing(needs)!)
    const {port} = servers['127.0.0.1']
    const kept = await diag(['tcplife', '--backend', id, '--json', '--remote-port', `1,${port}`, '--', ...client('127.0.0.1', port, 1)])
    expect(parseRowStream(kept.stdout).rows).toHaveLength(1)
    const dropped = await diag(['tcplife', '--backend', id, '--json', '--local-port', String(port), '--', ...client('127.0.0.1', port, 1)])
    expect(dropped.exitCode, dropped.stderr).toBe(0)
    expect(parseRowStream(dropped.stdout).summary.rowCount).toBe(0)
  })

  it('refuses a port out of range before touching the kernel', async () => {
    const run = await watched(['tcplife', '--local-port', '80,70000', '--duration', '1'])
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/--local-port takes ports from 1 to 65535.*"70000"/)
    expect(run.made).toEqual([])
  })
})
