import {type BootAnswers, type CachedOutcome, type ProbeCache, bootAnswers} from '../../src/probe/cache.js'

/**
 * The probe cache in memory, for probeHost (`cache`) and for what the runners keep after it:
 * saves as FileProbeCache does (never "unknown"; merged, or in place with `replace`), with none of
 * its key or ownership rules.
 */
export class MemoryCache implements ProbeCache {
  saved = new Map<string, CachedOutcome>()

  async load(): Promise<Map<string, CachedOutcome>> {
    return new Map(this.saved)
  }

  async save(outcomes: Map<string, CachedOutcome>, {replace = false}: {replace?: boolean} = {}): Promise<void> {
    if (replace) this.saved.clear()
    for (const [name, outcome] of outcomes) if (outcome.status !== 'unknown') this.saved.set(name, outcome)
  }

  /**
   * This boot's answers as a run's runners get them from probeHost (the real bootAnswers), for a
   * probe that probed nothing itself: what is saved, or nothing when probing anew (--no-cache).
   */
  answers(refresh = false): BootAnswers {
    return bootAnswers(this, refresh ? undefined : new Map(this.saved))
  }
}
