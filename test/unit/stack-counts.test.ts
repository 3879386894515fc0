import {describe, expect, it} from 'vitest'

import {mapsDue, REREAD_MS} from '../../backends/bpf/stack-counts.js'

describe('when the BPF stack tools read a process\'s maps (mapsDue)', () => {
  const never = () => false
  const exec = () => true

  it('reads a process at its first stacks, and not again while it has no new ones', () => {
    expect(mapsDue(undefined, 1, 0, never)).toBe(true)
    expect(mapsDue({newKeys: 3, at: 0}, 3, 10 * REREAD_MS, exec)).toBe(false)
  })

  it('reads it again at once when it has new keys and exec\'d since (a shell, or diag-gate, that became the program)', () => {
    expect(mapsDue({newKeys: 1, at: 0}, 2, 1, exec)).toBe(true)
  })

  it('otherwise reads it again for new keys only REREAD_MS after the last read (libraries mapped since)', () => {
    expect(mapsDue({newKeys: 1, at: 0}, 2, REREAD_MS - 1, never)).toBe(false)
    expect(mapsDue({newKeys: 1, at: 0}, 2, REREAD_MS, never)).toBe(true)
  })
})
