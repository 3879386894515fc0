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
})
