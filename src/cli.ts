import {execute, settings} from '@oclif/core'

/**
 * diag's entry, run by bin/run.js from the esbuild bundle (scripts/bundle-js.mjs): the bundle's
 * own copy of oclif, so that the commands (bundled beside it) and oclif share one.
 */
export async function run(args: string[]): Promise<void> {
  // The commands are built JavaScript: oclif need not look for TypeScript sources to run instead
  // (it does under NODE_ENV=test or development, loading the TypeScript compiler to read tsconfig).
  settings.enableAutoTranspile = false
  // `--version` is the `version` command (diag, libbpf and build state), not oclif's one-line default.
  await execute({dir: import.meta.url, args: args[0] === '--version' || args[0] === '-v' ? ['version', ...args.slice(1)] : args})
}
