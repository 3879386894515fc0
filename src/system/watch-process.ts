import {isRunning} from '../tracefs/names.js'

/**
 * Resolves once `pid` has exited (or is a zombie), for `--pid` runs that end with their process.
 * Node has no pidfd, and a process diag did not start sends it no exit: /proc is polled, every
 * `everyMs`. Polling stops, unresolved, when `signal` aborts; it never keeps Node running.
 */
export function processExit(pid: number, signal: AbortSignal, everyMs = 100): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return
    const timer = setInterval(() => {
      if (isRunning(pid)) return
      clearInterval(timer)
      resolve()
    }, everyMs)
    timer.unref()
    signal.addEventListener('abort', () => clearInterval(timer), {once: true})
  })
}
