// How diag reads kernel files (NodeFiles, src/system/files.ts, as built): synchronously behind
// its promises, next to the peer it replaced, node's fs/promises (a thread-pool trip for each open,
// read and close). One batch is what a probing run does: 32 reads and 32 existence checks of /proc
// files. Batches alternate between the two, and the medians are compared as a ratio.
//
//   node bench/kernel-files.mjs [rounds]      (after building; no root)
import {accessSync, constants, existsSync, readdirSync, statSync} from 'node:fs'
import {access, readFile} from 'node:fs/promises'

import {hostLine, median} from './measure.mjs'

if (!existsSync(new URL('../dist/src/system/files.js', import.meta.url))) {
  console.error('bench/kernel-files: build diag first (npm run build:ts)')
  process.exit(1)
}
const {NodeFiles} = await import('../dist/src/system/files.js')

const rounds = Number(process.argv[2] ?? 15)
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error('usage: node bench/kernel-files.mjs [rounds]')
  process.exit(2)
}

// Readable regular files under /proc/sys/kernel, as the probes read sysctls.
const readable = readdirSync('/proc/sys/kernel')
  .map((name) => `/proc/sys/kernel/${name}`)
  .filter((file) => {
    try {
      return statSync(file).isFile() && (accessSync(file, constants.R_OK), true)
    } catch {
      return false
    }
  })
  .slice(0, 32)
if (readable.length < 32) {
  console.error(`bench/kernel-files: found ${readable.length} readable files under /proc/sys/kernel, wanted 32`)
  process.exit(1)
}
// Half present, half absent, as probes ask for files a kernel may not have.
const checked = [...readable.slice(0, 16), ...readable.slice(0, 16).map((file) => `${file}-absent`)]

const files = new NodeFiles()

const batches = {
  async 'fs/promises (readFile, access)'() {
    for (const file of readable) await readFile(file, 'utf8')
    for (const file of checked) await access(file).then(() => true, () => false)
  },
  async 'NodeFiles: synchronous behind its promises (diag)'() {
    for (const file of readable) await files.read(file)
    for (const file of checked) await files.exists(file)
  },
}

const times = Object.fromEntries(Object.keys(batches).map((name) => [name, []]))
for (const run of Object.values(batches)) await run() // warm: the thread pool started, the files cached
for (let round = 0; round < rounds; round++) {
  for (const [name, run] of Object.entries(batches)) {
    const start = process.hrtime.bigint()
    await run()
    times[name].push(Number(process.hrtime.bigint() - start) / 1e6)
  }
}

const peer = median(times['fs/promises (readFile, access)'])
console.log(`32 reads and 32 existence checks of /proc files, medians of ${rounds} rounds, interleaved; ${hostLine()}\n`)
console.log('| how | median | ratio to fs/promises |')
console.log('| --- | --- | --- |')
for (const [name, values] of Object.entries(times)) console.log(`| ${name} | ${median(values).toFixed(2)} ms | ${(median(values) / peer).toFixed(2)} |`)
