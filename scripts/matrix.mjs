// The kernel coverage table: runs the matrix suites (the host's and the lab kernels') and prints,
// for each tool and backend, whether the answer was right on each kernel. With --readme it also
// rewrites the table in README.md between the coverage markers.
// Usage: node scripts/matrix.mjs [--readme] [--from DIR]   (root; after npm run build)
// --from DIR tabulates rows the suites already wrote there (DIAG_MATRIX_DIR=DIR), without running
// them: the host's suite under the shared host lock, the lab's beside it.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const from = process.argv.includes('--from') ? process.argv[process.argv.indexOf('--from') + 1] : undefined
const dir = from ?? mkdtempSync(path.join(tmpdir(), 'diag-matrix-'))
const ENVS = ['host', 'debian-6.1', 'nobpf-6.1', 'linux-4.9']
const MARK = {right: 'yes', 'not supported': '-', wrong: 'WRONG', failed: 'FAILED'}

try {
  const run = from
    ? {status: 0}
    : spawnSync('npx', ['vitest', 'run', 'test/host/matrix.test.ts', 'test/lab/kernels.test.ts'], {
        cwd: root,
        stdio: ['ignore', 'inherit', 'inherit'],
        env: {...process.env, DIAG_MATRIX_DIR: dir},
      })
  const rows = ENVS.flatMap((env) => (existsSync(path.join(dir, `${env}.json`)) ? JSON.parse(readFileSync(path.join(dir, `${env}.json`), 'utf8')) : []))
  const keys = [...new Set(rows.map((r) => `${r.tool} ${r.candidate}`))]
  const cell = (env, key) => {
    const row = rows.find((r) => r.env === env && `${r.tool} ${r.candidate}` === key)
    if (!row) return 'not run'
    if (row.candidate === 'default') return row.outcome === 'right' ? `${row.ran}` : MARK[row.outcome]
    return MARK[row.outcome]
  }
  const lines = [
    `| tool | backend | ${ENVS.join(' | ')} |`,
    `| --- | --- | ${ENVS.map(() => '---').join(' | ')} |`,
    ...keys.map((key) => {
      const [tool, candidate] = key.split(' ')
      return `| ${tool} | ${candidate === 'default' ? '**chosen by diag**' : candidate} | ${ENVS.map((env) => cell(env, key)).join(' | ')} |`
    }),
  ]
  const table = lines.join('\n')
  console.log(`\n${table}`)
  if (process.argv.includes('--readme')) {
    const readme = path.join(root, 'README.md')
    const text = readFileSync(readme, 'utf8')
    const updated = text.replace(/(<!-- coverage:start -->\n)[\s\S]*?(\n<!-- coverage:end -->)/, `$1${table}$2`)
    if (updated === text && !text.includes(table)) throw new Error('README.md has no coverage markers')
    writeFileSync(readme, updated)
  }
  process.exitCode = run.status ?? 1
} finally {
  if (!from) rmSync(dir, {recursive: true, force: true})
}
