import {readFileSync} from 'node:fs'

/**
 * The process (thread group) of a thread, from /proc/<tid>/status, for event sources that name
 * only the thread. A thread that is gone before it is asked about cannot be placed: it then stands
 * for itself, which is why the stream backend asks the kernel to record tgids where it can.
 */
export class ThreadGroups {
  private readonly known = new Map<number, number>()

  groupOf(tid: number): number | undefined {
    const cached = this.known.get(tid)
    if (cached !== undefined) return cached
    try {
      const m = /^Tgid:\s*(\d+)$/m.exec(readFileSync(`/proc/${tid}/status`, 'utf8'))
      if (!m) return undefined
      this.known.set(tid, Number(m[1]))
      return Number(m[1])
    } catch {
      return undefined
    }
  }
}
