import type {FuncprofileOptions} from './tool.js'
import type {Profile} from '../../src/result/model.js'
import {matchedFunctions} from '../../src/tracefs/functions.js'
import type {Runner} from '../../backends/runner.js'
import {BpfTool} from '../../backends/bpf/bpf-tool.js'
import {type TimingMethod, attachTimedFunctions} from '../../backends/bpf/function-timing.js'


interface SlotStats {
  hits: number
  totalNs: number
  squaresNs2: number
}

/** Sums a per-CPU `struct stats {u64 hits, total_ns, squares_ns2}` value over CPUs. */
function sumStats(value: Buffer): SlotStats {
  const sum = {hits: 0, totalNs: 0, squaresNs2: 0}
  for (let offset = 0; offset + 24 <= value.length; offset += 24) {
    sum.hits += Number(value.readBigUInt64LE(offset))
    sum.totalNs += Number(value.readBigUInt64LE(offset + 8))
    sum.squaresNs2 += Number(value.readBigUInt64LE(offset + 16))
  }
  return sum
}

function funcprofile(method: TimingMethod): Runner<FuncprofileOptions> {
  return {
    async start({options, probe, files, undo, targetPid, pid, functions: matched}) {
      // Routing passes this candidate over when the pattern matches more functions than SLOTS.
      const functions = matchedFunctions(matched)
      const bpf = await BpfTool.forRun('funcprofile', {undo, probe, files, targetPid})
      const attach = await attachTimedFunctions(bpf, method, functions, {files, tracefs: probe.tracefs, pid, pattern: options.pattern})
      let previous = new Map<number, SlotStats>()
      return {
        attach,
        async collect(): Promise<Profile> {
          const current = new Map(bpf.entries('slots').map(([key, value]) => [key.readUInt32LE(), sumStats(value)]))
          const rows: Profile['rows'] = []
          for (const [slot, now] of current) {
            const before = previous.get(slot) ?? {hits: 0, totalNs: 0, squaresNs2: 0}
            const hits = now.hits - before.hits
            if (slot >= functions.length || hits <= 0) continue
            const totalUs = (now.totalNs - before.totalNs) / 1000
            const avgUs = totalUs / hits
            const squaresUs2 = (now.squaresNs2 - before.squaresNs2) / 1e6
            const varianceUs2 = hits > 1 ? Math.max(0, (squaresUs2 - hits * avgUs * avgUs) / (hits - 1)) : 0
            rows.push({function: functions[slot], hits, totalUs, avgUs, varianceUs2})
          }
          previous = current
          rows.sort((a, b) => b.totalUs - a.totalUs || a.function.localeCompare(b.function))
          return {kind: 'profile', rows: rows.slice(0, options.top)}
        },
        lost: async () => bpf.lost(),
      }
    },
  }
}

export const fentry = funcprofile('fentry')
export const kprobe = funcprofile('kprobe')
