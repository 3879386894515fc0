import semver from 'semver'

export interface KernelVersion {
  /** The release string as the kernel reports it (`uname -r`). */
  release: string
  /** major.minor.patch in semver form, for comparisons with a capability's first kernel. */
  version: string
  /** What follows the numbers: distro build, flavour, rc tag. Distros backport, so it matters. */
  suffix: string
}

// Kernel releases are not semver: "4.19", "6.1.0-50-cloud-amd64", "5.14.0-362.el9.x86_64",
// "4.15.0-213-generic", "6.8.0-rc3+". Only the leading numbers say which mainline it grew from.
const RELEASE = /^(\d+)\.(\d+)(?:\.(\d+))?(.*)$/

export function parseKernelRelease(release: string): KernelVersion | undefined {
  const trimmed = release.trim()
  const match = RELEASE.exec(trimmed)
  if (!match) return undefined
  const [, major, minor, patch = '0', suffix] = match
  // Numbers are normalised through parseInt so that "4.09" cannot become an invalid semver.
  const version = [major, minor, patch].map((n) => Number.parseInt(n, 10)).join('.')
  return {release: trimmed, version, suffix}
}

/** True when the kernel is at least `minimum` (a "major.minor" or full semver string). */
export function kernelAtLeast(kernel: KernelVersion, minimum: string): boolean {
  const wanted = semver.coerce(minimum)
  if (!wanted) throw new Error(`not a kernel version: ${minimum}`)
  return semver.gte(kernel.version, wanted)
}
