#!/usr/bin/env node
// The bundle (npm run build:ts makes it): a few files to load instead of oclif's hundreds of modules.
import {run} from '../dist/bundle/cli.js'

await run(process.argv.slice(2))
