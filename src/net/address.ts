/**
 * IP addresses as the TCP tools print them, from the bytes the kernel gives (network order):
 * IPv4 dotted, IPv6 in RFC 5952 form (lowercase, the longest run of zero groups as "::"), an
 * IPv4-mapped IPv6 address as "::ffff:a.b.c.d". One place, whichever backend read the bytes.
 */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.')
  if (bytes.length !== 16) throw new Error(`an IP address has 4 or 16 bytes, not ${bytes.length}`)
  const groups = Array.from({length: 8}, (_, i) => (bytes[2 * i] << 8) | bytes[2 * i + 1])
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${bytes.subarray(12).join('.')}`
  // The longest run of two or more zero groups, the first of equal ones.
  let best = {at: -1, length: 1}
  for (let i = 0; i < 8; ) {
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > best.length) best = {at: i, length: j - i}
    i = j > i ? j : i + 1
  }
  const hex = (list: number[]) => list.map((g) => g.toString(16)).join(':')
  if (best.at < 0) return hex(groups)
  return `${hex(groups.slice(0, best.at))}::${hex(groups.slice(best.at + best.length))}`
}

/**
 * The bytes of an address as the kernel prints it in trace text (%pI4, %pI6c, or %pISpc without its
 * port and brackets): 4 for IPv4, 16 for IPv6 (an embedded IPv4 tail, "::ffff:1.2.3.4", included).
 * Undefined for text that is not an address. With formatIp, any backend's address prints one way.
 */
export function parseIp(text: string): Uint8Array | undefined {
  const v4 = (part: string) => {
    const octets = part.split('.')
    if (octets.length !== 4 || !octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255)) return undefined
    return Uint8Array.from(octets.map(Number))
  }
  if (!text.includes(':')) return v4(text)
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const groups = (half: string): number[] | undefined => {
    if (half === '') return []
    const out: number[] = []
    const parts = half.split(':')
    for (const [i, part] of parts.entries()) {
      if (i === parts.length - 1 && part.includes('.')) {
        const tail = v4(part)
        if (!tail) return undefined
        out.push((tail[0] << 8) | tail[1], (tail[2] << 8) | tail[3])
      } else if (/^[\da-f]{1,4}$/i.test(part)) out.push(Number.parseInt(part, 16))
      else return undefined
    }
    return out
  }
  const head = groups(halves[0])
  const tail = halves.length === 2 ? groups(halves[1]) : []
  if (!head || !tail) return undefined
  const zeros = 8 - head.length - tail.length
  if (halves.length === 2 ? zeros < 1 : zeros !== 0) return undefined
  const all = [...head, ...Array<number>(halves.length === 2 ? zeros : 0).fill(0), ...tail]
  return Uint8Array.from(all.flatMap((g) => [g >> 8, g & 0xff]))
}
