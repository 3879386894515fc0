import {type TextStyle, paint} from '../../render/style.js'
import type {Kind, Sample} from './kind.js'
import {NO_EVENTS} from './text.js'

/** A stack, outermost frame first (as folded stacks and flame graphs have them), with its value. */
export interface Stack {
  frames: string[]
  /**
   * Where the kernel's frames start: frames[kernelFrom] and those after it ran in the kernel, those
   * before it in user space (the task's name first, where a tool puts it). frames.length when the
   * stack has no kernel frames; absent when the tool cannot tell them apart.
   */
  kernelFrom?: number
  /**
   * Off-wake stacks (offwaketime): frames[wakerFrom] is the separator ("--") after the blocked
   * task's frames; the waker's follow innermost first, its kernel frames up to wakerUserFrom, then
   * its user frames and its comm last.
   */
  wakerFrom?: number
  wakerUserFrom?: number
  value: number
}

/**
 * Folded stacks with values (offcputime, offwaketime, profile): what flamegraph.pl, speedscope and Grafana
 * read. `unit` says what a value counts: "samples", "usecs".
 */
export interface Stacks {
  kind: 'stacks'
  unit: string
  stacks: Stack[]
}

/** A stack as one folded line's key: frames joined by ";" (a ";" inside a frame becomes ":"). */
export const folded = (frames: string[]) => frames.map((f) => f.replaceAll(';', ':')).join(';')

/** The folded text format, a stack a line ("a;b;c 42"), largest first (ties by stack, so it is stable). */
export function renderFolded(data: Stacks): string[] {
  return [...data.stacks]
    .map((s) => [folded(s.frames), s.value] as const)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([stack, value]) => `${stack} ${value}`)
}

/** How many stacks a terminal's summary shows. */
const SUMMARY_STACKS = 10

/**
 * A summary for a person at a terminal: the largest stacks with their share of the whole, each a
 * frame a line, innermost first as bcc prints them (an off-wake stack: the blocked task's frames,
 * then the waker's after a "woken by" line). Pipes and files get every stack folded instead.
 */
export function renderTopStacks(data: Stacks, style: TextStyle): string[] {
  const total = stacksTotal(data)
  const largest = [...data.stacks].sort((a, b) => b.value - a.value || folded(a.frames).localeCompare(folded(b.frames))).slice(0, SUMMARY_STACKS)
  const fit = (line: string) => (line.length > style.width ? `${line.slice(0, Math.max(style.width - 1, 1))}…` : line)
  const lines = [paint(style, `The ${largest.length} largest of ${data.stacks.length} stacks (${total.toLocaleString('en-US')} ${data.unit} in all):`, 'bold')]
  for (const stack of largest) {
    const share = total > 0 ? ((100 * stack.value) / total).toFixed(1) : '0.0'
    const blocked = stack.wakerFrom === undefined ? stack.frames : stack.frames.slice(0, stack.wakerFrom)
    lines.push('', paint(style, `${stack.value.toLocaleString('en-US')} ${data.unit} (${share}%)  ${blocked[0] ?? ''}`, 'cyan'))
    for (const frame of blocked.slice(1).reverse()) lines.push(fit(`    ${frame}`))
    if (stack.wakerFrom !== undefined) {
      lines.push(paint(style, '    -- woken by --', 'dim'))
      for (const frame of stack.frames.slice(stack.wakerFrom + 1)) lines.push(fit(`    ${frame}`))
    }
  }
  lines.push('', paint(style, 'Every stack folded: the same command into a pipe or file; --svg FILE draws a flame graph; --json gives frame lists.', 'dim'))
  return lines
}

function combine(earlier: Stacks, later: Stacks): Stacks {
  const byStack = new Map<string, Stack>()
  for (const stack of [...earlier.stacks, ...later.stacks]) {
    // The same frames split differently between kernel and user are different stacks.
    const key = `${stack.kernelFrom ?? ''} ${stack.wakerFrom ?? ''} ${stack.wakerUserFrom ?? ''}\n${folded(stack.frames)}`
    const known = byStack.get(key)
    if (known) known.value += stack.value
    else byStack.set(key, {...stack, frames: [...stack.frames]})
  }
  return {...earlier, stacks: [...byStack.values()]}
}

export const stacks: Kind<Stacks> = {
  kind: 'stacks',
  schema: {
    type: 'object',
    required: ['kind', 'unit', 'stacks'],
    additionalProperties: false,
    properties: {
      kind: {const: 'stacks'},
      unit: {type: 'string', description: 'what a value counts: samples, usecs'},
      stacks: {
        type: 'array',
        items: {
          type: 'object',
          required: ['frames', 'value'],
          additionalProperties: false,
          properties: {
            frames: {type: 'array', items: {type: 'string'}, description: 'outermost frame first, as in folded stacks'},
            kernelFrom: {
              type: 'integer',
              minimum: 0,
              description: "the index of the first kernel frame: those before it are user space's (frames' length: no kernel frames); absent when the tool cannot tell",
            },
            wakerFrom: {type: 'integer', minimum: 0, description: 'off-wake stacks: the index of the separator ("--") before the waker\'s frames, which come innermost first'},
            wakerUserFrom: {type: 'integer', minimum: 0, description: "off-wake stacks: the index of the waker's first user frame (its kernel frames are before it)"},
            value: {type: 'number', minimum: 0},
          },
        },
      },
    },
  },
  render: (data, style) => (data.stacks.length === 0 ? [NO_EVENTS] : style.terminal ? renderTopStacks(data, style) : renderFolded(data)),
  combine,
  selectorKey: () => null,
  samples(data): Sample[] {
    const total = stacksTotal(data)
    const seconds = TIME_UNIT_SECONDS[data.unit]
    return [
      {name: 'diag_stacks', type: 'gauge', help: 'Distinct stacks seen during the step.', labels: {}, value: data.stacks.length},
      seconds === undefined
        ? {name: 'diag_stack_samples_total', type: 'counter', help: "The stacks' values summed over the step (samples, for profile).", labels: {unit: data.unit}, value: total}
        : {name: 'diag_stacks_seconds_total', type: 'counter', help: "The stacks' times summed over the step (off-CPU time, for offcputime), in seconds.", labels: {}, value: total * seconds},
    ]
  },
}

/** Seconds per unit of a stacks result whose values are times (offcputime's usecs). */
export const TIME_UNIT_SECONDS: Record<string, number> = {nsecs: 1e-9, usecs: 1e-6, msecs: 1e-3}

/** Every stack's value added up: all the samples, or all the time. */
export const stacksTotal = (data: Stacks): number => data.stacks.reduce((sum, s) => sum + s.value, 0)
