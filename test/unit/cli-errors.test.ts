import {describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import {diag, diagJson} from '../helpers/cli.js'

// These run the built CLI but never reach the kernel: bad input is refused first.
describe('bad input', () => {
  it('an unknown flag exits with the bad-input code and no stack trace', async () => {
    const run = await diag(['capabilities', '--no-such-flag'])
    expect(run.exitCode).toBe(EXIT.badInput)
    expect(run.stderr).toMatch(/no-such-flag/)
    expect(run.stderr).not.toMatch(/\bat .*\.js:\d+/)
  })

  it('a --host-root that does not exist is bad input, in JSON too', async () => {
    const run = await diagJson<{error: {kind: string; exitCode: number; message: string}}>(['capabilities', '--host-root', '/nonexistent/host'])
    expect(run.exitCode).toBe(EXIT.badInput)
    expect(run.json.error).toMatchObject({kind: 'badInput', exitCode: EXIT.badInput})
    expect(run.json.error.message).toMatch(/nonexistent/)
  })

  it('a --host-root without proc/ is bad input', async () => {
    const run = await diag(['capabilities', '--host-root', '/usr/share'])
    expect(run.exitCode).toBe(EXIT.badInput)
    expect(run.stderr).toMatch(/has no proc\//)
  })

  it('the exit codes are distinct', () => {
    const codes = Object.values(EXIT)
    expect(new Set(codes).size).toBe(codes.length)
  })
})
