import {existsSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'

/** The static workload binary with known answers (test/workload/diag-workload.c). */
export const WORKLOAD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workload/diag-workload')
export const workloadBuilt = existsSync(WORKLOAD)

/** The dynamically linked name-lookup workload (test/workload/diag-lookups.c), for gethostlatency. */
export const LOOKUPS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workload/diag-lookups')
/** The dynamically linked off-CPU workload with frame pointers (test/workload/diag-offcpu.c). */
export const OFFCPU_WORKLOAD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workload/diag-offcpu')

/** The dynamically linked on-CPU workload with frame pointers (test/workload/diag-spin.c). */
export const SPIN_WORKLOAD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workload/diag-spin')

/** The static loopback TCP workload (test/workload/diag-tcp.c), for the TCP tools. */
export const TCP_WORKLOAD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../workload/diag-tcp')

/** A diag-tcp server on ADDR (127.0.0.1 or ::1), replying `reply` bytes to each session, until stopped; the port is the kernel's choice. */
export async function startTcpServer(address: string, reply: number): Promise<{port: number; pid: number; stop(): Promise<void>}> {
  const server = execa(TCP_WORKLOAD, ['server', address, String(reply)], {reject: false, buffer: false})
  const stop = async () => {
    server.kill('SIGKILL')
    await server
  }
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let text = ''
      server.stdout!.on('data', (chunk: Buffer) => {
        text += chunk
        const m = /port (\d+)/.exec(text)
        if (m) resolve(Number(m[1]))
      })
      server.once('exit', (code) => reject(new Error(`diag-tcp server exited (${code}) before listening`)))
    })
    return {port, pid: server.pid!, stop}
  } catch (error) {
    await stop()
    throw error
  }
}

/**
 * A diag-tcp server on ADDR (127.0.0.1 or ::1), replying `reply` bytes to each session, for the
 * duration of `use`; it gets the port the kernel chose.
 */
export async function withTcpServer<T>(address: string, reply: number, use: (port: number) => Promise<T>): Promise<T> {
  const server = await startTcpServer(address, reply)
  try {
    return await use(server.port)
  } finally {
    await server.stop()
  }
}

/** A loopback port nothing listens on (one the kernel just gave and took back). */
export async function closedTcpPort(address = '127.0.0.1'): Promise<number> {
  return withTcpServer(address, 0, async (port) => port)
}

/** A loop device over a sparse file: a real block device whose requests are only the test's. */
export async function withLoopDevice<T>(use: (device: string) => Promise<T>): Promise<T> {
  const image = path.join('/tmp', `diag-test-${process.pid}-${Date.now()}.img`)
  await execa('truncate', ['-s', '64M', image])
  try {
    const {stdout: device} = await execa('losetup', ['--find', '--show', image])
    try {
      return await use(device.trim())
    } finally {
      await execa('losetup', ['-d', device.trim()])
    }
  } finally {
    await execa('rm', ['-f', image])
  }
}

export const loopDevices = existsSync('/dev/loop-control')
