import {NotSupportedError} from '../errors.js'
import type {HostFiles} from '../system/files.js'

export interface EventField {
  type: string
  offset: number
  size: number
  signed: boolean
}

export interface EventFormat {
  /** category/name, as under events/. */
  event: string
  id: number
  fields: Map<string, EventField>
  /** The print fmt line, after "print fmt: " (empty when the file has none). */
  print: string
}

/** Parses an event's `format` file: its id and where each field sits in the record. */
export function parseEventFormat(event: string, text: string): EventFormat {
  const id = Number(/^ID: (\d+)$/m.exec(text)?.[1])
  const fields = new Map<string, EventField>()
  for (const m of text.matchAll(/^\s*field:(.+?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d);/gm)) {
    // "unsigned long args[6]" -> name args; older kernels print an array's length as its source
    // wrote it: "__u8 saddr[sizeof(struct sockaddr_in6)]" -> saddr (its size says how long).
    const declaration = m[1].trim()
    const name = /(\w+)(\[[^\]]*\])?$/.exec(declaration)?.[1] ?? declaration
    fields.set(name, {type: declaration, offset: Number(m[2]), size: Number(m[3]), signed: m[4] === '1'})
  }
  return {event, id, fields, print: /^print fmt: (.*)$/m.exec(text)?.[1] ?? ''}
}

/**
 * The names the print fmt gives a field's values, from its `__print_symbolic(REC->field, { 3,
 * "NO_SOCKET" }, ...)`: the kernel's own table, as the running kernel defines it (the enum's names
 * replaced by their values when the kernel has the eval map). Empty when the field is not printed
 * symbolically, and pairs whose value is still a name are left out.
 */
export function symbolicValues(format: EventFormat, field: string): Map<number, string> {
  const names = new Map<number, string>()
  const start = format.print.indexOf(`__print_symbolic(REC->${field},`)
  if (start < 0) return names
  // The pairs run to the call's closing parenthesis; names are quoted and hold no braces.
  const body = format.print.slice(start)
  const end = body.search(/\}\s*\)/)
  for (const m of body.slice(0, end < 0 ? undefined : end + 1).matchAll(/\{\s*(-?(?:0x[0-9a-fA-F]+|\d+))\s*,\s*"([^"]*)"\s*\}/g))
    names.set(Number(m[1]), m[2])
  return names
}

export async function readEventFormat(files: HostFiles, tracefs: string, event: string): Promise<EventFormat> {
  let text: string
  try {
    text = await files.read(`${tracefs}/events/${event}/format`)
  } catch {
    throw new NotSupportedError(`this kernel has no ${event.replace('/', ':')} tracepoint`, {event})
  }
  return parseEventFormat(event, text)
}

/** A field's offset, checked to have the size the consumer reads. */
export function fieldOffset(format: EventFormat, name: string, sizes: number[]): number {
  const field = format.fields.get(name)
  if (!field) throw new NotSupportedError(`${format.event} has no field ${name}`, {event: format.event, field: name})
  if (!sizes.includes(field.size))
    throw new NotSupportedError(`${format.event} field ${name} is ${field.size} bytes, expected ${sizes.join(' or ')}`)
  return field.offset
}
