#!/usr/bin/env node
// `foyer`: builds only when a source changed since the last build (a clone after `npm install`
// has no dist/ yet), as `npm start` does, then runs the command-line tool in this process.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// An installed package ships dist/ without the compiler; a clone builds.
if (existsSync(join(root, 'scripts', 'build.mjs')) && existsSync(join(root, 'node_modules', 'typescript'))) {
  const { build, isBuildCurrent } = await import(pathToFileURL(join(root, 'scripts', 'build.mjs')).href)
  if (!isBuildCurrent()) {
    // The compiler's output goes to stderr, so that a verb's stdout stays its own.
    const status = build({ stdio: ['ignore', 2, 2] })
    if (status !== 0) process.exit(status)
  }
}
process.setSourceMapsEnabled(true)
const { run, processIo } = await import(pathToFileURL(join(root, 'dist', 'src', 'cli', 'main.js')).href)
const code = await run(process.argv.slice(2), processIo())
if (code !== 'serving') process.exitCode = code
