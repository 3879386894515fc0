/**
 * Turns cumulative counters into per-interval ones. BPF maps, hist triggers and the function
 * profiler are never cleared while they run, so no event that lands between a read and a clear
 * is lost.
 */
export class Deltas {
  private previous = new Map<string, number>()

  next(current: Map<string, number>): Map<string, number> {
    const delta = new Map<string, number>()
    for (const [key, value] of current) {
      const change = value - (this.previous.get(key) ?? 0)
      if (change > 0) delta.set(key, change)
    }
    this.previous = current
    return delta
  }
}
