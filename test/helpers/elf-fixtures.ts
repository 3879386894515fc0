import {copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'

/**
 * ELF files built for a test: a program with a function only its symbol table names (static, so
 * not in .dynsym), stripped, with its separate debug file, as distributions ship them.
 */
export const FIXTURE_SOURCE = `
#include <stdlib.h>
__attribute__((noinline)) static unsigned long only_in_symtab(long n) {
  unsigned long x = 1;
  for (long i = 0; i < n; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
  __asm__ volatile("" : "+r"(x));
  return x;
}
int main(int argc, char **argv) { return (int)only_in_symtab(argc > 1 ? atol(argv[1]) : 1000) & 1; }
`

export interface StrippedFixture {
  dir: string
  /** Built with its symbols. */
  full: string
  /** `strip --strip-all` with a .gnu_debuglink to debug. */
  stripped: string
  /** `objcopy --only-keep-debug` of full (basename `prog.debug`). */
  debug: string
  /** Hex, or undefined when built with --build-id=none. */
  buildId?: string
  /** only_in_symtab's address in the file's layout (nm). */
  address: number
  remove(): void
}

/** Builds the fixture in a new directory under `parent` (tmpdir by default). */
export async function buildStrippedFixture(options: {buildId: string | 'none'; parent?: string; source?: string; cflags?: string[]}): Promise<StrippedFixture> {
  const dir = mkdtempSync(path.join(options.parent ?? tmpdir(), 'diag-elf-'))
  const run = (file: string, args: string[]) => execa(file, args, {cwd: dir})
  writeFileSync(path.join(dir, 'prog.c'), options.source ?? FIXTURE_SOURCE)
  await run('gcc', ['-O1', '-fno-omit-frame-pointer', ...(options.cflags ?? []), `-Wl,--build-id=${options.buildId}`, '-o', 'prog', 'prog.c'])
  await run('objcopy', ['--only-keep-debug', 'prog', 'prog.debug'])
  await run('strip', ['--strip-all', '-o', 'prog.stripped', 'prog'])
  await run('objcopy', ['--add-gnu-debuglink=prog.debug', 'prog.stripped'])
  const nm = (await run('nm', ['prog'])).stdout
  const address = parseInt(/^([0-9a-f]+) t only_in_symtab$/m.exec(nm)![1], 16)
  const notes = options.buildId === 'none' ? '' : (await run('readelf', ['-n', 'prog'])).stdout
  const buildId = /Build ID: ([0-9a-f]+)/.exec(notes)?.[1]
  return {
    dir,
    full: path.join(dir, 'prog'),
    stripped: path.join(dir, 'prog.stripped'),
    debug: path.join(dir, 'prog.debug'),
    ...(buildId ? {buildId} : {}),
    address,
    remove: () => rmSync(dir, {recursive: true, force: true}),
  }
}

/** Copies `file` to `to`, making its directories. */
export function place(file: string, to: string): void {
  mkdirSync(path.dirname(to), {recursive: true})
  copyFileSync(file, to)
}

/**
 * The /proc/PID/maps lines of `file` loaded at `base` (a PIE), as the kernel maps its executable
 * segments: page-aligned, from their page-aligned file offsets.
 */
export async function executableMaps(file: string, base: number, inode: number): Promise<string> {
  const headers = (await execa('readelf', ['-lW', file])).stdout
  const lines: string[] = []
  for (const m of headers.matchAll(/^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+R E/gm)) {
    const [offset, vaddr, filesz] = [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)]
    const start = base + vaddr - (vaddr % 4096)
    const end = base + Math.ceil((vaddr + filesz) / 4096) * 4096
    lines.push(`${start.toString(16)}-${end.toString(16)} r-xp ${(offset - (offset % 4096)).toString(16).padStart(8, '0')} fe:01 ${inode} ${file}`)
  }
  return lines.join('\n')
}
