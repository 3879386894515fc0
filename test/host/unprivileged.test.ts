import {accessSync, constants} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

import type {CapabilitiesReport} from '../../src/plan/report.js'
import {isRoot} from '../helpers/kernel-state.js'

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/run.js')
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups']

function readableByAll(): boolean {
  try {
    accessSync(BIN, constants.R_OK)
    return true
  } catch {
    return false
  }
}

/** diag as user nobody, with a home it may write (oclif looks for its data directory there). */
async function asNobody(args: string[]) {
  const result = await execa('setpriv', [...NOBODY, 'env', 'HOME=/tmp', process.execPath, BIN, ...args], {reject: false, timeout: 60_000})
  return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)}
}

// Run as root, to become nobody: what an unprivileged user sees of this host.
describe.skipIf(!isRoot || !readableByAll())('as an unprivileged user (needs root to become nobody)', () => {
  it.for([
    ['syscount', '-d', '1'],
    ['runqlat', '-d', '1'],
    ['biolatency', '-d', '1'],
    ['funccount', 'vfs_read', '-d', '1'],
    ['funcprofile', 'vfs_read', '-d', '1'],
    ['reset'],
  ])('diag %s exits 4 (permission), saying what is needed', async (args) => {
    const run = await asNobody(args)
    expect(run.exitCode, run.stderr).toBe(4)
    expect(run.stderr).toMatch(/root/)
    expect(run.stderr).not.toMatch(/undefined|cannot run on this host/)
    const json = await asNobody([...args, '--json'])
    expect(json.exitCode).toBe(4)
    expect(JSON.parse(json.stdout).error).toMatchObject({kind: 'permission', exitCode: 4})
  })

  it('diag capabilities exits 0, and reports what it may not see as unknown, never as absent', async () => {
    const run = await asNobody(['capabilities', '--json'])
    expect(run.exitCode, run.stderr).toBe(0)
    const report = JSON.parse(run.stdout) as CapabilitiesReport
    const byName = new Map(report.capabilities.map((c) => [c.name, c]))
    // tracefs is mounted 0700 (or not mounted): either way, this user cannot tell what is in it.
    expect(byName.get('tracefs')).toMatchObject({status: 'unknown', needsPrivilege: expect.stringMatching(/root/)})
    expect(byName.get('function-tracer')?.status).not.toBe('available')
    expect(byName.get('bpf-syscall')?.status).toBe('unknown')
    for (const capability of report.capabilities) {
      // A refusal this user met is no evidence of what the kernel lacks.
      if (/\b(EPERM|EACCES)\b/.test(capability.detail)) expect(capability.status, capability.name).toBe('unknown')
      expect(capability.detail).not.toMatch(/undefined/)
    }
  })
})
