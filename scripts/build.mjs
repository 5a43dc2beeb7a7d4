// `npm run build`: tsc, then a stamp that `npm start` compares with the sources, so that a
// restart with nothing changed skips the compiler (about 8 s on a small machine).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const stampPath = join(root, 'dist', '.build-stamp')
const INPUTS = ['src', 'test', 'bench', 'tsconfig.json', 'package.json', 'package-lock.json']

function newestChange(path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestChange(join(path, name))))
}

/** Whether dist/ came from a successful build of the sources as they are now. */
export function isBuildCurrent() {
  if (!existsSync(stampPath)) return false
  const inputs = INPUTS.map((p) => join(root, p)).filter(existsSync)
  return Math.max(...inputs.map(newestChange)) <= statSync(stampPath).mtimeMs
}

/**
 * Compiles; stamps only a successful build, so a failed one is tried again at the next start.
 * `stdio` lets the command-line tool keep the compiler's output off its stdout.
 */
export function build({ stdio = 'inherit' } = {}) {
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio })
  if (tsc.status !== 0) return tsc.status ?? 1
  mkdirSync(dirname(stampPath), { recursive: true })
  writeFileSync(stampPath, new Date().toISOString() + '\n')
  return 0
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exit(build())
