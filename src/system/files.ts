import {accessSync, closeSync, constants, openSync, readSync, readdirSync} from 'node:fs'
import {mkdir, open, rmdir} from 'node:fs/promises'
import path from 'node:path'

/**
 * The host's files, seen from a root: `/` for the machine diag runs on, or a directory where
 * another host's /proc, /sys and /boot are mounted (--host-root). Every path given is the path
 * as the host sees it; tracefs, procfs and sysfs all go through here so tests can fake them.
 */
export interface HostFiles {
  readonly root: string
  /** The real path of a host path. */
  resolve(hostPath: string): string
  read(hostPath: string): Promise<string>
  readBytes(hostPath: string): Promise<Buffer>
  exists(hostPath: string): Promise<boolean>
  list(hostPath: string): Promise<string[]>
  /**
   * One write() of the whole text. `append` opens with O_APPEND, which tracefs definition files
   * need: opening kprobe_events with O_TRUNC would delete every other tool's probes.
   */
  write(hostPath: string, text: string, mode: 'append' | 'truncate'): Promise<void>
  mkdir(hostPath: string): Promise<void>
  rmdir(hostPath: string): Promise<void>
}

export class NodeFiles implements HostFiles {
  constructor(readonly root = '/') {}

  resolve(hostPath: string): string {
    if (!path.isAbsolute(hostPath)) throw new Error(`host paths are absolute: ${hostPath}`)
    const resolved = path.resolve(this.root, `.${path.normalize(hostPath)}`)
    // A host path must not climb out of the root it is read under.
    const rel = path.relative(this.root, resolved)
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`path escapes ${this.root}: ${hostPath}`)
    return resolved
  }

  // Reads are synchronous behind their promises: the files are the kernel's (procfs, sysfs,
  // tracefs), answered at once, and a probing run opens dozens of them. Through the thread pool a
  // read is three or four trips (open, read until empty, close): bench/kernel-files.mjs times 32
  // reads and 32 existence checks of /proc files both ways (README, Performance). Nothing here reads
  // a file that blocks: trace_pipe readers open their own descriptors.
  // Changes (write, mkdir, rmdir) stay asynchronous: they are the set-up and the undo, where the
  // kernel may take its time (a long set_ftrace_filter, an instance busy being removed), and a
  // blocked event loop would not see the third Ctrl-C that quits without waiting for them.

  async read(hostPath: string): Promise<string> {
    return readSyncToEnd(this.resolve(hostPath)).toString('utf8')
  }

  async readBytes(hostPath: string): Promise<Buffer> {
    return readSyncToEnd(this.resolve(hostPath))
  }

  async exists(hostPath: string): Promise<boolean> {
    try {
      accessSync(this.resolve(hostPath), constants.F_OK)
      return true
    } catch {
      return false
    }
  }

  async list(hostPath: string): Promise<string[]> {
    return readdirSync(this.resolve(hostPath))
  }

  async write(hostPath: string, text: string, mode: 'append' | 'truncate'): Promise<void> {
    const handle = await open(this.resolve(hostPath), mode === 'append' ? 'a' : 'w')
    try {
      const buffer = Buffer.from(text)
      const {bytesWritten} = await handle.write(buffer, 0, buffer.length)
      if (bytesWritten !== buffer.length) throw new Error(`short write to ${hostPath}`)
    } finally {
      await handle.close()
    }
  }

  async mkdir(hostPath: string): Promise<void> {
    await mkdir(this.resolve(hostPath))
  }

  async rmdir(hostPath: string): Promise<void> {
    await rmdir(this.resolve(hostPath))
  }
}

const READ_CHUNK = 64 * 1024

/**
 * A file's whole content, read until the kernel says it has no more. procfs, sysfs and tracefs
 * files report a size of 0, and Node 18's fs/promises readFile then returns only its first read
 * (about 4 KiB of /proc/PID/maps, with the libc far past it): every kernel file diag reads goes
 * through here.
 */
function readSyncToEnd(file: string): Buffer {
  const fd = openSync(file, 'r')
  try {
    const chunks: Buffer[] = []
    for (;;) {
      const chunk = Buffer.allocUnsafe(READ_CHUNK)
      const bytesRead = readSync(fd, chunk, 0, READ_CHUNK, null)
      if (bytesRead === 0) break
      chunks.push(chunk.subarray(0, bytesRead))
    }
    return Buffer.concat(chunks)
  } finally {
    closeSync(fd)
  }
}

/** readSyncToEnd as text, behind a promise as NodeFiles' reads are. */
export async function readTextToEnd(file: string): Promise<string> {
  return readSyncToEnd(file).toString('utf8')
}
