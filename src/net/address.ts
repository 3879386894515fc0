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

/** Address families as Linux numbers them (sa_family, and the tracepoints' family fields). */
export const AF_INET = 2
export const AF_INET6 = 10

/**
 * The address and port of a struct sockaddr_in or sockaddr_in6 as the kernel stores one in a
 * tracepoint's byte array (tcp_probe's saddr and daddr): the family in the kernel's byte order
 * (little-endian: diag reads records only there), the port in network order, then the address.
 * Undefined for another family (the kernel leaves the array zeroed for one).
 */
export function sockaddrAddress(bytes: Uint8Array): {address: Uint8Array; port: number} | undefined {
  if (bytes.length < 8) return undefined
  const family = bytes[0] | (bytes[1] << 8)
  const port = (bytes[2] << 8) | bytes[3]
  if (family === AF_INET) return {address: bytes.slice(4, 8), port}
  if (family === AF_INET6 && bytes.length >= 24) return {address: bytes.slice(8, 24), port}
  return undefined
}
