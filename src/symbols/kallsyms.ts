/**
 * Kernel addresses to function names, from /proc/kallsyms: read once per run, sorted by address,
 * looked up by binary search (the largest symbol address at or below the frame's).
 */

/** Kernel text symbols (t, T) and weak ones (w, W); data symbols would only mislabel code. */
const TEXT = /^[tTwW]$/

export class KernelSymbols {
  private constructor(
    /** Sorted ascending. */
    private readonly addresses: BigUint64Array,
    private readonly names: string[],
  ) {}

  /**
   * Parses kallsyms text ("ffffffff81000000 T _text", modules' as "... t name\t[module]").
   * Without privilege every address reads 0: nothing can be resolved then, and size is 0.
   */
  static parse(text: string): KernelSymbols {
    const entries: [bigint, string][] = []
    for (const line of text.split('\n')) {
      const [address, type, name, module] = line.split(/\s+/)
      if (!name || !TEXT.test(type) || !/^[0-9a-f]+$/i.test(address)) continue
      const at = BigInt(`0x${address}`)
      if (at === 0n) continue
      entries.push([at, module ? `${name} ${module}` : name])
    }
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return new KernelSymbols(BigUint64Array.from(entries.map(([at]) => at)), entries.map(([, name]) => name))
  }

  /** Whether the kernel has a function of this name (not inlined away: it can be probed). */
  has(name: string): boolean {
    return this.names.includes(name)
  }

  get size(): number {
    return this.names.length
  }

  /** The function holding this address, or undefined below the first symbol. */
  lookup(address: bigint): string | undefined {
    const at = this.indexOf(address)
    return at < 0 ? undefined : this.names[at]
  }

  /**
   * The frame as the kernel prints it with its offset into the function (`tcp_v4_rcv+0x9c7`;
   * a module's as `virtblk_probe+0x10 [virtio_blk]`), or undefined below the first symbol.
   */
  lookupWithOffset(address: bigint): string | undefined {
    const at = this.indexOf(address)
    if (at < 0) return undefined
    const [name, module] = this.names[at].split(' ')
    const offset = `${name}+0x${(address - this.addresses[at]).toString(16)}`
    return module ? `${offset} ${module}` : offset
  }

  private indexOf(address: bigint): number {
    let low = 0
    let high = this.addresses.length - 1
    let found = -1
    while (low <= high) {
      const middle = (low + high) >> 1
      if (this.addresses[middle] <= address) {
        found = middle
        low = middle + 1
      } else {
        high = middle - 1
      }
    }
    return found
  }
}
