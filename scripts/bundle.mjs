// Writes bundle/diag-<version>-linux-x64.tar.gz (and its .sha256): diag with everything it needs
// to run on a host that has only glibc: this machine's Node.js runtime, the built JavaScript as
// esbuild bundled it (dist/bundle, see scripts/bundle-js.mjs) with the production node_modules
// (oclif's help plugin loads from there), the addon, diag-gate, the BPF objects, schema/, runbooks/, the
// shared libraries that node and the addon need beyond glibc (with their licences), and a launcher,
// bin/diag. `diag fleet` copies it to hosts without diag. Run after `npm run build`.
//   node scripts/bundle.mjs [--out DIR]
import {createHash} from 'node:crypto'
import {chmodSync, copyFileSync, cpSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const outFlag = process.argv.indexOf('--out')
const outDir = path.resolve(outFlag > 0 ? process.argv[outFlag + 1] : path.join(root, 'bundle'))
const {version} = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'))
const name = `diag-${version}`
const tarball = path.join(outDir, `${name}-linux-x64.tar.gz`)

// glibc's own libraries: every host has them, and they must match its ld.so, so they stay out.
const GLIBC = /^(linux-vdso|linux-gate|ld-linux[\w-]*|libc|libm|libdl|libpthread|librt|libresolv|libutil|libanl|libmvec)\.so/

const ADDON = 'native/build/Release/diag_bpf.node'
const GATE = 'native/build/Release/diag-gate'
const bpfObjects = existsSync(path.join(root, 'bpf')) ? readdirSync(path.join(root, 'bpf')).filter((f) => f.endsWith('.bpf.o')) : []
for (const built of ['dist/bundle/cli.js', 'oclif.manifest.json', ADDON, GATE]) {
  if (!existsSync(path.join(root, built))) fail(`${built} is not built: run npm run build first`)
}
if (bpfObjects.length === 0) fail('bpf/*.bpf.o are not built: run npm run build first')

function fail(message) {
  console.error(`bundle: ${message}`)
  process.exit(1)
}

const staging = mkdtempSync(path.join(tmpdir(), 'diag-bundle-'))
const dir = path.join(staging, name)
try {
  const copy = (from, to = from) => cpSync(path.join(root, from), path.join(dir, to), {recursive: true, dereference: true})
  for (const item of ['package.json', 'package-lock.json', 'oclif.manifest.json', 'bin/run.js', 'schema', 'runbooks', 'node_modules', ADDON, GATE]) copy(item)
  // Only the bundled JavaScript runs (bin/run.js starts dist/bundle/cli.js): tsc's separate modules,
  // the source maps and esbuild's metafile stay here.
  cpSync(path.join(root, 'dist/bundle'), path.join(dir, 'dist/bundle'), {recursive: true, filter: (file) => !/\.map$|meta\.json$/.test(file)})
  for (const object of bpfObjects) copy(`bpf/${object}`)
  // The development packages (TypeScript, vitest, node-gyp) go: npm works from the lock, offline.
  await execa('npm', ['prune', '--omit=dev', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], {cwd: dir})
  rmSync(path.join(dir, 'package-lock.json'))
  await execa('find', [path.join(dir, 'node_modules'), '-type', 'd', '-empty', '-delete'])

  // The runtime that runs this script is the one diag was built and tested with.
  mkdirSync(path.join(dir, 'runtime'))
  copyFileSync(process.execPath, path.join(dir, 'runtime/node'))
  chmodSync(path.join(dir, 'runtime/node'), 0o755)

  const libraries = await sharedLibraries([process.execPath, path.join(root, ADDON)])
  mkdirSync(path.join(dir, 'lib'))
  mkdirSync(path.join(dir, 'licenses'))
  const packages = new Map()
  for (const [soname, file] of libraries) {
    copyFileSync(file, path.join(dir, 'lib', soname))
    packages.set(soname, await debianPackage(file))
  }
  const nodePackage = await debianPackage(process.execPath)
  for (const pkg of new Set([...packages.values(), nodePackage])) {
    if (!pkg) continue
    const copyright = [`/usr/share/doc/${pkg}/copyright`, `/usr/share/doc/${pkg}/LICENSE`].find((f) => existsSync(f))
    if (copyright) copyFileSync(copyright, path.join(dir, 'licenses', `${pkg}.copyright`))
  }

  // The launcher: the bundled libraries for node and the addon only; bundle-run.js gives the
  // processes diag starts (the traced command, perf) the environment the user had.
  writeFileSync(
    path.join(dir, 'bin/diag'),
    `#!/bin/sh
# diag ${version}, bundled: runs the bundled Node.js with the bundled libraries.
here=$(dirname "$(readlink -f "$0")")/..
if [ "\${LD_LIBRARY_PATH+set}" = set ]; then DIAG_USER_LD_LIBRARY_PATH=$LD_LIBRARY_PATH; export DIAG_USER_LD_LIBRARY_PATH; fi
LD_LIBRARY_PATH="$here/lib" exec "$here/runtime/node" "$here/bin/bundle-run.mjs" "$@"
`,
  )
  chmodSync(path.join(dir, 'bin/diag'), 0o755)
  copyFileSync(path.join(root, 'scripts/bundle-run.mjs'), path.join(dir, 'bin/bundle-run.mjs'))

  const manifest = {
    name: 'diag',
    version,
    platform: 'linux-x64',
    node: process.version,
    libraries: Object.fromEntries([...libraries].map(([soname, file]) => [soname, {from: file, package: packages.get(soname) ?? null}])),
    nodePackage: nodePackage ?? null,
  }
  writeFileSync(path.join(dir, 'BUNDLE.json'), `${JSON.stringify(manifest, null, 2)}\n`)

  mkdirSync(outDir, {recursive: true})
  // Sorted, owned by root, gzip without a timestamp: the same tree packs the same way.
  await execa('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-C', staging, '-cf', tarball, '-I', 'gzip -n -6', name])
  const sha256 = await fileHash(tarball)
  writeFileSync(`${tarball}.sha256`, `${sha256}  ${path.basename(tarball)}\n`)
  const {size} = await import('node:fs').then((fs) => fs.statSync(tarball))
  console.log(`bundle: ${path.relative(process.cwd(), tarball) || tarball} (${(size / 1048576).toFixed(1)} MiB, node ${process.version}, libraries: ${[...libraries.keys()].join(' ')})`)
  console.log(`bundle: sha256 ${sha256}`)
} finally {
  rmSync(staging, {recursive: true, force: true})
}

