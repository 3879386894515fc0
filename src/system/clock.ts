/** Time, behind an interface so that interval logic can be tested without waiting. */
export interface Clock {
  now(): number
  /** Resolves after ms, or early (without error) when the signal aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) return resolve()
      // "Forever" still needs a live timer: signal handlers alone do not keep Node running, and
      // setTimeout would turn Infinity into 1 ms. So: a long repeating timer that does nothing.
      const timer = Number.isFinite(ms) ? setTimeout(done, Math.max(0, ms)) : setInterval(() => {}, 2 ** 30)
      function done() {
        clearTimeout(timer)
        clearInterval(timer)
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done, {once: true})
    }),
}

/**
 * The wall-clock time (ISO) of a timestamp taken on the monotonic clock: a trace instance's "mono"
 * clock, bpf_ktime_get_ns() (in seconds).
 */
export function wallTime(monotonicSeconds: number, nowMs = Date.now(), monotonicNowMs = Number(process.hrtime.bigint()) / 1e6): string {
  return new Date(nowMs - (monotonicNowMs - monotonicSeconds * 1000)).toISOString()
}
