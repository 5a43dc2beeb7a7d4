import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { packageRoot } from '../../src/platform/paths.js'
import { buildTestApp, client, type TestApp } from '../helpers/build-app.js'

/** The first ```ts block under the README's `@clerk/backend` heading, as written. */
function readmeSnippet(): string {
  const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Using it from `@clerk/backend`'))
  const match = /```ts\n([\s\S]*?)```/.exec(section)
  assert.ok(match?.[1], 'README has a ts snippet under "Using it from @clerk/backend"')
  return match[1]
}

describe('README', () => {
  let t: TestApp
  let secretKey: string
  let url: string
  before(async () => {
    t = await buildTestApp()
    secretKey = (await t.newInstance()).secretKey
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    const address = t.app.server.address()
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  })
  after(() => t.close())

  // @see issue 12
  it('the @clerk/backend snippet runs as the README says to run it, against Foyer', async () => {
    const snippet = readmeSnippet()
    const readme = readFileSync(join(packageRoot, 'README.md'), 'utf8')
    const section = readme.slice(readme.indexOf('## Using it from `@clerk/backend`'))
    assert.match(section, /npm install @clerk\/backend/)
    assert.match(section, /FOYER_SECRET_KEY=sk_test_… node invite\.mjs/)
    assert.match(snippet, /apiUrl: 'http:\/\/localhost:3000'/)
    // Only the port differs from the README: the test server listens on a free one.
    const runnable = snippet.replace("apiUrl: 'http://localhost:3000'", `apiUrl: '${url}'`)
    // Inside the repository, so that @clerk/backend resolves as it would after the README's install.
    const dir = join(packageRoot, 'dist', 'readme-snippet', String(process.pid))
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'invite.mjs'), runnable)
    // Not spawnSync: the Foyer it talks to runs in this process and must keep answering.
    const run = await promisify(execFile)(process.execPath, ['invite.mjs'], {
      cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, FOYER_SECRET_KEY: secretKey }, timeout: 60_000, killSignal: 'SIGKILL',
    })
    assert.match(run.stdout, /^pending http:\/\/foyer\.test\/v1\/tickets\/accept\?ticket=/m)
    const revoked = await client(t.app, secretKey).get('/v1/invitations?status=revoked&query=ada@example.com')
    assert.equal(revoked.body.length, 1)
    assert.deepEqual(revoked.body[0].public_metadata, { plan: 'pro' })
  })
})
