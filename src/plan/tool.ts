/**
 * What a tool is, as data: its command (flags, arguments, the options they make), its help, the
 * kind of result it gives, and its candidate backends in order of preference, each with what it
 * needs from the kernel and the runner that does the work. Each tool is one module,
 * tools/<name>/tool.ts, made with defineTool(); tools/index.ts lists them. Routing
 * (src/plan/route.ts), the session (src/run.ts), the commands and the help all read these.
 */
import type {Command, Interfaces} from '@oclif/core'

import type {Runner} from '../../backends/runner.js'
import type {ResultData, RowColumn} from '../result/model.js'
import type {ToolOptions} from './options.js'

export type BackendName = 'bpf' | 'ftrace' | 'perf'

/** What a candidate can serve, where that depends on the options: checked while routing. */
export interface Limits {
  /** The `--by` groupings it counts by; any when absent. */
  by?: string[]
  /** The most functions one run attaches to, and why that many. */
  maxFunctions?: {count: number; why: string}
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface Candidate<Options = any> {
  /** Unique within its tool; `--backend` accepts it as well as the backend's name. */
  id: string
  backend: BackendName
  /** What the method does, for people. */
  method: string
  /** Capabilities that must all be available. */
  needs: string[]
  /**
   * Capabilities the runner adapts to without needing them, probed with the needs: a BPF runner
   * loads its object's build with knobs in maps where bpf-global-data is unavailable.
   */
  uses?: string[]
  /** What these options must stay within for this candidate to serve them (checked while routing). */
  limits?: Limits
  /** Why it cannot serve these options, beyond `limits`; empty when it can (checked while routing). */
  accepts?: (options: Options) => string[]
  /** Loads the runner, only when this candidate is chosen: `diag capabilities` never pays for one. */
  runner: () => Promise<Runner<Options>>
}

/** What `diag help TOOL`, `diag TOOL --help` and the man pages say of a tool besides its flags. */
export interface ToolHelp {
  /** What the tool measures, in one paragraph. */
  measures: string
  /** The classic tool it follows: bcc, perf-tools, bpftrace. */
  origin: string
  examples: Command.Example[]
}

// oclif's own shapes of flag and argument definitions.
type FlagDefinitions = Interfaces.FlagInput
type ArgDefinitions = Interfaces.ArgInput

export interface ToolSpec<Options, Flags extends FlagDefinitions = FlagDefinitions, Args extends ArgDefinitions = ArgDefinitions> {
  name: string
  /** What it measures, in a few words, for the routing report. */
  summary: string
  /** The kind of result data it gives (src/result/model.ts), whatever the backend. */
  output: ResultData['kind']
  /** A rows tool's columns, in print order (text prints their titles before the first row). */
  columns?: RowColumn[]
  command: {
    /** The command's one line, as `diag --help` lists it. */
    summary: string
    usage: string
    /** The tool's own flags; every tool also has the session's (src/tool-flags.ts). */
    flags: Flags
    args?: Args
  }
  help: ToolHelp
  /**
   * The options the runners read, from parsed flags (and the command after `--`, for a tool that
   * must know which program it will trace); bad combinations throw BadInputError. It may read
   * files (gethostlatency finds the libc), never touch the kernel.
   */
  options(parsed: {flags: Interfaces.InferredFlags<Flags>; args: Interfaces.InferredArgs<Args>; command?: string[]}): Options | Promise<Options>
  candidates: Candidate<Options>[]
}

/** A tool of any options, as the lists, routing and the session hold them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTool = ToolSpec<any, any, any>

/** Types a tool module: the options() result is what every candidate's runner gets. */
export function defineTool<Options extends ToolOptions, Flags extends FlagDefinitions, Args extends ArgDefinitions = {}>(
  spec: ToolSpec<Options, Flags, Args>,
): ToolSpec<Options, Flags, Args> {
  return spec
}

/** What `--backend` accepts for a tool: each backend name and each candidate id. */
export function backendChoices(tool: Pick<AnyTool, 'candidates'>): string[] {
  return [...new Set(tool.candidates.flatMap((c: Candidate) => [c.backend, c.id]))]
}

/** What routing learns from the kernel for the options, once, before choosing. */
export interface OptionFacts {
  /** How many functions the pattern matches (funccount, funcprofile). */
  functions?: number
}

/**
 * Why `candidate` cannot serve these options; empty when it can. Without facts (before probing)
 * only what the options settle alone is checked.
 */
export function optionRefusals<Options>(candidate: Candidate<Options>, toolOptions: Options, facts: OptionFacts = {}): string[] {
  const options = toolOptions as {by?: string; pattern?: string}
  const limits = candidate.limits ?? {}
  const reasons: string[] = []
  if (limits.by && options.by !== undefined && !limits.by.includes(options.by))
    reasons.push(`counts by ${limits.by.join(' or ')} only, not --by ${options.by}`)
  const most = limits.maxFunctions
  if (most && facts.functions !== undefined && facts.functions > most.count)
    reasons.push(`${JSON.stringify(options.pattern)} matches ${facts.functions} functions, more than ${most.count}: ${most.why}`)
  reasons.push(...(candidate.accepts?.(toolOptions) ?? []))
  return reasons
}
