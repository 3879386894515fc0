import {BadInputError, BusyError, NotSupportedError, PermissionError, errnoName, isPermissionErrno} from '../../src/errors.js'
import type {HostFiles} from '../../src/system/files.js'
import {acquireLock} from '../../src/system/lock.js'
import type {UndoLog} from '../../src/system/undo.js'
import {BINARY_PATH, eventGroup, instanceName} from '../../src/tracefs/names.js'
import {clearTriggers} from '../../src/tracefs/triggers.js'

// What may be written to a tracefs file: one command of printable ASCII. A newline would start
// a second command; everything user-given is checked against narrower rules before it gets here.
const SAFE_TEXT = /^[\x20-\x7e]*$/
const SAFE_PATH = /^[\w.-]+(\/[\w.-]+)*$/
// What a uprobe definition may name: an event (a C identifier), a file (absolute, no spaces), and
// fetch arguments of the probe syntax only (name=+0(%di):string, $retval); a kprobe's the same.
const EVENT_NAME = /^[A-Za-z_]\w*$/
const FETCH_ARG = /^[A-Za-z_]\w*=[\w%+():$.-]+$/

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
    const group = eventGroup(this.pid, purpose)
    const bad = fetch.find((arg) => !FETCH_ARG.test(arg))
    if (bad !== undefined) throw new BadInputError(`refusing kprobe fetch argument ${JSON.stringify(bad)}`)
    await this.write('kprobe_events', [`${ret ? 'r' : 'p'}:${group}/${event} ${func}`, ...fetch].join(' '), 'append')
    this.undo.push(`remove kprobe ${group}/${event}`, () => this.write('kprobe_events', `-:${group}/${event}`, 'append'))
    return `${group}/${event}`
  }

  /**
   * A uprobe (or with `ret` a uretprobe) at a file offset of an ELF file, in the pid-named group,
   * with its fetch arguments; returns "group/event". Every part is checked before the write.
   */
  async uprobe(purpose: string, event: string, target: {path: string; offset: bigint}, ret = false, fetch: string[] = []): Promise<string> {
    const group = eventGroup(this.pid, purpose)
    if (!EVENT_NAME.test(event) || !EVENT_NAME.test(group)) throw new BadInputError(`refusing uprobe event name ${JSON.stringify(`${group}/${event}`)}`)
    if (!BINARY_PATH.test(target.path)) throw new BadInputError(`refusing uprobe on ${JSON.stringify(target.path)}: an absolute path without spaces or special characters only`)
    if (target.offset < 0n) throw new BadInputError(`refusing uprobe at offset ${target.offset}`)
    const bad = fetch.find((arg) => !FETCH_ARG.test(arg))
    if (bad !== undefined) throw new BadInputError(`refusing uprobe fetch argument ${JSON.stringify(bad)}`)
    const definition = [`${ret ? 'r' : 'p'}:${group}/${event} ${target.path}:0x${target.offset.toString(16)}`, ...fetch].join(' ')
    await this.write('uprobe_events', definition, 'append')
    this.undo.push(`remove uprobe ${group}/${event}`, () => this.write('uprobe_events', `-:${group}/${event}`, 'append'))
    return `${group}/${event}`
  }

  /** Takes a top-level feature for the run; refuses if another diag holds it. */
  async lock(feature: string): Promise<void> {
    const release = await acquireLock(feature)
    this.undo.push(`release the ${feature} lock`, release)
  }
}
