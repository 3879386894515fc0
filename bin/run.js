#!/usr/bin/env node
import {execute} from '@oclif/core'

// `--version` is the `version` command (diag, libbpf and build state), not oclif's one-line default.
const args = process.argv.slice(2)
await execute({dir: import.meta.url, args: args[0] === '--version' || args[0] === '-v' ? ['version', ...args.slice(1)] : args})
