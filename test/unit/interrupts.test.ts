import {describe, expect, it} from 'vitest'

import {EXIT, InterruptedError} from '../../src/errors.js'
import {Interrupts} from '../../src/system/interrupts.js'
import {UndoLog} from '../../src/system/undo.js'

function setup() {
  const abort = new AbortController()
  const undo = new UndoLog()
  const written: string[] = []
  const exits: number[] = []
  const interrupts = new Interrupts(abort, undo, {write: (t) => void written.push(t), exit: (c) => void exits.push(c)})
  return {abort, undo, written, exits, interrupts}
}

describe('signals', () => {
  it('the first stops tracing, the second only says cleanup is under way', () => {
    const {abort, written, exits, interrupts} = setup()
    interrupts.handle('SIGINT')
    expect(abort.signal.reason).toBeInstanceOf(InterruptedError)
    expect(abort.signal.reason.message).toBe('interrupted by SIGINT')
    expect(written).toEqual([])
    interrupts.handle('SIGINT')
    expect(written.join('')).toMatch(/cleaning up/)
    expect(exits).toEqual([])
  })

  it('the third quits at once, naming what a cleanup step stuck in the kernel left for diag reset', async () => {
    const {undo, written, exits, interrupts} = setup()
    undo.push('remove instance diag-42-syscount', () => {})
    undo.push('clear the hist trigger on raw_syscalls:sys_enter', () => new Promise<void>(() => {})) // never returns
    void undo.unwind()
    for (const signal of ['SIGTERM', 'SIGTERM', 'SIGINT'] as const) interrupts.handle(signal)
    expect(exits).toEqual([EXIT.interrupted])
    const text = written.join('')
    expect(text).toMatch(/still in place: clear the hist trigger on raw_syscalls:sys_enter; remove instance diag-42-syscount/)
    expect(text).toMatch(/diag reset/)
  })
})
