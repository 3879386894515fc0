import type {Histogram} from '../../src/result/model.js'
import {log2Histogram} from '../../src/result/normalize.js'
import {Deltas} from '../../src/result/deltas.js'
import type {BpfTool} from './bpf-tool.js'

/**
 * Reads a `hist` map keyed by struct hist_key {u32 label; u32 slot} (bpf/diag.h) into one log2
 * histogram per label, for the interval since the previous read.
 */
export class HistogramReader {
  private readonly deltas = new Deltas()

  constructor(
    private readonly bpf: BpfTool,
    private readonly labelName: (label: number) => string | null,
  ) {}

  read(): Histogram[] {
    const current = new Map(this.bpf.countEntries('hist').map(([key, n]) => [`${key.readUInt32LE(0)}/${key.readUInt32LE(4)}`, n]))
    const byLabel = new Map<number, Map<number, number>>()
    for (const [key, n] of this.deltas.next(current)) {
      const [label, slot] = key.split('/').map(Number)
      if (!byLabel.has(label)) byLabel.set(label, new Map())
      byLabel.get(label)!.set(slot, n)
    }
    return [...byLabel]
      .map(([label, slots]) => log2Histogram(this.labelName(label), slots))
      .sort((a, b) => (a.label ?? '').localeCompare(b.label ?? ''))
  }
}
