// The suite's files for `npm test`, longest kinds first. Two files run at a time, each started
// when one ends: a long file started near the end runs on alone while the other core idles, so
// the browser, process and crash files go first and the many short ones fill in behind them.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

const LONG_FIRST = [
  /\/browser\//,
  /\.browser\.test\.js$/,
  /\/durability\//,
  /\/cli\//,
  /several-processes|processes\.test\.js$/,
  /\/dashboard\//,
  /\/contract\//,
]

const files = readdirSync('dist/test', { recursive: true })
  .map((f) => join('dist/test', String(f)))
  .filter((f) => f.endsWith('.test.js'))
  .sort()
const rank = (f) => {
  const i = LONG_FIRST.findIndex((re) => re.test(f))
  return i === -1 ? LONG_FIRST.length : i
}
process.stdout.write(files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).join('\n') + '\n')
