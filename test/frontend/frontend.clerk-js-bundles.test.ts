import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { clerkJSScriptUrl } from '@clerk/shared/loadClerkJsScript'
import { buildTestApp, type TestApp } from '../helpers/build-app.js'
import { assertMatchesFapi, repoRoot } from '../helpers/spec.js'
import { loadClerkJsBundles, openBundleFile } from '../../src/frontend/clerk-js-bundles.js'

const V6 = join(repoRoot(), 'node_modules', '@clerk', 'clerk-js', 'dist')
const V5 = join(repoRoot(), 'node_modules', 'clerk-js-v5', 'dist')
const versionOf = (dist: string) => (JSON.parse(readFileSync(join(dist, '..', 'package.json'), 'utf8')) as { version: string }).version

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

/** A request whose path goes out byte for byte: fetch would resolve `..` and `%2e%2e` before sending. */
function rawGet(base: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

function assertNotFound(res: Answer, path: string) {
  assert.equal(res.status, 404, `${path}: ${res.body.toString('utf8').slice(0, 200)}`)
  const body = JSON.parse(res.body.toString('utf8'))
  assert.equal(body.errors[0].code, 'resource_not_found', path)
  assertMatchesFapi('ClerkErrors', body)
}

describe('GET /npm/@clerk/clerk-js@{version}/dist/{file} (the browser bundles, over HTTP)', () => {
  let t: TestApp
  let base: string
  const v6 = versionOf(V6)
  const v5 = versionOf(V5)
  before(async () => {
    t = await buildTestApp()
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
  })
  after(() => t.close())

  it('answers the pinned bundle with the bytes of the installed file, as JavaScript, immutable, readable from any origin', async () => {
    const res = await rawGet(base, `/npm/@clerk/clerk-js@${v6}/dist/clerk.browser.js`, { origin: 'https://app.example.org' })
    assert.equal(res.status, 200)
    assert.ok(res.body.equals(readFileSync(join(V6, 'clerk.browser.js'))), 'the same bytes as node_modules')
    assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8')
    assert.equal(Number(res.headers['content-length']), res.body.length)
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable')
    assert.equal(res.headers['access-control-allow-origin'], '*')
    assert.equal(res.headers['cross-origin-resource-policy'], 'cross-origin')
    const again = await rawGet(base, `/npm/@clerk/clerk-js@${v6}/dist/clerk.browser.js`, { 'if-none-match': String(res.headers.etag) })
    assert.equal(again.status, 304)
    assert.equal(again.body.length, 0)
    const head = await rawGet(base, `/npm/@clerk/clerk-js@${v6}/dist/clerk.browser.js`, {}, 'HEAD')
    assert.equal(head.status, 200)
    assert.equal(head.body.length, 0)
  })

  it('answers the chunks the bundle loads from its own folder, at its exact version', async () => {
    const bundle = readFileSync(join(V6, 'clerk.browser.js'), 'utf8')
    // webpack names chunks `<name>_clerk.browser_<hash6>_<version>.js` and rewrites the folder to the exact version.
    const hash = /\.h=\(\)=>"([0-9a-f]{6})/.exec(bundle)?.[1]
    assert.ok(hash && bundle.includes('"cookieSuffix"') && bundle.includes(`$1${v6}$3`), 'the bundle still names its chunks this way')
    const chunk = `cookieSuffix_clerk.browser_${hash}_${v6}.js`
    const res = await rawGet(base, `/npm/@clerk/clerk-js@${v6}/dist/${chunk}`)
    assert.equal(res.status, 200)
    assert.ok(res.body.equals(readFileSync(join(V6, chunk))))
  })

  it('serves the URL Clerk\'s loader builds from an instance\'s proxy URL, and the major, minor and latest names', async () => {
    const instanceId = 'ins_2abcDEF123'
    const url = new URL(clerkJSScriptUrl({ publishableKey: 'pk_live_Zm95ZXIudGVzdCQ=', proxyUrl: `https://foyer.test/fapi/${instanceId}` }))
    assert.equal(url.pathname, `/fapi/${instanceId}/npm/@clerk/clerk-js@6/dist/clerk.browser.js`)
    const installed = readFileSync(join(V6, 'clerk.browser.js'))
    for (const path of [url.pathname, '/npm/@clerk/clerk-js@6/dist/clerk.browser.js', `/npm/@clerk/clerk-js@${v6.split('.').slice(0, 2).join('.')}/dist/clerk.browser.js`, '/npm/@clerk/clerk-js@latest/dist/clerk.browser.js']) {
      const res = await rawGet(base, path)
      assert.equal(res.status, 200, path)
      assert.ok(res.body.equals(installed), path)
      assert.equal(res.headers['cache-control'], 'public, max-age=300', `${path}: a name that moves when Foyer upgrades`)
    }
    assertNotFound(await rawGet(base, '/fapi/not-an-instance/npm/@clerk/clerk-js@6/dist/clerk.browser.js'), 'a malformed instance id')
  })

  it('serves clerk-js 5 from its own package, by exact version and by major', async () => {
    for (const version of [v5, '5']) {
      const res = await rawGet(base, `/npm/@clerk/clerk-js@${version}/dist/clerk.browser.js`)
      assert.equal(res.status, 200, version)
      assert.ok(res.body.equals(readFileSync(join(V5, 'clerk.browser.js'))), version)
    }
  })

  it('answers 404 in Clerk\'s error shape for unknown versions, packages and files', async () => {
    for (const path of [
      '/npm/@clerk/clerk-js@6.39.0/dist/clerk.browser.js',
      '/npm/@clerk/clerk-js@4/dist/clerk.browser.js',
      '/npm/@clerk/clerk-js@canary/dist/clerk.browser.js',
      `/npm/@clerk/clerk-js@${v6}/dist/nothing.js`,
      `/npm/@clerk/clerk-js@${v6}/dist/clerk.browser.js.map`,
      '/npm/@clerk/ui@1.41.0/dist/ui.browser.js',
    ]) assertNotFound(await rawGet(base, path), path)
  })

  it('answers 404 to every way out of the dist folder', async () => {
    for (const path of [
      `/npm/@clerk/clerk-js@${v6}/dist/../package.json`,
      `/npm/@clerk/clerk-js@${v6}/dist/%2e%2e/package.json`,
      `/npm/@clerk/clerk-js@${v6}/dist/..%2fpackage.json`,
      `/npm/@clerk/clerk-js@${v6}/dist/%2e%2e%2fpackage.json`,
      `/npm/@clerk/clerk-js@${v6}/dist/..%5cpackage.json`,
      `/npm/@clerk/clerk-js@${v6}/dist/%2fetc%2fpasswd`,
      `/npm/@clerk/clerk-js@${v6}/dist//etc/passwd`,
      `/npm/@clerk/clerk-js@${v6}/dist/types/index.d.ts`,
      `/npm/@clerk/clerk-js@${v6}/dist/types%2findex.d.ts`,
      `/npm/@clerk/clerk-js@..%2f..%2fclerk-js-v5/dist/clerk.browser.js`,
      `/npm/@clerk/clerk-js@${v6}/dist/%252e%252e%252fpackage.json`,
      '/fapi/..%2f..%2f/npm/@clerk/clerk-js@6/dist/clerk.browser.js',
    ]) {
      const res = await rawGet(base, path)
      assert.equal(res.status, 404, `${path}: ${res.status} ${res.body.toString('utf8').slice(0, 120)}`)
    }
    // A NUL in any parameter is refused before routes see it.
    const nul = await rawGet(base, `/npm/@clerk/clerk-js@${v6}/dist/clerk.browser.js%00.txt`)
    assert.equal(nul.status, 422)
    assert.equal(JSON.parse(nul.body.toString('utf8')).errors[0].code, 'form_param_format_invalid')
  })
})

describe('loadClerkJsBundles (which files a dist folder offers)', () => {
  it('leaves out symbolic links, folders and other extensions, and refuses a file that became a link since', async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'foyer-bundles-'))
    t.after(() => rmSync(root, { recursive: true, force: true }))
    const pkg = join(root, 'node_modules', '@clerk', 'clerk-js')
    mkdirSync(join(pkg, 'dist', 'sub'), { recursive: true })
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@clerk/clerk-js', version: '6.1.2', main: 'dist/clerk.js' }))
    writeFileSync(join(pkg, 'dist', 'clerk.js'), '// main')
    writeFileSync(join(pkg, 'dist', 'secret.txt'), 'no')
    writeFileSync(join(pkg, 'dist', 'sub', 'inner.js'), '// inner')
    writeFileSync(join(root, 'outside.js'), '// outside')
    symlinkSync(join(root, 'outside.js'), join(pkg, 'dist', 'linked.js'))

    const bundles = loadClerkJsBundles(['@clerk/clerk-js'], pathToFileURL(join(root, 'here.js')).href)
    assert.deepEqual(bundles.versions, ['6.1.2'])
    assert.ok(bundles.find('6.1.2', 'clerk.js'))
    assert.equal(bundles.find('6', 'clerk.js')?.isExact, false)
    for (const name of ['linked.js', 'secret.txt', 'sub', 'sub/inner.js', '../package.json', 'sub%2finner.js']) assert.equal(bundles.find('6.1.2', name), null, name)

    const file = bundles.find('6.1.2', 'clerk.js')!
    unlinkSync(file.path)
    symlinkSync(join(root, 'outside.js'), file.path)
    assert.equal(await openBundleFile(file), null, 'a link put in place of a known file is not followed')
  })

  it('refuses a package that is no release of @clerk/clerk-js', (t) => {
    const root = mkdtempSync(join(tmpdir(), 'foyer-bundles-'))
    t.after(() => rmSync(root, { recursive: true, force: true }))
    const pkg = join(root, 'node_modules', 'clerk-js-v5')
    mkdirSync(join(pkg, 'dist'), { recursive: true })
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'something-else', version: '5.0.0', main: 'dist/clerk.js' }))
    writeFileSync(join(pkg, 'dist', 'clerk.js'), '')
    assert.throws(() => loadClerkJsBundles(['clerk-js-v5'], pathToFileURL(join(root, 'here.js')).href), /not a release of @clerk\/clerk-js/)
  })
})
