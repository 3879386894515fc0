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
