// Runs the whole vitest suite and ends with one plain summary line ("N passed, N failed,
// N skipped") that CI reads, keeping vitest's own exit status.
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

const dir = mkdtempSync(path.join(tmpdir(), 'diag-tests-'))
const report = path.join(dir, 'results.json')
const vitest = spawnSync(
  'npx',
  ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  {stdio: 'inherit'},
)
let status = vitest.status ?? 1
try {
  const results = JSON.parse(readFileSync(report, 'utf8'))
  const skipped = results.numPendingTests + results.numTodoTests
  // A failing beforeAll/afterAll fails its file without failing a test: count it as a failure.
  const failedFiles = results.testResults.filter((file) => file.status === 'failed' && file.assertionResults.every((t) => t.status !== 'failed')).length
  console.log(`\ntests: ${results.numPassedTests} passed, ${results.numFailedTests + failedFiles} failed, ${skipped} skipped`)
  if (results.numTotalTests === 0) status = 1
} catch (error) {
  console.error(`run-tests: no results from vitest (${error.message})`)
  status = 1
} finally {
  rmSync(dir, {recursive: true, force: true})
}
process.exit(status)
