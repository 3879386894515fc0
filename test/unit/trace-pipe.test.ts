import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {TracePipe} from '../../backends/ftrace/trace-pipe.js'
import {TracefsSession} from '../../backends/ftrace/tracefs-session.js'
import {NodeFiles} from '../../src/system/files.js'
import {UndoLog} from '../../src/system/undo.js'

describe('reading trace_pipe in the background', () => {
  let root: string | undefined
  afterEach(() => {
    if (root) rmSync(root, {recursive: true, force: true})
  })

  // A regular file stands for a pipe the kernel keeps full: every read returns a full chunk
  // until the end. With 0 ms slices each drain reads one chunk and does not run dry.
  it('reads the next slice at once while the pipe does not run dry, not at the next poll', async () => {
    root = mkdtempSync(path.join(tmpdir(), 'diag-trace-pipe-'))
    const dir = 'instances/diag-1-test'
    mkdirSync(path.join(root, dir), {recursive: true})
    const lines = 60_000
    const line = (i: number) => `   diag-workload-${1000 + (i % 7)}    [001] .....  2355.${String(i).padStart(6, '0')}: sys_enter: NR 110 (0, 0, 0, 0, 0, 0)\n`
    writeFileSync(path.join(root, dir, 'trace_pipe'), Array.from({length: lines}, (_, i) => line(i)).join(''))
    let read = 0
    const session = new TracefsSession(new NodeFiles('/'), root, 1, new UndoLog())
    const pipe = await TracePipe.open(session, dir, () => read++, {pollMs: 60_000, sliceMs: 0})
    try {
      // Several chunks' worth (the file is over 5 MB): all read long before the first poll.
      const deadline = Date.now() + 20_000
      while (read < lines && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
      expect(read).toBe(lines)
    } finally {
      pipe.close()
    }
  })
})
