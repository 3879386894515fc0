import path from 'node:path'

import {execa} from 'execa'

import {parseReadyLine} from '../render/ready.js'
import {packageRoot} from '../system/paths.js'
import type {StartStep} from './run.js'


/**
 * A step as a diag process of its own, this same diag (the same node and bin/run.js). Its own
 * process group, so that a Ctrl-C at the terminal reaches the runbook, which then stops each
 * running step once, as the runbook's own undo would.
 */
export const startStepProcess: StartStep = (argv) => {
  const child = execa(process.execPath, [path.join(packageRoot, 'bin/run.js'), ...argv], {reject: false, detached: true, stdin: 'ignore'})
  let stderr = ''
  const ready = new Promise<{candidate: string; backend: string} | undefined>((resolve) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk
      // The ready line every tool prints on stderr once attached (src/render/ready.ts).
      const ready = parseReadyLine(stderr)
      if (ready) resolve(ready)
    })
    void child.finally(() => resolve(undefined))
  })
  return {
    ready,
    done: child.then((r) => ({exitCode: r.exitCode ?? 1, stdout: String(r.stdout), stderr: String(r.stderr)})),
    interrupt: () => {
      child.kill('SIGINT')
    },
  }
}
