import {BadInputError, NotSupportedError, PermissionError} from '../errors.js'
import type {CapabilityResult} from '../probe/types.js'
import {type AnyTool, type BackendName, type Candidate, backendChoices} from './tool.js'

export interface CandidateVerdict {
  id: string
  backend: BackendName
  method: string
  needs: string[]
  usable: boolean
  chosen: boolean
  /** Why it cannot be used here, one reason per unmet need; empty when usable. */
  reasons: string[]
  /** What this user lacks for the needs it may not see (they are unknown to it, not absent). */
  needsPrivilege?: string[]
}

export interface Route {
  tool: string
  summary: string
  chosen: {id: string; backend: BackendName; method: string} | null
  /** Why the chosen one, in a sentence: "first usable", "forced with --backend". */
  why: string
  candidates: CandidateVerdict[]
}

export interface RouteOptions {
  /** `--backend`: a backend name (first usable of it) or a candidate id; never empty. */
  force?: string
  /** Why a candidate cannot serve the run's options (tool.ts optionRefusals); none when absent. */
  refusals?: (candidate: Candidate) => string[]
}

/** The candidates `--backend force` names: those of that backend, or the one with that id. */
export function forcedCandidates(tool: AnyTool, force: string | undefined): Candidate[] {
  if (force === undefined) return tool.candidates
  const named = tool.candidates.filter((c) => c.id === force || c.backend === force)
  if (named.length === 0) {
    const choices = backendChoices(tool).join(', ')
    const what = force === '' ? 'an empty --backend' : `no backend "${force}"`
    throw new BadInputError(`${tool.name} has ${what}; choose one of: ${choices}`, {tool: tool.name})
  }
  return named
}

/** True when `--backend` names one candidate, which then never falls through to another. */
export function forcesOneCandidate(tool: AnyTool, force: string | undefined): boolean {
  return force !== undefined && tool.candidates.some((c) => c.id === force)
}

function verdict(candidate: Candidate, capabilities: Map<string, CapabilityResult>, options: RouteOptions) {
  const reasons: string[] = []
  const unmet = new Set(candidate.needs.filter((need) => capabilities.get(need)?.status !== 'available'))
  for (const need of unmet) {
    const result = capabilities.get(need)
    if (!result) reasons.push(`${need} was not probed`)
    // Name the root cause once: "bpf-syscall unavailable", not again for every map type it blocks.
    else if (!result.blockedBy?.some((blocker) => unmet.has(blocker))) reasons.push(`${need} ${result.status}: ${result.detail}`)
  }
  reasons.push(...(options.refusals?.(candidate) ?? []))
  const privileges = [...new Set([...unmet].flatMap((need) => capabilities.get(need)?.needsPrivilege ?? []))]
  return {reasons, privileges}
}

/** Picks the first candidate whose needs are all available, or the forced one; says why for each. */
export function route(tool: AnyTool, capabilities: CapabilityResult[], options: RouteOptions = {}): Route {
  const byName = new Map(capabilities.map((c) => [c.name, c]))
  const force = options.force
  const forced = new Set(forcedCandidates(tool, force).map((c) => c.id))
  const eligible = (c: {id: string}) => forced.has(c.id)
  let chosen: Candidate | undefined
  const candidates = tool.candidates.map((candidate): CandidateVerdict => {
    const {reasons, privileges} = verdict(candidate, byName, options)
    const usable = reasons.length === 0
    const isChosen = usable && !chosen && eligible(candidate)
    if (isChosen) chosen = candidate
    return {
      id: candidate.id,
      backend: candidate.backend,
      method: candidate.method,
      needs: candidate.needs,
      usable,
      chosen: isChosen,
      reasons,
      ...(privileges.length ? {needsPrivilege: privileges} : {}),
    }
  })
  if (chosen) {
    const passedOver = candidates.slice(0, tool.candidates.indexOf(chosen)).filter((c) => eligible(c) && !c.usable)
    const why = force !== undefined
      ? `forced with --backend ${force}`
      : passedOver.length === 0
        ? 'first choice'
        : `first usable; passed over ${passedOver.map((c) => c.id).join(', ')}`
    return {tool: tool.name, summary: tool.summary, chosen: {id: chosen.id, backend: chosen.backend, method: chosen.method}, why, candidates}
  }
  const hidden = candidates.some((c) => c.needsPrivilege)
  const why = `${force ? `no usable ${force} candidate` : 'no candidate is usable here'}${hidden ? ' by this user (some need root)' : ''}`
  return {tool: tool.name, summary: tool.summary, chosen: null, why, candidates}
}

/**
 * The error a tool raises when its route has no candidate, listing every reason. When some
 * candidate is out of reach only because of what this user may not do, that is the answer (exit 4),
 * with what to get: the kernel may well be able to.
 */
export function noRouteError(r: Route): NotSupportedError | PermissionError {
  const lines = r.candidates.map((c) => `  ${c.id}: ${c.usable ? 'usable, but not the backend asked for' : c.reasons.join('; ')}`)
  const privileges = [...new Set(r.candidates.flatMap((c) => c.needsPrivilege ?? []))]
  if (privileges.length > 0) {
    const uid = process.getuid?.()
    return new PermissionError(
      `${r.tool} needs what uid ${uid} lacks: ${privileges.join('; ')}. Run diag as root.\n${lines.join('\n')}`,
      {tool: r.tool, needsPrivilege: privileges, candidates: r.candidates},
    )
  }
  return new NotSupportedError(`${r.tool} cannot run on this host: ${r.why}\n${lines.join('\n')}`, {
    tool: r.tool,
    candidates: r.candidates,
  })
}
