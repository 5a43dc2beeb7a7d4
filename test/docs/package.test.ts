import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import semver from 'semver'
import { packageRoot } from '../../src/platform/paths.js'

interface PackageJson {
  license?: string
  engines?: { node?: string }
  bin?: Record<string, string> | string
  scripts: Record<string, string>
}
interface LockedPackage { dev?: boolean; engines?: { node?: string }; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }

/**
 * The clerk-js packages are installed only for their browser bundles, which Foyer serves as
 * files: neither they nor anything they depend on is ever loaded by Foyer's Node.js process.
 */
const SERVED_ONLY = new Set(['@clerk/clerk-js', 'clerk-js-v5'])

/** The lock's paths of the packages Foyer's own production dependencies need, resolved as Node.js resolves them. */
function runtimePackages(packages: Record<string, LockedPackage>, skip: ReadonlySet<string>): Set<string> {
  const root = packages['']! as LockedPackage
  const found = new Set<string>()
  const resolve = (from: string, name: string): string | null => {
    for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
      const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`
      if (packages[candidate]) return candidate
      if (!dir) return null
    }
  }
  const visit = (from: string, deps: Record<string, string> | undefined) => {
    for (const name of Object.keys(deps ?? {})) {
      const path = resolve(from, name)
      if (!path || found.has(path)) continue
      found.add(path)
      visit(path, { ...packages[path]!.dependencies, ...packages[path]!.optionalDependencies })
    }
  }
  visit('', Object.fromEntries(Object.entries(root.dependencies ?? {}).filter(([name]) => !skip.has(name))))
  return found
}

const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as PackageJson

// @see issue 12
describe('what a fresh clone gets', () => {
  it('has the MIT licence that package.json names', () => {
    assert.equal(pkg.license, 'MIT')
    const licence = readFileSync(join(packageRoot, 'LICENSE'), 'utf8')
    assert.match(licence, /^MIT License/)
    assert.match(licence, /Permission is hereby granted, free of charge/)
  })

  it('names no command whose file does not exist', () => {
    const bins = typeof pkg.bin === 'string' ? { [String(pkg.bin)]: pkg.bin } : pkg.bin ?? {}
    for (const [name, file] of Object.entries(bins)) {
      assert.ok(existsSync(join(packageRoot, file)), `bin ${name} points at ${file}, which does not exist`)
    }
  })

  it('installs nothing that Foyer runs and that asks for a newer Node.js than package.json promises', () => {
    const promised = semver.minVersion(pkg.engines?.node ?? '')
    assert.ok(promised, 'package.json promises a minimum Node.js version')
    const lock = JSON.parse(readFileSync(join(packageRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockedPackage> }
    const run = runtimePackages(lock.packages, SERVED_ONLY)
    assert.ok(run.has('node_modules/fastify') && !run.has('node_modules/@clerk/clerk-js'), 'the walk finds what Foyer runs')
    const stricter = [...run]
      .filter((path) => lock.packages[path]!.engines?.node && !semver.satisfies(promised, lock.packages[path]!.engines!.node!))
      .map((path) => `${path.replace(/^node_modules\//, '')} wants node ${lock.packages[path]!.engines!.node}`)
    assert.deepEqual(stricter, [], `package.json promises node ${pkg.engines?.node}`)
  })

  it('installs no peer dependency that no package needs (.npmrc legacy-peer-deps)', () => {
    const lock = JSON.parse(readFileSync(join(packageRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockedPackage> }
    // clerk-js 5's wallet adapters name React Native as a peer: installing peers would bring
    // its whole toolchain (metro and about 700 packages) into a server that never loads them.
    assert.equal(lock.packages['node_modules/react-native'], undefined)
    assert.match(readFileSync(join(packageRoot, '.npmrc'), 'utf8'), /^legacy-peer-deps=true$/m)
  })

  it('npm start compiles nothing when nothing changed since the last build', async () => {
    // The test command has just built; a start must go straight to the server, which refuses
    // PORT=abc at once, leaving dist/ as it was.
    const stamp = join(packageRoot, 'dist', '.build-stamp')
    const main = join(packageRoot, 'dist', 'src', 'main.js')
    assert.ok(existsSync(stamp), 'npm run build leaves a stamp in dist/')
    // Sources edited after the build would make the start below compile into dist/ while other
    // tests run from it: say so instead.
    const { isBuildCurrent } = await import(pathToFileURL(join(packageRoot, 'scripts', 'build.mjs')).href) as { isBuildCurrent(): boolean }
    assert.ok(isBuildCurrent(), 'a source changed after `npm run build`: build again before running this test')
    const before = [statSync(stamp).mtimeMs, statSync(main).mtimeMs]
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, PORT: 'abc', FOYER_DATA_DIR: mkdtempSync(join(tmpdir(), 'foyer-start-')) }
    const [command, ...args] = pkg.scripts.start!.split(' ')
    assert.equal(command, 'node', 'npm start runs node directly, with no compile step in front')
    const result = spawnSync(process.execPath, args, { cwd: packageRoot, env, encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' })
    assert.notEqual(result.status, 0)
    assert.match(result.stderr, /\bPORT\b/)
    assert.deepEqual([statSync(stamp).mtimeMs, statSync(main).mtimeMs], before, 'dist/ was rebuilt')
  })
})
