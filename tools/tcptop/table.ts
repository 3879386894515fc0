import {formatIp} from '../../src/net/address.js'
import type {Row, RowColumn, Table} from '../../src/result/model.js'
import type {TcptopOptions} from './tool.js'

/** bcc's columns: PID COMM LADDR RADDR, then RX_KB TX_KB. An address is "ip:port", an IPv6 one "[ip]:port". */
export const KEYS: RowColumn[] = [
  {name: 'pid', title: 'PID', type: 'integer'},
  {name: 'comm', title: 'COMM', type: 'string', width: 16},
  {name: 'laddr', title: 'LADDR', type: 'string', width: 21},
  {name: 'raddr', title: 'RADDR', type: 'string', width: 21},
]
export const VALUES: RowColumn[] = [
  {name: 'rxKb', title: 'RX_KB', type: 'integer'},
  {name: 'txKb', title: 'TX_KB', type: 'integer'},
]

/** What the backends count for one row: bytes, cumulative since tracing began. */
export interface Traffic {
  pid: number
  comm: string
  /** Null where the backend cannot see the connection. */
  laddr: string | null
  raddr: string | null
  rxBytes: number
  txBytes: number
}

/** "127.0.0.1:5432", "[::1]:5432": the address as formatIp prints it, with its port. */
export function endpoint(address: Uint8Array, port: number): string {
  const ip = formatIp(address)
  return address.length === 16 ? `[${ip}]:${port}` : `${ip}:${port}`
}

/**
 * Each interval's table from cumulative counts: the bytes since the last read, in kilobytes
 * (unrounded; the text rounds), the busiest `top` rows by the sort column, and the caption.
 */
export class TrafficTable {
  private previous = new Map<string, {rx: number; tx: number}>()

  constructor(private readonly options: Pick<TcptopOptions, 'top' | 'sort'>) {}

  next(current: Traffic[], caption?: string): Table {
    const seen = new Map<string, {row: Row; rx: number; tx: number}>()
    for (const t of current) {
      const key = JSON.stringify([t.pid, t.comm, t.laddr, t.raddr])
      const known = seen.get(key)
      if (known) {
        known.rx += t.rxBytes
        known.tx += t.txBytes
      } else seen.set(key, {row: {pid: t.pid, comm: t.comm, laddr: t.laddr, raddr: t.raddr}, rx: t.rxBytes, tx: t.txBytes})
    }
    const rows: Row[] = []
    for (const [key, {row, rx, tx}] of seen) {
      const before = this.previous.get(key) ?? {rx: 0, tx: 0}
      const drx = rx - before.rx
      const dtx = tx - before.tx
      if (drx > 0 || dtx > 0) rows.push({...row, rxKb: drx / 1024, txKb: dtx / 1024})
    }
    this.previous = new Map([...seen].map(([key, {rx, tx}]) => [key, {rx, tx}]))
    const sortBy = `${this.options.sort}Kb`
    rows.sort((a, b) => (b[sortBy] as number) - (a[sortBy] as number))
    return {kind: 'table', keys: KEYS, values: VALUES, sortBy, rows: rows.slice(0, this.options.top), ...(caption === undefined ? {} : {caption})}
  }
}

/** The load average line above each table, as bcc's tcptop prints it: "loadavg: 0.52 0.40 0.33 2/170 12345". */
export async function loadavgCaption(read: (path: string) => Promise<string>): Promise<string | undefined> {
  const text = await read('/proc/loadavg').catch(() => undefined)
  return text === undefined ? undefined : `loadavg: ${text.trim()}`
}
