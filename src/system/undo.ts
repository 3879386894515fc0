/**
 * Every change diag makes to the kernel is recorded here with the step that reverts it. Steps
 * run in reverse order, and a failing step does not stop the others: it is reported instead.
 */
export interface UndoFailure {
  description: string
  error: string
}

interface UndoStep {
  description: string
  revert: () => Promise<void> | void
}

export class UndoLog {
  private steps: UndoStep[] = []
  private running: UndoStep | undefined

  push(description: string, revert: () => Promise<void> | void): void {
    this.steps.push({description, revert})
  }

  get size(): number {
    return this.steps.length
  }

  /** What is still to revert, newest first, including a step being reverted right now. */
  pending(): string[] {
    const waiting = [...this.steps].reverse().map((s) => s.description)
    return this.running ? [this.running.description, ...waiting] : waiting
  }

  /** A point to unwind back to: what is recorded after it forms its own scope (one backend's start). */
  mark(): number {
    return this.steps.length
  }

  /** Reverts everything recorded so far, newest first; safe to call more than once. */
  unwind(): Promise<UndoFailure[]> {
    return this.unwindTo(0)
  }

  /** Reverts, newest first, only the steps recorded after `mark`; earlier ones stay. */
  async unwindTo(mark: number): Promise<UndoFailure[]> {
    const failures: UndoFailure[] = []
    while (this.steps.length > mark) {
      const step = this.steps.pop()!
      this.running = step
      try {
        await step.revert()
      } catch (error) {
        failures.push({description: step.description, error: error instanceof Error ? error.message : String(error)})
      } finally {
        this.running = undefined
      }
    }
    return failures
  }
}
