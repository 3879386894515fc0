import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {CapabilitiesReport} from '../../src/plan/report.js'
import {type KernelState, isRoot, kernelState} from '../helpers/kernel-state.js'
import {schemaErrors} from '../helpers/schema.js'

/**
 * A fresh Debian 12 has no Node.js but its own nodejs package (18.20), which scripts/setup.sh
 * installs when there is no node that fits package.json's engines. This file takes that node as
 * Debian ships it (apt-get download, dpkg -x into a temporary root, in a private mount namespace
 * where its /usr/share/nodejs files are overlaid), and checks that setup accepts it, that it builds
 * the addon against Debian's headers (libnode-dev, nothing downloaded), and that diag's unit tests
 * and `diag capabilities` pass on it. Its version is the oldest that engines claims.
 */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const MULTIARCH = 'x86_64-linux-gnu'

/** The newest version of a package the Debian archive (not a third-party repository) offers. */
async function debianVersion(name: string): Promise<string | undefined> {
  const {stdout} = await execa('apt-cache', ['madison', name], {reject: false})
  return stdout
    .split('\n')
    .map((line) => line.split('|').map((field) => field.trim()))
    .find(([, , source]) => /debian\.org/.test(source ?? ''))?.[1]
}

/** Downloads and unpacks nodejs, libnode108, libnode-dev and their dependencies this host lacks. */
async function unpackDebianNode(dir: string): Promise<string> {
  const version = await debianVersion('nodejs')
  if (!version) throw new Error('apt-cache knows no nodejs from the Debian archive')
  const wanted = [`nodejs=${version}`, `libnode108=${version}`, `libnode-dev=${version}`]
  const depends = await execa('apt-cache', ['depends', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', ...wanted])
  const names = [...new Set([...depends.stdout.matchAll(/^\s+(?:\|)?Depends: ([a-z0-9][a-z0-9.+-]+)$/gm)].map((m) => m[1]))]
  for (const name of names) {
    const installed = await execa('dpkg-query', ['-W', '-f=${Status}', name], {reject: false})
    if (!installed.stdout.includes('install ok installed') && !wanted.some((w) => w.startsWith(`${name}=`))) wanted.push(name)
  }
  await execa('apt-get', ['download', '-q', ...wanted], {cwd: dir})
  const unpacked = path.join(dir, 'root')
  for (const deb of readdirSync(dir).filter((f) => f.endsWith('.deb'))) await execa('dpkg', ['-x', path.join(dir, deb), unpacked])
  return unpacked
}

/** Runs a shell script with the unpacked Debian node first on PATH, as if it were installed. */
function withDebianNode(root: string, script: string, env: Record<string, string> = {}, timeout = 120_000) {
  const setup = [
    'set -e',
    `mount -t overlay overlay -o lowerdir=${root}/usr/share:/usr/share /usr/share`,
    `export PATH=${root}/usr/bin:$PATH LD_LIBRARY_PATH=${root}/usr/lib/${MULTIARCH} NODE_PATH=${ROOT}/node_modules`,
  ].join('\n')
  return execa('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', `${setup}\n${script}`], {cwd: ROOT, env, reject: false, timeout})
}

const engines = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {engines: {node: string}}).engines.node
const oldestClaimed = engines.split('||').map((part) => part.trim().replace(/^(\^|>=)/, '')).sort()[0]
const canTry = isRoot && existsSync('/usr/bin/apt-get') && existsSync('/usr/bin/unshare')

