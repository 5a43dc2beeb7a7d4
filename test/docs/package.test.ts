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

  it('installs nothing that asks for a newer Node.js than package.json promises', () => {
    const promised = semver.minVersion(pkg.engines?.node ?? '')
    assert.ok(promised, 'package.json names a minimum Node.js version')
    const lock = JSON.parse(readFileSync(join(packageRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; engines?: { node?: string } }> }
    const stricter = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && !p.dev && p.engines?.node && !semver.satisfies(promised, p.engines.node))
      .map(([path, p]) => `${path.replace(/^node_modules\//, '')} wants node ${p.engines!.node}`)
    assert.deepEqual(stricter, [], `package.json promises node ${pkg.engines?.node}`)
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
