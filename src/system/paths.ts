import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** The directory holding diag's package.json, whether running from dist/ or from sources in tests. */
function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error('diag: cannot find its package.json')
    dir = parent
  }
  return dir
}

export const packageRoot = findPackageRoot()

/** A built BPF object, `bpf/<name>.bpf.o`. */
export function bpfObjectPath(name: string): string {
  return path.join(packageRoot, 'bpf', `${name}.bpf.o`)
}

/** diag's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {version: string}).version
}
