#!/usr/bin/env node
// Writes what a shell user reads about diag, from the same command definitions `diag help` reads:
// a man page per command (dist/man/man1/diag-<command>.1, and diag.1), and the bash and zsh
// completion functions (dist/completion/diag.bash, dist/completion/_diag). Runs at the end of
// `npm run build:ts`; scripts/setup.sh installs the results.
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {Config} from '@oclif/core'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const config = await Config.load(root)
const bin = config.bin
const commands = config.commands.filter((c) => !c.hidden && c.pluginName === config.name).sort((a, b) => a.id.localeCompare(b.id))

/** The exit codes with their comments, as src/errors.ts defines them. */
function exitCodes() {
  const source = readFileSync(path.join(root, 'src', 'errors.ts'), 'utf8')
  const body = source.slice(source.indexOf('export const EXIT'), source.indexOf('} as const'))
  return [...body.matchAll(/^\s*(\w+): (\d+),(?: \/\/ (.*))?$/gm)].map(([, kind, code, comment]) => ({kind, code, comment: comment ?? kind}))
}

const template = (text) => text.replaceAll('<%= config.bin %>', bin)
/** Text for roff: backslashes escaped, no line starting with a control character. */
const roff = (text) =>
  template(text)
    .replaceAll('\\', '\\e')
    .replaceAll('-', '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n')

/** A description's paragraphs; lines starting with "- " become a bulleted list. */
function roffParagraphs(text) {
  const out = []
  for (const paragraph of template(text).split(/\n\s*\n/)) {
    const lines = paragraph.split('\n')
    const intro = lines.filter((l) => !l.startsWith('- ')).join(' ')
    if (intro) out.push('.PP', roff(intro))
    for (const item of lines.filter((l) => l.startsWith('- '))) out.push('.IP \\(bu 2', roff(item.slice(2)))
  }
  return out
}

function flagLines(flag) {
  const names = [flag.char && `\\fB\\-${flag.char}\\fR`, `\\fB\\-\\-${flag.name}\\fR`].filter(Boolean).join(', ')
  const value = flag.type === 'option' ? `=\\fI${roff(flag.helpValue ?? (flag.options ? flag.options.join('|') : 'VALUE'))}\\fR` : ''
  const text = [(flag.summary ?? flag.description ?? '').replace(/([^.])$/, '$1.')]
  if (flag.options) text.push(`One of: ${flag.options.join(', ')}.`)
  if (flag.default !== undefined && typeof flag.default !== 'function') text.push(`Default: ${flag.default}.`)
  return ['.TP', `${names}${value}`, roff(text.join(' '))]
}

function exampleLines(example) {
  const {description, command} = typeof example === 'string' ? {description: null, command: example} : example
  return [...(description ? ['.PP', roff(description)] : []), '.PP', '.RS 4', '.nf', roff(`$ ${command}`), '.fi', '.RE']
}

function exitLines() {
  return ['.SH EXIT STATUS', ...exitCodes().flatMap(({code, comment}) => ['.TP', `\\fB${code}\\fR`, roff(comment)])]
}

const header = (name, summary) => [
  `.TH ${name.toUpperCase().replaceAll('-', '\\-')} 1 "" "${bin} ${config.version}" "${bin} manual"`,
  '.SH NAME',
  `${roff(name)} \\- ${roff(summary)}`,
]

function commandPage(command) {
  const usage = command.usage ? [command.usage].flat()[0] : command.id
  const flags = Object.values(command.flags).filter((f) => !f.hidden)
  const others = commands.filter((c) => c.id !== command.id).map((c) => `\\fB${bin}\\-${c.id}\\fR(1)`)
  return [
    ...header(`${bin}-${command.id}`, command.summary ?? ''),
    '.SH SYNOPSIS',
    `\\fB${bin}\\fR ${roff(usage)}`,
    '.br',
    `\\fB${bin} help ${command.id}\\fR`,
    '.SH DESCRIPTION',
    ...roffParagraphs(command.description ?? command.summary ?? ''),
    ...(flags.length > 0 ? ['.SH OPTIONS', ...flags.flatMap(flagLines)] : []),
    ...(command.examples?.length ? ['.SH EXAMPLES', ...command.examples.flatMap(exampleLines)] : []),
    ...exitLines(),
    '.SH SEE ALSO',
    [`\\fB${bin}\\fR(1)`, ...others].join(', '),
    '',
  ].join('\n')
}

