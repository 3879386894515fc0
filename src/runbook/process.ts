import {existsSync} from 'node:fs'
import path from 'node:path'

import {execa} from 'execa'

import {parseReadyLine} from '../render/ready.js'
import {packageRoot} from '../system/paths.js'
import type {StartStep} from './run.js'


/**
 * How this diag starts another of itself: in the bundle (scripts/bundle.mjs), through its launcher
 * bin/diag, which gives the bundled node its libraries (this process gave them up for the commands
 * it starts, scripts/bundle-run.mjs); elsewhere the same node and bin/run.js.
 */
export function selfCommand(root = packageRoot): [string, string[]] {
  if (existsSync(path.join(root, 'bin/bundle-run.mjs'))) return [path.join(root, 'bin/diag'), []]
  return [process.execPath, [path.join(root, 'bin/run.js')]]
}

/**
 * A step as a diag process of its own, this same diag (selfCommand). Its own process group, so
 * that a Ctrl-C at the terminal reaches the runbook, which then stops each running step once, as
 * the runbook's own undo would.
 */
export const startStepProcess: StartStep = (argv) => {
  const [program, args] = selfCommand()
  const child = execa(program, [...args, ...argv], {reject: false, detached: true, stdin: 'ignore'})
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
