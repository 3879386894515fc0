/**
 * Event counts by process or thread id, named "comm [id]" when read. An event stream names a task
 * by the comm the kernel saved for it, and writes "<...>" where it saved none (saved_cmdlines is
 * a small cache): counting by id and naming at the end keeps one row per task, under the name
 * seen for it, whatever its lines said.
 */
export class TaskCounts {
  private counts = new Map<number, number>()
  private readonly names = new Map<number, string>()

  add(id: number, comm: string): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1)
    if (comm !== '<...>' || !this.names.has(id)) this.names.set(id, comm)
  }

  /** The counts since the last take, by "comm [id]". */
  take(): Map<string, number> {
    const named = new Map([...this.counts].map(([id, count]) => [`${this.names.get(id)} [${id}]`, count]))
    this.counts = new Map()
    return named
  }
}
