import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'

import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

import {startGatedCommand} from '../../src/system/child.js'
import {packageRoot} from '../../src/system/paths.js'
import {isRunning} from '../../src/tracefs/names.js'

const gateBuilt = existsSync(path.join(packageRoot, 'native/build/Release/diag-gate'))

function state(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
}

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe.skipIf(!gateBuilt)('diag-gate (native/diag-gate.c)', () => {
  it('holds the command until released, keeps it unreaped after its exit until told, and exits as it did', async () => {
    const command = await startGatedCommand(['sh', '-c', 'exit 7'], {stdoutToStderr: true})
    // Held: still the gate's image, not yet the command.
    expect(cmdline(command.pid)[0]).toMatch(/diag-gate$/)
    command.release()
    await command.ended
    // Exited, but its pid is still its own (a zombie) until reaped.
    expect(state(command.pid)).toBe('Z')
    command.reap()
    expect(await command.exited).toBe(7)
    expect(existsSync(`/proc/${command.pid}`)).toBe(false)
  })

  it('a Ctrl-C (SIGINT to the process group) is for the command: the gate stays to report its end', async () => {
    const command = await startGatedCommand(['sleep', '30'], {stdoutToStderr: true})
    command.release()
    await until(() => cmdline(command.pid)[0] === 'sleep')
    const gate = Number(readFileSync(`/proc/${command.pid}/stat`, 'utf8').split(') ')[1].split(' ')[1])
    process.kill(gate, 'SIGINT')
    process.kill(command.pid, 'SIGINT')
    await command.ended
    command.reap()
    expect(await command.exited).toBeNull()
  })

  it('a command killed by a signal makes the gate end the same way', async () => {
    const command = await startGatedCommand(['sleep', '30'], {stdoutToStderr: true})
    command.release()
    await until(() => cmdline(command.pid)[0] === 'sleep')
    command.kill()
    expect(await command.exited).toBeNull()
  })

  it('what diag started dies when diag is killed with SIGKILL', async () => {
    // A stand-in for diag: a node process that starts a held command and a helper, then waits.
    const script = `
      import {startGatedCommand, spawnOwned} from ${JSON.stringify(path.join(packageRoot, 'dist/src/system/child.js'))}
      const command = await startGatedCommand(['sleep', '300'], {stdoutToStderr: true})
      command.release()
      const helper = spawnOwned('sleep', ['301'], {reject: false})
      console.log(command.pid, helper.pid)
      setInterval(() => {}, 1000)
    `
    const diag = execa(process.execPath, ['--input-type=module', '-e', script], {reject: false})
    const pids = await new Promise<number[]>((resolve) => diag.stdout!.once('data', (chunk: Buffer) => resolve(String(chunk).trim().split(' ').map(Number))))
    await until(() => cmdline(pids[0])[0] === 'sleep')
    expect(pids.every(isRunning)).toBe(true)
    diag.kill('SIGKILL')
    await diag
    await until(() => !pids.some(isRunning))
  })
})
