// Placeholder until the first backend lands; replaced by the runner contract.
export type Runner = unknown
