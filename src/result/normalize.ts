import {percentilesOf} from './kinds/histograms.js'
import type {Counts, Histogram, TimeUnit} from './model.js'
import {X86_64_SYSCALLS} from './syscall-names.js'

/** A syscall's name from its number (x86_64), as every backend names it. */
export function syscallName(nr: number): string {
  return X86_64_SYSCALLS[nr] ?? `syscall_${nr}`
}

const SYSCALL_NAMES = new Set(Object.values(X86_64_SYSCALLS))

export function isSyscallName(name: string): boolean {
  return SYSCALL_NAMES.has(name) || /^syscall_\d+$/.test(name)
}

/**
 * Counts from key -> count pairs, largest first (ties by key, so output is stable), top N, and
 * only the keys in `only` when it is given.
 */
export function countsFrom(key: string, entries: Iterable<[string, number]>, top?: number, only?: ReadonlySet<string>): Counts {
  const merged = new Map<string, number>()
  for (const [k, n] of entries) if (n > 0 && (!only || only.has(k))) merged.set(k, (merged.get(k) ?? 0) + n)
  const rows = [...merged]
    .map(([k, count]) => ({key: k, count}))
    .sort((a, b) => b.count - a.count || a.key.localeCompare(b.key))
  return {kind: 'counts', key, rows: top === undefined ? rows : rows.slice(0, top)}
}

/** The log2 slot of a value, as the BPF programs compute it: 0 and 1 share slot 0. */
export function log2Slot(value: number): number {
  return value < 2 ? 0 : Math.floor(Math.log2(value))
}

/**
 * A log2 histogram from slot -> count, with every slot from 0 to the highest used one present,
 * as bcc prints them, and where its percentiles fall. Slot i covers [2^i, 2^(i+1) - 1]; slot 0
 * covers 0 and 1.
 */
export function log2Histogram(label: string | null, slots: Map<number, number>): Histogram {
  const highest = Math.max(-1, ...[...slots].filter(([, n]) => n > 0).map(([slot]) => slot))
  const buckets = []
  for (let slot = 0; slot <= highest; slot++)
    buckets.push({low: slot === 0 ? 0 : 2 ** slot, high: 2 ** (slot + 1) - 1, count: slots.get(slot) ?? 0})
  return {label, buckets, count: buckets.reduce((sum, b) => sum + b.count, 0), percentiles: percentilesOf({buckets})}
}

const US_PER: Record<TimeUnit, number> = {nsecs: 0.001, usecs: 1, msecs: 1000}

/** A duration in microseconds (as ftrace timestamps give it) in the histogram's unit, rounded down. */
export function fromMicroseconds(us: number, unit: TimeUnit): number {
  return Math.floor(us / US_PER[unit])
}

/** Adds slot counts of many histograms (per-interval or per-backend) into one map. */
export function addSlots(into: Map<number, number>, slot: number, count: number): void {
  into.set(slot, (into.get(slot) ?? 0) + count)
}
