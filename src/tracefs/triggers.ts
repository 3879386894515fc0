import type {HostFiles} from '../system/files.js'

/** The active triggers of an event's `trigger` file, as written (without "[active]" and such). */
export function activeTriggers(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.replace(/\s*\[(active|paused)\]\s*$/, '').trim())
}

/** Removes every trigger from every event under a tracing directory (an instance diag owns). */
export async function clearTriggers(files: HostFiles, tracing: string): Promise<void> {
  for (const category of await files.list(`${tracing}/events`).catch(() => [])) {
    for (const event of await files.list(`${tracing}/events/${category}`).catch(() => [])) {
      const file = `${tracing}/events/${category}/${event}/trigger`
      const text = await files.read(file).catch(() => '')
      // Histograms that feed others go last: remove in reverse order of definition.
      for (const trigger of activeTriggers(text).reverse()) await files.write(file, `!${trigger}`, 'append')
    }
  }
}