function mainPage() {
  return [
    ...header(bin, 'ask the running Linux kernel a tracing question, on the best backend it supports'),
    '.SH SYNOPSIS',
    `\\fB${bin}\\fR \\fICOMMAND\\fR [\\fIFLAGS\\fR]`,
    '.br',
    `\\fB${bin} help\\fR \\fICOMMAND\\fR`,
    '.br',
    `\\fB${bin} \\-\\-version\\fR`,
    '.SH DESCRIPTION',
    '.PP',
    roff(config.pjson.description),
    '.SH COMMANDS',
    ...commands.flatMap((c) => ['.TP', `\\fB${bin} ${c.id}\\fR`, `${roff(c.summary ?? '')}; see \\fB${bin}\\-${c.id}\\fR(1).`]),
    ...exitLines(),
    '.SH SEE ALSO',
    commands.map((c) => `\\fB${bin}\\-${c.id}\\fR(1)`).join(', '),
    '',
  ].join('\n')
}

/**
 * The completion functions, written by oclif's @oclif/plugin-autocomplete from the command
 * definitions. The plugin is loaded here only, not in diag itself: its `diag autocomplete` would set
 * up its own bash function, which completes commands and flag names but no flag values. zsh's
 * completes the values of flags with a fixed set (--backend); for bash, diag's function answers flag
 * values and `diag help COMMAND` itself, from the same definitions, and hands the rest to oclif's.
 */
async function completions() {
  // The plugin writes its functions into its cache directory: a scratch one.
  const cache = mkdtempSync(path.join(tmpdir(), 'diag-completion-'))
  const withPlugin = await Config.load({root, pluginAdditions: {core: ['@oclif/plugin-autocomplete']}})
  const Create = await withPlugin.findCommand('autocomplete:create', {must: true}).load()
  // Complete diag's commands (and help), not the plugin's own.
  const plugins = withPlugin.getPluginsList().filter((p) => p.name !== '@oclif/plugin-autocomplete')
  const config = Object.create(withPlugin, {getPluginsList: {value: () => plugins}, cacheDir: {value: cache}})
  let zsh, oclifBash
  try {
    await new Create([], config).run()
    const functions = path.join(cache, 'autocomplete', 'functions')
    zsh = readFileSync(path.join(functions, 'zsh', `_${bin}`), 'utf8')
    oclifBash = readFileSync(path.join(functions, 'bash', `${bin}.bash`), 'utf8').replace(/^complete -F .*$/m, '')
  } finally {
    rmSync(cache, {recursive: true, force: true})
  }
  const cases = commands.flatMap((c) =>
    Object.values(c.flags)
      .filter((f) => f.options && !f.hidden)
      .map((f) => `    "${c.id} --${f.name}"${f.char ? `|"${c.id} -${f.char}"` : ''}) values="${f.options.join(' ')}" ;;`),
  )
  const bash = `${oclifBash.trimEnd()}

# diag: values of flags with a fixed set (--backend, --by, --unit) and the command after \`help\`.
_${bin}_complete()
{
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" values=""
  # --flag=value: bash splits at '=' (COMP_WORDBREAKS), so the flag is two words back.
  if [[ "$prev" == "=" ]]; then prev="\${COMP_WORDS[COMP_CWORD-2]}"; elif [[ "$cur" == "=" ]]; then cur=""; fi
  if [[ "\${COMP_WORDS[1]}" == help && $COMP_CWORD -eq 2 ]]; then
    values="${commands.map((c) => c.id).join(' ')}"
  else
    case "\${COMP_WORDS[1]} $prev" in
${cases.join('\n')}
    esac
  fi
  if [[ -n "$values" ]]; then
    COMPREPLY=($(compgen -W "$values" -- "$cur"))
  else
    _${bin}_autocomplete
  fi
}

complete -F _${bin}_complete ${bin}
`
  return {bash, zsh}
}

const manDir = path.join(root, 'dist', 'man', 'man1')
mkdirSync(manDir, {recursive: true})
writeFileSync(path.join(manDir, `${bin}.1`), mainPage())
for (const command of commands) writeFileSync(path.join(manDir, `${bin}-${command.id}.1`), commandPage(command))
const completionDir = path.join(root, 'dist', 'completion')
mkdirSync(completionDir, {recursive: true})
const {bash, zsh} = await completions()
writeFileSync(path.join(completionDir, `${bin}.bash`), bash)
writeFileSync(path.join(completionDir, `_${bin}`), zsh)
console.log(`cli-docs: ${commands.length + 1} man pages in ${path.relative(root, manDir)}, bash and zsh completion in ${path.relative(root, completionDir)}`)