describe.skipIf(!canTry)("Debian 12's own Node.js (needs root, apt-get and unshare)", () => {
  let dir: string
  let root: string | undefined
  let unavailable = ''
  let before: KernelState

  beforeAll(async () => {
    before = await kernelState()
    dir = mkdtempSync(path.join(tmpdir(), 'diag-debian-node-'))
    try {
      root = await unpackDebianNode(dir)
    } catch (error) {
      unavailable = `Debian's nodejs packages could not be downloaded: ${(error as Error).message.split('\n')[0]}`
    }
  }, 300_000)

  afterAll(async () => {
    if (dir) rmSync(dir, {recursive: true, force: true})
    expect(await kernelState()).toEqual(before)
  })

  it('is the oldest Node.js that engines claims, and setup.sh accepts it', async (context) => {
    context.skip(!root, unavailable)
    const fits = readFileSync(path.join(ROOT, 'scripts', 'setup.sh'), 'utf8').match(/^node_fits\(\) \{[\s\S]*?^\}$/m)![0]
    const run = await withDebianNode(root!, `node --version\n${fits}\nnode_fits && echo fits`)
    expect(run.stderr).toBe('')
    expect(run.stdout).toBe(`v${oldestClaimed}\nfits`)
  })

  it("builds the addon against Debian's headers, and diag capabilities runs with it", async (context) => {
    context.skip(!root, unavailable)
    const build = await withDebianNode(
      root!,
      `cp -r native ${dir}/native && rm -rf ${dir}/native/build
       node node_modules/node-gyp/bin/node-gyp.js rebuild --directory ${dir}/native --nodedir=${root}/usr --loglevel=warn`,
      {},
      300_000,
    )
    expect(build.exitCode, build.stderr).toBe(0)
    const addon = path.join(dir, 'native', 'build', 'Release', 'diag_bpf.node')
    const version = await withDebianNode(root!, 'node bin/run.js --version', {DIAG_BPF_ADDON: addon})
    expect(version.stdout).toMatch(new RegExp(`^diag .* \\(node v${oldestClaimed.replaceAll('.', '\\.')}, `))
    expect(version.stdout).toContain(`through the addon ${addon}`)
    const run = await withDebianNode(root!, 'cd / && node "$OLDPWD/bin/run.js" capabilities --json', {DIAG_BPF_ADDON: addon})
    expect(run.exitCode, run.stderr).toBe(0)
    const report = JSON.parse(run.stdout) as CapabilitiesReport
    expect(schemaErrors('capabilities', report)).toBe('')
    expect(report.capabilities.find((c) => c.name === 'bpf-syscall')?.status).toBe('available')
  }, 360_000)

  it("installs diag's npm packages with Debian's npm version (npm ci)", async (context) => {
    context.skip(!root, unavailable)
    // Debian's npm package is npm 9.2.0 spread over some 300 packages; the same npm from the npm
    // registry stands in for it.
    const npmVersion = (await debianVersion('npm'))?.replace(/[~+-].*$/, '')
    context.skip(!npmVersion, 'apt-cache knows no npm from the Debian archive')
    const pack = await execa('npm', ['pack', '--silent', `npm@${npmVersion}`], {cwd: dir, reject: false})
    context.skip(pack.exitCode !== 0, `npm@${npmVersion} could not be downloaded: ${pack.stderr.split('\n')[0]}`)
    await execa('tar', ['xzf', pack.stdout.trim(), '--one-top-level=npm'], {cwd: dir})
    const project = path.join(dir, 'project')
    await execa('mkdir', ['-p', project])
    await execa('cp', [path.join(ROOT, 'package.json'), path.join(ROOT, 'package-lock.json'), project])
    const run = await withDebianNode(root!, `cd ${project} && node ${dir}/npm/package/bin/npm-cli.js --version && node ${dir}/npm/package/bin/npm-cli.js ci --no-audit --no-fund`, {}, 300_000)
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stdout).toMatch(new RegExp(`^${npmVersion!.replaceAll('.', '\\.')}\n[\\s\\S]*added \\d+ packages`))
  }, 360_000)

  it("passes diag's unit tests", async (context) => {
    context.skip(!root, unavailable)
    const run = await withDebianNode(root!, 'node node_modules/vitest/vitest.mjs run test/unit', {}, 300_000)
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0)
    expect(run.stdout.replace(/\u001B\[[0-9;]*m/g, '')).toMatch(/Tests\s+\d+ passed/)
  }, 360_000)
})
