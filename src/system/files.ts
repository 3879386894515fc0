import {constants} from 'node:fs'
import {access, mkdir, open, readdir, readFile, rmdir} from 'node:fs/promises'
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

  read(hostPath: string): Promise<string> {
    return readFile(this.resolve(hostPath), 'utf8')
  }

  readBytes(hostPath: string): Promise<Buffer> {
    return readFile(this.resolve(hostPath))
  }

  async exists(hostPath: string): Promise<boolean> {
    try {
      await access(this.resolve(hostPath), constants.F_OK)
      return true
    } catch {
      return false
    }
  }

  list(hostPath: string): Promise<string[]> {
    return readdir(this.resolve(hostPath))
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
