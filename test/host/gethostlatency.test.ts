import {existsSync, readFileSync} from 'node:fs'

import {execa} from 'execa'
import {beforeAll, describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import type {Rows} from '../../src/result/model.js'
import {diag, startDiag, tracingStarted} from '../helpers/cli.js'
import {hostTruths, skipReason} from '../helpers/ground-truth.js'
import {expectKernelStateKept, isRoot, watched} from '../helpers/kernel-state.js'
import {parseRowStream} from '../helpers/results.js'
import {gethostlatency} from '../../tools/gethostlatency/tool.js'
import {LOOKUPS, WORKLOAD, workloadBuilt} from '../helpers/workload.js'

const NO_SUCH_PID = String(Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1)
const CANDIDATES = gethostlatency.candidates.map((c) => ({id: c.id, needs: c.needs}))

/** The pid diag-lookups says it had ("pid N lookups M failed F"), from wherever its stdout went. */
const lookupsPid = (text: string) => Number(/^pid (\d+) lookups/m.exec(text)?.[1])

describe.skipIf(!isRoot || !existsSync(LOOKUPS))('gethostlatency on this host (needs root and test/workload/diag-lookups)', () => {
  expectKernelStateKept()
  // Why a candidate cannot run here, from what the kernel has (its config, peers), not from diag's probe.
  let truths: Map<string, boolean> | undefined
  beforeAll(async () => {
    truths = await hostTruths()
  })
  const missing = (needs: string[]) => skipReason(needs, truths)

  it.for(CANDIDATES)('$id prints exactly one row per lookup of a traced command, with its pid, comm and host', async ({id, needs}, context) => {
    if (missing(needs)) return context.skip(missing(needs)!)
    const run = await diag(['gethostlatency', '--backend', id, '--json', '--', LOOKUPS, '3', '2', '1'])
    expect(run.exitCode, run.stderr).toBe(0)
    const {rows, summary} = parseRowStream(run.stdout)
    const pid = lookupsPid(run.stderr)
    expect(rows).toHaveLength(6)
    for (const row of rows) {
      expect(row).toMatchObject({pid, comm: 'diag-lookups', host: 'localhost'})
      expect(row.latMs).toBeGreaterThanOrEqual(0)
      expect(Math.abs(Date.parse(row.time as string) - Date.now())).toBeLessThan(60_000)
    }
    expect(summary.backend).toMatchObject({candidate: id})
    expect(summary.lost).toBe(0)
    expect(summary.rowCount).toBe(6)
    expect(summary.intervals.map((i) => (i.data as Rows).rows)).toEqual([[]])
    expect(summary.command).toMatchObject({exitCode: 0})
  })

  it.for(CANDIDATES)('$id streams: the first row comes out before the command ends', async ({id, needs}, context) => {
    if (missing(needs)) return context.skip(missing(needs)!)
    // Two lookups, 1.5 s apart, and 1.5 s after the last: the command runs about 3 s.
    const tracer = startDiag(['gethostlatency', '--backend', id, '--json', '--', LOOKUPS, '-s', '1500', '1', '1'])
    const firstRow = new Promise<number>((resolve) => {
      let out = ''
      tracer.stdout!.on('data', (chunk: Buffer) => {
        out += chunk
        if (out.includes('"type":"row"')) resolve(Date.now())
      })
    })
    const commandDone = new Promise<number>((resolve) => {
      let err = ''
      tracer.stderr!.on('data', (chunk: Buffer) => {
        err += chunk
        if (/^pid \d+ lookups/m.test(err)) resolve(Date.now())
      })
    })
    const run = await tracer
    expect(run.exitCode, String(run.stderr)).toBe(0)
    const [first, done] = [await firstRow, await commandDone]
    expect(done - first).toBeGreaterThan(1000)
    expect(parseRowStream(String(run.stdout)).rows).toHaveLength(2)
  })

  it('--pid traces that process only, until it exits', async (context) => {
    const id = CANDIDATES.find((c) => !missing(c.needs))?.id
    if (!id) return context.skip('no gethostlatency candidate is usable here')
    // Both wait on their stdin until diag says it is tracing (the traced one is a shell that then
    // execs the lookups in its own pid); the other one's lookups meanwhile must not show.
    const held = (args: string[]) => execa('sh', ['-c', `read -r _; exec ${LOOKUPS} ${args.join(' ')}`], {stdin: 'pipe'})
    const traced = held(['2', '1'])
    const other = held(['-s', '200', '5'])
    const tracer = startDiag(['gethostlatency', '--backend', id, '--json', '--pid', String(traced.pid)])
    await tracingStarted(tracer, 'Hit Ctrl-C')
    for (const process of [other, traced]) process.stdin!.end('\n')
    await Promise.all([traced, other])
    const run = await tracer
    expect(run.exitCode, String(run.stderr)).toBe(0)
    const {rows} = parseRowStream(String(run.stdout))
    expect(rows.map((r) => r.pid)).toEqual([traced.pid, traced.pid, traced.pid])
  })

  it('text: the header, then a line per lookup in bcc\'s columns', async (context) => {
    const id = CANDIDATES.find((c) => !missing(c.needs))?.id
    if (!id) return context.skip('no gethostlatency candidate is usable here')
    const run = await diag(['gethostlatency', '--backend', id, '--', LOOKUPS, '1', '1'])
    expect(run.exitCode, run.stderr).toBe(0)
    const lines = run.stdout.split('\n')
    const header = lines.findIndex((l) => /^TIME\s+PID\s+COMM\s+LATms HOST$/.test(l))
    expect(header, run.stdout).toBeGreaterThan(0)
    const rows = lines.filter((l) => /^\d\d:\d\d:\d\d\s+\d+ diag-lookups\s+\d+\.\d\d localhost$/.test(l))
    expect(rows, run.stdout).toHaveLength(2)
  })
})

describe.skipIf(!isRoot)('gethostlatency refuses bad input before touching the kernel', () => {
  expectKernelStateKept()

  const refused: [string[], RegExp][] = [
    [['--libc', '/etc/hostname'], /is not an ELF file/],
    [['--libc', '/nonexistent/libc.so.6'], /ENOENT/],
    [['--libc', '/tmp/a b/libc.so.6'], /cannot go in a uprobe definition/],
    [['--libc', LOOKUPS], /defines none of getaddrinfo/],
    [['--pid', NO_SUCH_PID], /no such process/],
    [['--pid', '1', '--', '/bin/true'], /give one/],
  ]
  if (workloadBuilt) refused.push([['--', WORKLOAD, 'getppid', '1'], /statically linked/])
  it.each(refused)('%j is refused with exit 2, having made nothing', async (args, message) => {
    const run = await watched(['gethostlatency', ...args])
    expect(run.exitCode, run.stderr).toBe(EXIT.badInput)
    expect(run.stderr).toMatch(message)
    expect(run.stderr).not.toMatch(/\n\s+at /)
    expect(run.made, run.stderr).toEqual([])
  })
})
