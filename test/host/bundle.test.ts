import {existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {CapabilitiesReport} from '../../src/plan/report.js'
import type {RunbookReport} from '../../src/runbook/run.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {schemaErrors} from '../helpers/schema.js'

/**
 * `npm run bundle` makes diag-<version>-linux-x64.tar.gz for hosts without Node.js. This file packs
 * it, unpacks it in a temporary directory, and runs it in a private mount namespace where the
 * host's node and the libraries the bundle carries (libbpf, libelf, zlib, libstdc++, libgcc_s) are
 * hidden under /dev/null, with a PATH that has no node: what runs is the bundle's alone.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const {version} = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

describe.skipIf(!isRoot)('the bundle runs where Node.js and the libraries are absent (needs root: a mount namespace, live probes)', () => {
  let work: string
  let bundle: string
  let before: KernelState

  beforeAll(async () => {
    before = await kernelState()
    work = mkdtempSync(path.join(tmpdir(), 'diag-bundle-test-'))
    await execa('node', [path.join(ROOT, 'scripts/bundle.mjs'), '--out', work])
    const tarball = path.join(work, `diag-${version}-linux-x64.tar.gz`)
    expect(existsSync(tarball)).toBe(true)
    expect(readFileSync(`${tarball}.sha256`, 'utf8')).toMatch(/^[0-9a-f]{64} {2}diag-/)
    await execa('tar', ['-xzf', tarball, '-C', work])
    bundle = path.join(work, `diag-${version}`)
  }, 120_000)

  afterAll(async () => {
    if (work) rmSync(work, {recursive: true, force: true})
    expect(await kernelState()).toEqual(before)
  })

  /** Runs the bundle's bin/diag with node and the bundled libraries hidden from it. */
  async function bundled(args: string[], env: Record<string, string> = {}) {
    const manifest = JSON.parse(readFileSync(path.join(bundle, 'BUNDLE.json'), 'utf8')) as {libraries: Record<string, {from: string}>}
    const hidden = [realpathSync(process.execPath), ...Object.values(manifest.libraries).map((l) => realpathSync(l.from))]
    const script = `set -e
for f in ${hidden.map((f) => `'${f}'`).join(' ')}; do mount --bind /dev/null "$f"; done
if command -v node >/dev/null && node --version >/dev/null 2>&1; then echo "node still runs" >&2; exit 99; fi
exec "$0" "$@"`
    return execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, path.join(bundle, 'bin/diag'), ...args], {
      env: {PATH: SYSTEM_PATH, HOME: '/root', ...env},
      extendEnv: false,
      reject: false,
      timeout: 60_000,
    })
  }

  it('holds the runtime, the bundled JavaScript without development packages, the addon, diag-gate, BPF objects, libraries and their licences', () => {
    for (const file of ['bin/diag', 'runtime/node', 'dist/bundle/cli.js', 'dist/bundle/commands/capabilities.js', 'oclif.manifest.json', 'native/build/Release/diag_bpf.node', 'native/build/Release/diag-gate', 'bpf/probe.bpf.o', 'schema/capabilities.schema.json', 'runbooks/first-look.yaml'])
      expect(existsSync(path.join(bundle, file)), file).toBe(true)
    for (const dev of ['typescript', 'vitest', 'node-gyp', 'esbuild']) expect(existsSync(path.join(bundle, 'node_modules', dev)), dev).toBe(false)
    // The bundle is what runs: tsc's separate modules and the source maps are not shipped.
    for (const unbundled of ['dist/src', 'dist/commands', 'dist/bundle/cli.js.map', 'dist/bundle/meta.json']) expect(existsSync(path.join(bundle, unbundled)), unbundled).toBe(false)
    const libs = readdirSync(path.join(bundle, 'lib'))
    for (const lib of ['libbpf.so.1', 'libelf.so.1', 'libz.so.1']) expect(libs).toContain(lib)
    expect(libs.some((l) => /^lib(c|m|dl|pthread)\.so/.test(l))).toBe(false)
    const licences = readdirSync(path.join(bundle, 'licenses'))
    for (const pkg of ['libbpf1', 'libelf1', 'zlib1g']) expect(licences).toContain(`${pkg}.copyright`)
  })

  it('runs capabilities --json with no node on PATH and the host libraries hidden: the addon loads the bundled libbpf', async () => {
    const run = await bundled(['capabilities', '--json', '--refresh'])
    expect(run.exitCode, `${run.stderr}`).toBe(0)
    const report = JSON.parse(String(run.stdout)) as CapabilitiesReport
    expect(schemaErrors('capabilities', report)).toBe('')
    expect(report.host.live).toBe(true)
    // The host kernel has bpf(): a probe says so only if the addon, and so libbpf, loaded.
    expect(report.capabilities.find((c) => c.name === 'bpf-syscall')).toMatchObject({status: 'available', evidence: 'probe'})
  })

  it('gives the command it traces the environment the user had, not the bundled libraries', async () => {
    const seen = path.join(work, 'seen')
    const traced = ['sh', '-c', `echo "\${LD_LIBRARY_PATH-unset}" >> ${seen}`]
    const plain = await bundled(['syscount', '-q', '--json', '--', ...traced])
    expect(plain.exitCode, String(plain.stderr)).toBe(0)
    const own = await bundled(['syscount', '-q', '--json', '--', ...traced], {LD_LIBRARY_PATH: '/user/lib'})
    expect(own.exitCode, String(own.stderr)).toBe(0)
    expect(readFileSync(seen, 'utf8')).toBe('unset\n/user/lib\n')
  })

  // A runbook's steps are diag processes of their own: started as bin/run.js under the bundled
  // node, without the libraries the launcher gives it, they failed where the host has none (the
  // lab's bare guests; here, with them hidden).
  it('runs a runbook: its steps, diag processes of their own, start through the launcher', async () => {
    const runbook = path.join(work, 'one-step.yaml')
    writeFileSync(runbook, 'name: one-step\nsteps:\n  - tool: syscount\n    duration: 1\n    checks:\n      - expect: lost == 0\n')
    const run = await bundled(['runbook', 'run', runbook, '--ci', '--json'])
    const report = JSON.parse(String(run.stdout)) as RunbookReport
    expect(report.steps.map((s) => [s.status, s.reason]), String(run.stderr)).toEqual([['ran', null]])
    expect(run.exitCode).toBe(0)
  })
})
