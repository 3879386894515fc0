import {describe, expect, it} from 'vitest'

import {UndoLog} from '../../src/system/undo.js'

describe('UndoLog', () => {
  it('reverts newest first and keeps going past a failing step', async () => {
    const undo = new UndoLog()
    const done: string[] = []
    undo.push('first', () => void done.push('first'))
    undo.push('second', () => {
      throw new Error('EBUSY')
    })
    undo.push('third', async () => void done.push('third'))
    expect(await undo.unwind()).toEqual([{description: 'second', error: 'EBUSY'}])
    expect(done).toEqual(['third', 'first'])
    expect(await undo.unwind()).toEqual([])
  })

  it('unwinds only the steps after a mark, leaving the earlier ones for the end', async () => {
    const undo = new UndoLog()
    const done: string[] = []
    undo.push('session', () => void done.push('session'))
    const mark = undo.mark()
    undo.push('candidate load', () => void done.push('candidate load'))
    undo.push('candidate attach', () => void done.push('candidate attach'))
    expect(await undo.unwindTo(mark)).toEqual([])
    expect(done).toEqual(['candidate attach', 'candidate load'])
    expect(undo.pending()).toEqual(['session'])
    await undo.unwind()
    expect(done).toEqual(['candidate attach', 'candidate load', 'session'])
  })
})
