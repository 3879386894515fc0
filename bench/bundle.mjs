// The bundle for hosts without Node.js (`npm run bundle`, scripts/bundle.mjs): what it weighs,
// how long it takes to pack and unpack, and how fast diag starts from it next to the same diag
// started from the repository (`node bin/run.js`), its peer: `--version` and a `capabilities
// --json` with the probe answers cached, interleaved, medians, ratio bundle/repository.
// Usage: node bench/bundle.mjs [runs]   (root; after npm run build)
import {mkdirSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

import {diagEnv, hostLine, loadAverage, median, requireReady, timeCommand} from './measure.mjs'

requireReady('bench/bundle.mjs', {programs: ['npm', 'tar', 'gzip', 'ldd', 'dpkg', 'du']})

const runs = Number(process.argv[2] ?? 15)
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`bench/bundle.mjs: runs must be a whole number of at least 1, not ${process.argv[2]}`)
  process.exit(1)
}
const root = fileURLToPath(new URL('..', import.meta.url))
const {version} = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'))
const MiB = 1024 * 1024

// Without NODE_EXTRA_CA_CERTS (measure.mjs, diagEnv).
const env = diagEnv

/** Bytes of every file under dir, as they are on disk unpacked (apparent sizes, not blocks). */
function treeBytes(dir) {
  return Number(spawnSync('du', ['-sb', dir]).stdout.toString().split('\t')[0])
}

const work = mkdtempSync(path.join(tmpdir(), 'diag-bench-bundle-'))
try {
  console.log(`bench/bundle.mjs: ${hostLine()}`)
  const packMs = timeCommand(process.execPath, [path.join(root, 'scripts/bundle.mjs'), '--out', work], {env})
  const tarball = path.join(work, `diag-${version}-linux-x64.tar.gz`)
  const unpackMs = timeCommand('tar', ['-xzf', tarball, '-C', work])
  const bundle = path.join(work, `diag-${version}`)
  const unpacked = treeBytes(bundle)
  const node = statSync(path.join(bundle, 'runtime/node')).size
  console.log(`tarball ${(statSync(tarball).size / MiB).toFixed(1)} MiB; unpacked ${(unpacked / MiB).toFixed(0)} MiB, of them node ${(node / MiB).toFixed(0)} MiB`)
  console.log(`pack (scripts/bundle.mjs) ${(packMs / 1000).toFixed(1)} s; unpack (tar -xzf) ${(unpackMs / 1000).toFixed(1)} s; one run each`)

  // Each its own probe cache, so that neither evicts the other's (the cache key names the probe
  // object and the addon by path), filled before the timed runs.
  const cacheOf = (name) => {
    const dir = path.join(work, `probe-cache-${name}`)
    mkdirSync(dir, {mode: 0o700})
    return {...env, DIAG_CACHE_DIR: dir}
  }
  const from = {
    bundle: {command: path.join(bundle, 'bin/diag'), args: [], env: cacheOf('bundle')},
    repository: {command: process.execPath, args: [path.join(root, 'bin/run.js')], env: cacheOf('repository')},
  }
  const isVersion = (out) => out.includes(version)
  const isReport = (out) => JSON.parse(out).host !== undefined
  const commands = {
    '`diag --version`': {args: ['--version'], check: isVersion},
    '`diag capabilities --json`, probe answers cached': {args: ['capabilities', '--json'], check: isReport},
  }
  const time = (where, {args, check}) => timeCommand(from[where].command, [...from[where].args, ...args], {env: from[where].env, check})
  for (const where of Object.keys(from)) time(where, commands['`diag capabilities --json`, probe answers cached'])

  const samples = {}
  for (let i = 0; i < runs; i++) {
    for (const [name, command] of Object.entries(commands)) {
      for (const where of Object.keys(from)) (samples[`${name}|${where}`] ??= []).push(time(where, command))
    }
  }
  console.log(`start-up: medians of ${runs} runs each, interleaved; load average at the end ${loadAverage()}`)
  console.log('| command | from the bundle (`bin/diag`) | from the repository (`node bin/run.js`) | ratio bundle/repository |')
  console.log('| --- | --- | --- | --- |')
  for (const name of Object.keys(commands)) {
    const [bundled, repository] = ['bundle', 'repository'].map((where) => median(samples[`${name}|${where}`]))
    console.log(`| ${name} | ${bundled.toFixed(0)} ms | ${repository.toFixed(0)} ms | ${(bundled / repository).toFixed(2)} |`)
  }
} finally {
  rmSync(work, {recursive: true, force: true})
}
