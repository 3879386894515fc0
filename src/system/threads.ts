import {readFileSync} from 'node:fs'

/**
 * The process (thread group) of a thread, from /proc/<tid>/status, for event sources that name
 * only the thread. A thread that is gone before it is asked about cannot be placed: it then stands
 * for itself, which is why the stream backend asks the kernel to record tgids where it can.
 */
export class ThreadGroups {
  private readonly known = new Map<number, number>()
  private recorded: Map<number, number> | undefined

  /** `savedTgids`: the kernel's record of them (tracefs saved_tgids, with the record-tgid option), asked when /proc cannot tell. */
  constructor(private readonly savedTgids?: string) {}

  groupOf(tid: number): number | undefined {
    const cached = this.known.get(tid)
    if (cached !== undefined) return cached
    try {
      const m = /^Tgid:\s*(\d+)$/m.exec(readFileSync(`/proc/${tid}/status`, 'utf8'))
      if (!m) return undefined
      this.known.set(tid, Number(m[1]))
      return Number(m[1])
    } catch {
      return this.kernelRecord().get(tid)
    }
  }

  private kernelRecord(): Map<number, number> {
    if (this.recorded) return this.recorded
    this.recorded = new Map()
    if (!this.savedTgids) return this.recorded
    try {
      for (const m of readFileSync(this.savedTgids, 'utf8').matchAll(/^(\d+) (\d+)$/gm)) if (m[2] !== '0') this.recorded.set(Number(m[1]), Number(m[2]))
    } catch {
      // No record to ask: the thread stands for itself.
    }
    return this.recorded
  }

  /** The kernel's record is read again at the next miss (once an interval). */
  forget(): void {
    this.recorded = undefined
  }
}

/**
 * A thread's comm, for event sources that give only its id (trace_pipe_raw): from
 * /proc/<tid>/comm, remembered until forget() (once an interval, so an exec's new name shows up),
 * else the kernel's comm cache (tracefs saved_cmdlines, read at most once between forgets), else
 * "<...>" as trace_pipe prints a thread it cannot name.
 */
export class ThreadNames {
  private known = new Map<number, string>()
  private cached: Map<number, string> | undefined

  constructor(private readonly savedCmdlines?: string) {}

  nameOf(tid: number): string {
    let name = this.known.get(tid)
    if (name !== undefined) return name
    try {
      name = readFileSync(`/proc/${tid}/comm`, 'utf8').trim()
    } catch {
      name = this.kernelCache().get(tid) ?? '<...>'
    }
    this.known.set(tid, name)
    return name
  }

  private kernelCache(): Map<number, string> {
    if (this.cached) return this.cached
    this.cached = new Map()
    if (!this.savedCmdlines) return this.cached
    try {
      for (const m of readFileSync(this.savedCmdlines, 'utf8').matchAll(/^(\d+) (.*)$/gm)) this.cached.set(Number(m[1]), m[2])
    } catch {
      // No cache to ask: the name stays unknown.
    }
    return this.cached
  }

  forget(): void {
    this.known = new Map()
    this.cached = undefined
  }
}

/** Who a thread is, for event sources that give only its id: its process and its name. */
export interface ThreadInfo {
  groupOf(tid: number): number | undefined
  nameOf(tid: number): string
}

/**
 * ThreadGroups and ThreadNames over one tracefs's records of them (saved_tgids, which the
 * record-tgid option fills, and saved_cmdlines), forgotten together once an interval.
 */
export class TracedThreads implements ThreadInfo {
  private readonly groups: ThreadGroups
  private readonly names: ThreadNames

  constructor(tracefs: string) {
    this.groups = new ThreadGroups(`${tracefs}/saved_tgids`)
    this.names = new ThreadNames(`${tracefs}/saved_cmdlines`)
  }

  groupOf(tid: number): number | undefined {
    return this.groups.groupOf(tid)
  }

  nameOf(tid: number): string {
    return this.names.nameOf(tid)
  }

  forget(): void {
    this.groups.forget()
    this.names.forget()
  }
}
