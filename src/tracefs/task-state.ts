import {BadInputError} from '../errors.js'
import type {HostFiles} from '../system/files.js'
import {preemptMarker} from './preempt-marker.js'

/**
 * The task states sched_switch reports in prev_state, as the running kernel names them: its
 * print format prints them with `__print_flags(REC->prev_state & ..., "|", { 0x1, "S" }, ...)`
 * and "R" when no bit is set. The letters are those ps shows; their bits differ between kernels
 * (4.9 reports the raw task state, "X" is 32 there and 16 on 4.14+), so they are read, not tabled.
 */
export interface TaskStates {
  /** Each letter's bit; "R" (runnable, preempted) is 0: no state bit set. */
  bits: Map<string, number>
  /** The "+" bit (preempted in the kernel), where the format names one: the state is the bits below it. */
  marker?: number
}

// "{ 0x00000001, "S" }" (6.x) or "{ 1, "S"}" (4.9).
const FLAG = /\{\s*(0x[0-9a-fA-F]+|\d+)\s*,\s*"([^"]*)"\s*\}/g

export function taskStates(formatText: string): TaskStates {
  const print = /^print fmt: (.*)$/m.exec(formatText)?.[1] ?? ''
  const start = print.indexOf('__print_flags(REC->prev_state')
  const bits = new Map<string, number>()
  if (start >= 0) {
    // The flags of this __print_flags only: up to the parenthesis that closes it.
    const end = print.indexOf(') :', start)
    const flags = print.slice(start, end < 0 ? undefined : end)
    for (const [, value, letter] of flags.matchAll(FLAG)) if (/^[A-Za-z]$/.test(letter)) bits.set(letter, Number(value))
  }
  if (/:\s*"R"/.test(print)) bits.set('R', 0)
  return {bits, marker: preemptMarker(formatText)}
}

/** The sched_switch format of the running kernel, for its task states. */
export async function readTaskStates(files: HostFiles, tracefs: string): Promise<TaskStates> {
  return taskStates(await files.read(`${tracefs}/events/sched/sched_switch/format`))
}

/**
 * `--state` as letters: "D", "SD", "S,D" or "S|D". Only its shape is checked here, with no kernel;
 * stateFilter() checks the letters against the kernel's.
 */
export function parseStateLetters(text: string): string[] {
  const letters = text.split(/[\s,|]*/).filter(Boolean)
  const bad = letters.find((l) => !/^[A-Za-z]$/.test(l))
  if (letters.length === 0 || bad !== undefined)
    throw new BadInputError(`--state takes task state letters as ps shows them (S, D, R, ...), not ${JSON.stringify(text)}`)
  return [...new Set(letters)]
}

/** What the kernel-side filters test: a state is wanted when it has a bit of mask, or none and running is set. */
export interface StateFilter {
  letters: string[]
  mask: number
  /** "R" was asked for: tasks switched out while runnable (preempted). */
  running: boolean
  marker?: number
}

/** The letters as this kernel's bits; a letter it does not report is bad input (exit 2). */
export function stateFilter(states: TaskStates, letters: string[]): StateFilter {
  const unknown = letters.filter((l) => !states.bits.has(l))
  if (unknown.length > 0) {
    const known = [...states.bits.keys()].join(' ')
    throw new BadInputError(`--state ${unknown.join('')}: this kernel's sched_switch reports the states ${known || '(none it names)'}`, {known})
  }
  const mask = letters.reduce((bits, l) => bits | states.bits.get(l)!, 0)
  return {letters, mask, running: letters.includes('R'), marker: states.marker}
}

/**
 * Whether prev_state as the event prints it ("S", "D|K", "R+") is one of the letters: the
 * text filter of the ftrace stream and perf, the same test as the kernel-side one.
 */
export function stateTextWanted(printed: string, letters: ReadonlySet<string>): boolean {
  return printed
    .replace(/\+$/, '')
    .split('|')
    .some((letter) => letters.has(letter))
}
