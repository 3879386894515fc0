import {BadInputError, BusyError, NotSupportedError, PermissionError, errnoName, isPermissionErrno} from '../../src/errors.js'
import type {HostFiles} from '../../src/system/files.js'
import {acquireLock} from '../../src/system/lock.js'
import type {UndoLog} from '../../src/system/undo.js'
import {eventGroup, instanceName} from '../../src/tracefs/names.js'
import {PROBE_EVENTS_FILE, type ProbeSite, probeDefinition, probeRemoval} from '../../src/tracefs/probe-events.js'
import {clearTriggers} from '../../src/tracefs/triggers.js'

// What may be written to a tracefs file: one command of printable ASCII. A newline would start
// a second command; everything user-given is checked against narrower rules before it gets here.
const SAFE_TEXT = /^[\x20-\x7e]*$/
const SAFE_PATH = /^[\w.-]+(\/[\w.-]+)*$/

/**
 * diag's changes to tracefs, all through one place: every write is checked, every change is
 * recorded with its undo, and everything diag defines carries its pid. Work happens in a private
 * instance wherever the kernel allows; top-level-only features are taken under a lock.
 */
export class TracefsSession {
  constructor(
    private readonly files: HostFiles,
    readonly root: string,
    private readonly pid: number,
    private readonly undo: UndoLog,
  ) {}

  /** The one place diag writes tracefs. `path` is relative to the tracing root. */
  async write(path: string, text: string, mode: 'append' | 'truncate' = 'truncate'): Promise<void> {
    if (!SAFE_PATH.test(path) || path.split('/').includes('..')) throw new BadInputError(`refusing to write outside tracefs: ${JSON.stringify(path)}`)
    if (!SAFE_TEXT.test(text)) throw new BadInputError(`refusing to write ${JSON.stringify(text)} to ${path}: one command of plain text only`)
    try {
      await this.files.write(`${this.root}/${path}`, text, mode)
    } catch (error) {
      throw this.writeError(path, text, error)
    }
  }

  private writeError(path: string, text: string, error: unknown): Error {
    const code = errnoName(error)
    const what = `writing "${text}" to ${path}`
    if (isPermissionErrno(code)) return new PermissionError(`${what} refused: ${code}`, {errno: code, path})
    if (code === 'EBUSY') return new BusyError(`${what}: EBUSY (in use by another tracer)`, {errno: code, path})
    if (code === 'ENOENT' || code === 'ENODEV') return new NotSupportedError(`${what}: ${code}`, {errno: code, path})
    // The kernel explains EINVAL in error_log on kernels that have it.
    return new NotSupportedError(`${what} failed: ${code ?? (error as Error).message}`, {errno: code, path})
  }

  async read(path: string): Promise<string> {
    return this.files.read(`${this.root}/${path}`)
  }

  async listDir(path: string): Promise<string[]> {
    return this.files.list(`${this.root}/${path}`).catch(() => [])
  }

  async exists(path: string): Promise<boolean> {
    return this.files.exists(`${this.root}/${path}`)
  }

  /** Sets a file and records how to put back what it held. */
  async set(path: string, value: string, restore: string): Promise<void> {
    await this.write(path, value)
    this.undo.push(`restore ${path}`, () => this.write(path, restore))
  }

  /** A private instance, instances/diag-<pid>-<purpose>, removed (with its triggers) at the end. */
  async instance(purpose: string): Promise<string> {
    const name = instanceName(this.pid, purpose)
    const path = `instances/${name}`
    try {
      await this.files.mkdir(`${this.root}/${path}`)
    } catch (error) {
      throw this.writeError(path, 'mkdir', error)
    }
    this.undo.push(`remove instance ${name}`, async () => {
      await clearTriggers(this.files, `${this.root}/${path}`)
      await this.files.rmdir(`${this.root}/${path}`)
    })
    return path
  }

  /**
   * Events in an instance from this process and the children it forks only (set_event_pid with
   * event-fork, where the kernel has that option). The instance's removal undoes both.
   */
  async followProcess(dir: string, pid: number): Promise<void> {
    if (await this.exists(`${dir}/options/event-fork`)) await this.write(`${dir}/options/event-fork`, '1')
    await this.write(`${dir}/set_event_pid`, String(pid))
  }

  /** Enables an event (category/name) in a tracing directory; disabled again at the end. */
  async enableEvent(dir: string, event: string): Promise<void> {
    const path = `${dir}/events/${event}/enable`
    await this.write(path, '1')
    this.undo.push(`disable ${event}`, () => this.write(path, '0'))
  }

  /** Adds a trigger to an event; removed again (`!trigger`) at the end. */
  async addTrigger(dir: string, event: string, trigger: string): Promise<void> {
    const path = `${dir}/events/${event}/trigger`
    await this.write(path, trigger, 'append')
    this.undo.push(`remove trigger from ${event}`, () => this.write(path, `!${trigger}`, 'append'))
  }

  /** A pid-named synthetic event; its name is returned. */
  async syntheticEvent(purpose: string, fields: string): Promise<string> {
    const name = eventGroup(this.pid, purpose)
    await this.write('synthetic_events', `${name} ${fields}`, 'append')
    this.undo.push(`remove synthetic event ${name}`, () => this.write('synthetic_events', `!${name}`, 'append'))
    return name
  }

  /**
   * A kprobe (or with `ret` a kretprobe) on a function, in the pid-named group, with its fetch
   * arguments (checked as a uprobe's are); returns "group/event".
   */
  async kprobe(purpose: string, event: string, func: string, ret = false, fetch: string[] = []): Promise<string> {
    return this.probeEvent(purpose, event, {kind: 'kprobe', func}, ret, fetch)
  }

  /**
   * A uprobe (or with `ret` a uretprobe) at a file offset of an ELF file, in the pid-named group,
   * with its fetch arguments; returns "group/event". Every part is checked before the write.
   */
  async uprobe(purpose: string, event: string, target: {path: string; offset: bigint}, ret = false, fetch: string[] = []): Promise<string> {
    return this.probeEvent(purpose, event, {kind: 'uprobe', path: target.path, offset: target.offset}, ret, fetch)
  }

  private async probeEvent(purpose: string, event: string, site: ProbeSite, ret: boolean, fetch: string[]): Promise<string> {
    const group = eventGroup(this.pid, purpose)
    const file = PROBE_EVENTS_FILE[site.kind]
    await this.write(file, probeDefinition({group, event, site, ret, fetch}), 'append')
    this.undo.push(`remove ${site.kind} ${group}/${event}`, () => this.write(file, probeRemoval(group, event), 'append'))
    return `${group}/${event}`
  }

  /** Takes a top-level feature for the run; refuses if another diag holds it. */
  async lock(feature: string): Promise<void> {
    const release = await acquireLock(feature)
    this.undo.push(`release the ${feature} lock`, release)
  }
}
