import {existsSync} from 'node:fs'
import {release} from 'node:os'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {NO_GLOBAL_DATA} from '../../backends/bpf/bpf-tool.js'
import {type BpfObjectHandle, loadBpfAddon} from '../../src/system/bpf-addon.js'
import {bpfObjectPath} from '../../src/system/paths.js'
import {expectKernelStateKept, isRoot} from '../helpers/kernel-state.js'
import {TCP_STATES} from '../helpers/event-records.js'

// tcplife's session rules in BPF (tools/tcplife/tcplife.h session_changed), on state changes made
// up here and run through BPF_PROG_TEST_RUN (test/bpf/tcplife-sessions.bpf.c): which changes close
// a session tcplife sends, and what it knew of it. The sockets are made-up addresses (only keys).
const TCP = TCP_STATES
type State = keyof typeof TCP
// The program's return: SENT with the KNOWN_* bits, or 0.
const SENT = 0x100
const KNOWN = {owner: 1, span: 2}
const OBJECTS = ['tcplife-sessions', `tcplife-sessions.${NO_GLOBAL_DATA}`]
const built = OBJECTS.every((o) => existsSync(bpfObjectPath(o)))
// BPF_PROG_TEST_RUN of raw tracepoint programs: 5.10.
const [major, minor] = release().split('.').map(Number)
const testRunnable = major > 5 || (major === 5 && minor >= 10)

describe.skipIf(!isRoot || !built || !testRunnable)('tcplife session_changed in BPF (needs root, npm run build:bpf, 5.10+ for BPF_PROG_TEST_RUN of raw_tp)', () => {
  expectKernelStateKept()
  for (const name of OBJECTS) {
    describe(name, () => {
      let object: BpfObjectHandle
      beforeAll(() => {
        const load = loadBpfAddon()
        if (!load.ok) throw new Error(load.reason)
        object = new load.addon.BpfObject(bpfObjectPath(name))
        object.load()
      })
      afterAll(() => object?.destroy())

      /** Each change of one socket in turn: what the program returned for each. */
      const changes = (sk: bigint, ...states: [State, State][]) =>
        states.map(([from, to]) => {
          const ctx = Buffer.alloc(24)
          ctx.writeBigUInt64LE(sk, 0)
          ctx.writeBigUInt64LE(BigInt(TCP[from]), 8)
          ctx.writeBigUInt64LE(BigInt(TCP[to]), 16)
          return object.testRun('state_change', ctx)
        })

      it('a connect closed by its process: a session, with its owner and span, sent at the close', () => {
        expect(changes(0x1000n, ['CLOSE', 'SYN_SENT'], ['SYN_SENT', 'ESTABLISHED'], ['ESTABLISHED', 'FIN_WAIT1'], ['FIN_WAIT1', 'FIN_WAIT2'], ['FIN_WAIT2', 'CLOSE'])).toEqual([0, 0, 0, 0, SENT | KNOWN.owner | KNOWN.span])
      })

      it('a refused connect (SYN_SENT to CLOSE) is a session: the attempt of a process', () => {
        expect(changes(0x2000n, ['CLOSE', 'SYN_SENT'], ['SYN_SENT', 'CLOSE'])).toEqual([0, SENT | KNOWN.owner | KNOWN.span])
      })

      it('the duplicate child of a handshake two CPUs completed at once is no session; the child the kernel kept is', () => {
        // Both cloned from the listener; the kernel hashes one, and closes the other from SYN_RECV.
        const [kept, duplicate] = [0x3000n, 0x3800n]
        expect([...changes(kept, ['LISTEN', 'SYN_RECV']), ...changes(duplicate, ['LISTEN', 'SYN_RECV'])]).toEqual([0, 0])
        expect(changes(kept, ['SYN_RECV', 'ESTABLISHED'])).toEqual([0])
        expect(changes(duplicate, ['SYN_RECV', 'CLOSE'])).toEqual([0])
        expect(changes(kept, ['ESTABLISHED', 'CLOSE_WAIT'], ['CLOSE_WAIT', 'LAST_ACK'], ['LAST_ACK', 'CLOSE'])).toEqual([0, 0, SENT | KNOWN.owner | KNOWN.span])
      })

      it('a session whose beginning was not seen is sent, its owner and span unknown', () => {
        expect(changes(0x4000n, ['FIN_WAIT2', 'CLOSE'])).toEqual([SENT])
      })

      it('a listening socket is no session', () => {
        expect(changes(0x5000n, ['CLOSE', 'LISTEN'], ['LISTEN', 'CLOSE'])).toEqual([0, 0])
      })
    })
  }
})
