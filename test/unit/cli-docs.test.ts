import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

import {EXIT} from '../../src/errors.js'
import {TOOLS} from '../../tools/index.js'
import {diag} from '../helpers/cli.js'

// What `npm run build:ts` generates (scripts/cli-docs.mjs) and what `diag help` prints: no kernel.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const BASH_COMPLETION = path.join(ROOT, 'dist', 'completion', 'diag.bash')
const TOOL_NAMES = TOOLS.map((t) => t.name)

/** Runs the generated bash completion function as bash does on Tab, and returns what it offers. */
async function complete(words: string[]): Promise<string[]> {
  const quoted = words.map((w) => `'${w}'`).join(' ')
  const script = `source '${BASH_COMPLETION}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _diag_complete; printf '%s\\n' "\${COMPREPLY[@]}"`
  const {stdout} = await execa('bash', ['--norc', '--noprofile', '-c', script])
  return stdout.split('\n').filter(Boolean).sort()
}

/** What --backend accepts, in the order the candidates are listed. */
const backendChoices = (tool: string) => [...new Set(TOOLS.find((t) => t.name === tool)!.candidates.flatMap((c) => [c.backend, c.id]))]
const backendValues = (tool: string) => backendChoices(tool).sort()

describe('bash completion', () => {
  it('offers every backend name and candidate id after --backend, per tool', async () => {
    for (const tool of TOOL_NAMES) {
      expect(await complete(['diag', tool, '--backend', ''])).toEqual(backendValues(tool))
      expect(await complete(['diag', tool, '-b', ''])).toEqual(backendValues(tool))
    }
  })

  it('completes a started --backend value, also in the --backend=VALUE form', async () => {
    expect(await complete(['diag', 'syscount', '--backend', 'bpf-t'])).toEqual(['bpf-tp-btf', 'bpf-tracepoint'])
    expect(await complete(['diag', 'runqlat', '--backend', '=', 'ftrace-'])).toEqual(['ftrace-hist', 'ftrace-stream'])
  })

  it('offers the tool names as commands, and after help', async () => {
    const commands = await complete(['diag', ''])
    for (const tool of TOOL_NAMES) expect(commands).toContain(tool)
    expect(commands).toContain('capabilities')
    expect(await complete(['diag', 'help', 'fun'])).toEqual(['funccount', 'funclatency', 'funcprofile'])
  })

  it("offers a tool's flags", async () => {
    expect(await complete(['diag', 'biolatency', '--'])).toEqual(expect.arrayContaining(['--backend', '--disks', '--duration', '--unit', '--json']))
    expect(await complete(['diag', 'syscount', '--by', ''])).toEqual(['process', 'syscall', 'thread'])
  })

  it('zsh completion offers the backend values too', () => {
    const zsh = readFileSync(path.join(ROOT, 'dist', 'completion', '_diag'), 'utf8')
    for (const tool of TOOL_NAMES) expect(zsh).toContain(`backend options:(${backendChoices(tool).join(' ')})`)
  })
})

describe('help and man pages', () => {
  it('diag help TOOL and diag TOOL --help describe the tool, its origin, every backend and three examples', async () => {
    for (const tool of TOOL_NAMES) {
      const help = await diag(['help', tool])
      expect(help.exitCode).toBe(0)
      expect(help.stdout).toMatch(/Follows .*(bcc|perf-tools|ftrace)/s)
      for (const candidate of TOOLS.find((t) => t.name === tool)!.candidates) expect(help.stdout).toContain(`- ${candidate.id} (${candidate.backend})`)
      expect(help.stdout.slice(help.stdout.indexOf('EXAMPLES')).split('\n').filter((l) => l.trim().startsWith(`$ diag ${tool}`))).toHaveLength(3)
      expect((await diag([tool, '--help'])).stdout).toBe(help.stdout)
    }
  })

  it('a man page per command, with the same description, rendered by man without warnings', async () => {
    for (const tool of TOOL_NAMES) {
      const page = path.join(ROOT, 'dist', 'man', 'man1', `diag-${tool}.1`)
      const man = await execa('man', ['--warnings', '-l', page], {env: {MANWIDTH: '200', MAN_KEEP_FORMATTING: '0'}})
      expect(man.stderr).toBe('')
      const text = man.stdout.replace(/.\x08/g, '').replace(/\s+/g, ' ')
      expect(text).toContain(`diag-${tool} - `)
      for (const candidate of TOOLS.find((t) => t.name === tool)!.candidates) expect(text).toContain(`${candidate.id} (${candidate.backend})`)
      expect(text).toContain('EXIT STATUS')
    }
  })

  it('an unknown --backend is bad input that names the choices', async () => {
    const run = await diag(['syscount', '--backend', 'nope'])
    expect(run.exitCode).toBe(EXIT.badInput)
    expect(run.stderr).toMatch(/bpf-tp-btf/)
  })
})

describe('scripts/install.sh', () => {
  it('puts diag, its man pages and its completion under a prefix, working from any directory', async () => {
    const prefix = mkdtempSync(path.join(tmpdir(), 'diag-install-'))
    try {
      await execa(path.join(ROOT, 'scripts', 'install.sh'), [prefix])
      const env = {PATH: `${prefix}/bin:${process.env.PATH}`, MANPATH: `${prefix}/share/man`}
      const version = await execa('diag', ['--version'], {cwd: '/', env})
      expect(version.stdout).toMatch(/^diag \d/)
      const help = await execa('diag', ['help', 'syscount'], {cwd: '/', env})
      expect(help.stdout).toContain('bpf-tp-btf')
      const man = await execa('man', ['-w', 'diag-syscount'], {cwd: '/', env})
      expect(man.stdout).toBe(path.join(ROOT, 'dist', 'man', 'man1', 'diag-syscount.1'))
      expect(readFileSync(path.join(prefix, 'share', 'bash-completion', 'completions', 'diag'), 'utf8')).toContain('complete -F _diag_complete diag')
      expect(readFileSync(path.join(prefix, 'share', 'zsh', 'site-functions', '_diag'), 'utf8')).toMatch(/^#compdef diag/)
    } finally {
      rmSync(prefix, {recursive: true, force: true})
    }
  })
})
