// Text of the block tracepoints, as their print formats have it:
//   block_rq_issue:    "254,0 W 4096 () 29947720 + 8 [dd]"  (6.x adds an ioprio field after "+ 8")
//   block_rq_complete: "254,0 W () 29947720 + 8 [0]"
// Only the device and the first sector are read: they join an issue to its completion.
const REQUEST = /^(\d+),(\d+) \S* (?:\d+ )?\(.*?\) (\d+) \+ \d+/

export interface BlockRequest {
  major: number
  minor: number
  sector: string
}

export function parseBlockRequest(body: string): BlockRequest | undefined {
  const m = REQUEST.exec(body)
  return m ? {major: Number(m[1]), minor: Number(m[2]), sector: m[3]} : undefined
}
