import type {HostFiles} from '../../src/system/files.js'

/** An in-memory host tree that records every write, for tests of what diag writes where. */
export class MemoryFiles implements HostFiles {
  readonly root = '/'
  readonly writes: {path: string; text: string; mode: string}[] = []
  readonly files = new Map<string, string>()
  readonly dirs = new Set<string>()
  /** Writes to these paths fail with this errno code. */
  readonly refuse = new Map<string, string>()

  resolve(hostPath: string): string {
    return hostPath
  }

  private fail(code: string, path: string): never {
    throw Object.assign(new Error(`${code}: ${path}`), {code})
  }

  async read(path: string): Promise<string> {
    const text = this.files.get(path)
    if (text === undefined) this.fail('ENOENT', path)
    return text
  }

  async readBytes(path: string): Promise<Buffer> {
    return Buffer.from(await this.read(path))
  }

  async exists(path: string): Promise<boolean> {
    return this.files.has(path) || this.dirs.has(path)
  }

  async list(path: string): Promise<string[]> {
    const prefix = `${path}/`
    const names = new Set<string>()
    for (const p of [...this.files.keys(), ...this.dirs]) if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split('/')[0])
    return [...names]
  }

  async write(path: string, text: string, mode: 'append' | 'truncate'): Promise<void> {
    const code = this.refuse.get(path)
    if (code) this.fail(code, path)
    this.writes.push({path, text, mode})
    if (mode === 'truncate') return void this.files.set(path, text)
    // Appending to a definition or trigger file adds a line; "!x" and "-:group/event" take one away.
    const lines = (this.files.get(path) ?? '').split('\n').filter(Boolean)
    const removed = text.startsWith('!') ? text.slice(1) : text.startsWith('-:') ? text.slice(2) : undefined
    const kept = removed === undefined ? [...lines, text] : lines.filter((l) => l !== removed && !l.slice(2).startsWith(`${removed} `))
    this.files.set(path, kept.map((l) => `${l}\n`).join(''))
  }

  async mkdir(path: string): Promise<void> {
    if (this.dirs.has(path)) this.fail('EEXIST', path)
    this.dirs.add(path)
  }

  async rmdir(path: string): Promise<void> {
    if (!this.dirs.delete(path)) this.fail('ENOENT', path)
  }
}