/** soname -> real file of every library that the given binaries load, beyond glibc (as ldd lists them). */
async function sharedLibraries(binaries) {
  const found = new Map()
  for (const binary of binaries) {
    const {stdout} = await execa('ldd', [binary])
    for (const line of stdout.split('\n')) {
      const match = /^\s*(\S+) => (\/\S+)/.exec(line)
      if (!match) {
        if (/not found/.test(line)) fail(`${binary} needs a library that is not installed: ${line.trim()}`)
        continue
      }
      const [, soname, file] = match
      if (!GLIBC.test(soname)) found.set(soname, file)
    }
  }
  return found
}

/** The Debian package that installed a file (asked with and without /usr: merged /usr registers either). */
async function debianPackage(file) {
  const real = (await execa('readlink', ['-f', file])).stdout
  const candidates = new Set([file, real, real.replace(/^\/usr\//, '/'), file.replace(/^\/usr\//, '/')])
  for (const candidate of candidates) {
    const result = await execa('dpkg', ['-S', candidate], {reject: false})
    if (result.exitCode === 0) return result.stdout.split('\n')[0].split(':')[0]
  }
  return undefined
}

function fileHash(file) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256')
    createReadStream(file).on('data', (chunk) => hash.update(chunk)).on('end', () => resolve(hash.digest('hex'))).on('error', reject)
  })
}
