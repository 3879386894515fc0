import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {expect} from 'vitest'

/**
 * Checks text as OpenMetrics 1.0 where it differs from the Prometheus text format, then has
 * promtool's OpenMetrics parser read it (`promtool tsdb create-blocks-from openmetrics`, which
 * needs a timestamp on every sample: a copy gets one). `promtool check metrics` reads only the
 * Prometheus text format, where an OpenMetrics counter's samples are an untyped family of their own.
 */
export function expectOpenMetrics(text: string, dir: string): void {
  const lines = text.split('\n')
  expect(lines.at(-1), 'ends with a line feed').toBe('')
  expect(lines.at(-2), '# EOF is the last line').toBe('# EOF')
  expect(lines.filter((l) => l === '# EOF')).toHaveLength(1)
  const types = new Map<string, string>()
  for (const line of lines) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (m) types.set(m[1], m[2])
    // Only TYPE, UNIT, HELP and EOF start with #.
    if (line.startsWith('#')) expect(line).toMatch(/^# (TYPE|UNIT|HELP) \S+ |^# EOF$/)
    const unit = /^# UNIT (\S+) (\S+)$/.exec(line)
    if (unit) expect(unit[1].endsWith(`_${unit[2]}`), line).toBe(true)
  }
  const samples = lines.filter((l) => l && !l.startsWith('#'))
  expect(samples.length).toBeGreaterThan(0)
  for (const [family, type] of types) {
    const own = samples.filter((s) => s.startsWith(`${family}_`) || s.startsWith(`${family}{`) || s.startsWith(`${family} `))
    if (type === 'counter') {
      // The family is named without _total; each of its samples has it.
      expect(family.endsWith('_total'), family).toBe(false)
      expect(own.length, family).toBeGreaterThan(0)
      for (const s of own) expect(s).toMatch(new RegExp(`^${family}_total[{ ]`))
    }
    if (type === 'histogram') {
      const buckets = own.filter((s) => s.startsWith(`${family}_bucket{`))
      expect(buckets.length, family).toBeGreaterThan(0)
      expect(buckets.some((s) => s.includes('le="+Inf"'))).toBe(true)
      // _count if and only if _sum: diag's log2 histograms keep no sum.
      const sums = own.filter((s) => s.startsWith(`${family}_sum`))
      const counts = own.filter((s) => s.startsWith(`${family}_count`))
      expect(counts.length).toBe(sums.length)
      // le values are canonical numbers: a point or an exponent, never a bare integer.
      for (const s of buckets) expect(s).toMatch(/le="(\+Inf|\d+\.\d+|\d(\.\d+)?e[-+]\d\d)"/)
      expect(own.filter((s) => !/^\S+_(bucket|count|sum)\{/.test(s))).toEqual([])
    }
  }
  // The Prometheus text format's counter naming would read as a counter named ..._total_total here.
  expect(text).not.toMatch(/^# TYPE \S+_total counter$/m)

  const work = mkdtempSync(path.join(dir, 'om-'))
  try {
    const stamped = lines.map((l) => (l && !l.startsWith('#') ? `${l} 1700000000` : l)).join('\n')
    writeFileSync(path.join(work, 'metrics.om'), stamped)
    const promtool = spawnSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', path.join(work, 'metrics.om'), path.join(work, 'blocks')], {encoding: 'utf8'})
    expect(promtool.error, 'promtool (prometheus) is installed by scripts/setup.sh').toBeUndefined()
    expect(promtool.status, promtool.stdout + promtool.stderr).toBe(0)
    // Without # EOF the same parser refuses it: the check above is a real one.
    writeFileSync(path.join(work, 'truncated.om'), stamped.replace('# EOF\n', ''))
    const truncated = spawnSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', path.join(work, 'truncated.om'), path.join(work, 'blocks2')], {encoding: 'utf8'})
    expect(truncated.stdout + truncated.stderr).toContain('# EOF')
  } finally {
    rmSync(work, {recursive: true, force: true})
  }
}
