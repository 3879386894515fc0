import {existsSync, readFileSync} from 'node:fs'

import {beforeAll, describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import {funclatency} from '../../tools/funclatency/tool.js'
import {diag} from '../helpers/cli.js'
import {capabilityTruths, expectUsable, fentryWorks, functionFilterWorks, hostConfig} from '../helpers/ground-truth.js'
import {expectKernelStateKept, isRoot} from '../helpers/kernel-state.js'
import {WORKLOAD, workloadBuilt} from '../helpers/workload.js'
import {getppidPattern} from '../matrix/cases.js'

const config = hostConfig()
const missing = !isRoot ? 'needs root' : !workloadBuilt ? 'needs the built workload' : !config ? 'needs the kernel config' : undefined

// Where no candidate can run (this development host: no kprobes, no hist triggers, fentry and the
// function filter refused), funclatency says so with each candidate's reason, and makes nothing.
describe.skipIf(missing)(`funclatency where no backend can time a function${missing ? ` (skipped: ${missing})` : ''}`, () => {
  expectKernelStateKept()
  let usable: string[] = []

  beforeAll(async () => {
    const fentry = await fentryWorks()
    const truths = capabilityTruths(config!, {
      'function-tracer': await functionFilterWorks(),
      btf: existsSync('/sys/kernel/btf/vmlinux'),
      'bpf-fentry': fentry === true,
    })
    usable = funclatency.candidates.filter((c) => expectUsable(c.needs, truths) !== false).map((c) => c.id)
  })

  it('refuses with exit 3, naming every candidate and why it cannot run', async (context) => {
    if (usable.length) return context.skip(`this kernel has what ${usable.join(', ')} needs`)
    const symbols = new Set(readFileSync('/proc/kallsyms', 'utf8').split('\n').map((line) => line.split(' ')[2]))
    const run = await diag(['funclatency', getppidPattern(symbols), '--json', '--', WORKLOAD, 'getppid', '100'])
    expect(run.exitCode, run.stderr).toBe(EXIT.notSupported)
    const {error} = JSON.parse(run.stdout) as {error: {kind: string; message: string}}
    expect(error.kind).toBe('notSupported')
    for (const candidate of funclatency.candidates) {
      const line = error.message.split('\n').find((l) => l.trim().startsWith(`${candidate.id}:`))
      expect(line, `${candidate.id} in ${error.message}`).toBeDefined()
      // The reason names a capability the candidate needs.
      expect(candidate.needs.some((need) => line!.includes(need)), line).toBe(true)
    }
  })
})
