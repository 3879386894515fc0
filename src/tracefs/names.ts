import {readFileSync} from 'node:fs'

/**
 * How diag names what it creates in tracefs: always with its pid, so that two diag processes
 * never collide and `diag reset` can tell what a dead diag left from what anyone else made.
 */
export const instanceName = (pid: number, purpose: string): string => `diag-${pid}-${purpose}`

/** Group of kprobe, uprobe and synthetic events; event names must be C identifiers. */
export const eventGroup = (pid: number, purpose: string): string => `diag_${pid}_${purpose}`

export const INSTANCE_NAME = /^diag-(\d+)-[\w-]+$/
export const GROUP_NAME = /^diag_(\d+)_\w+$/

/** The pid in a diag-made name, or undefined when the name is not one of diag's. */
export function ownerPid(name: string): number | undefined {
  const m = INSTANCE_NAME.exec(name) ?? GROUP_NAME.exec(name)
  return m ? Number(m[1]) : undefined
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Alive and not a zombie: a process that has exited but not been reaped still answers kill(0). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** A binary a uprobe definition may name: absolute, no spaces, no newlines, no shell or tracefs syntax. */
export const BINARY_PATH = /^\/[\w.+@/-]+$/
