import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
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

  it('the @clerk/backend snippet runs as written against Foyer', async () => {
    const snippet = readmeSnippet()
    assert.match(snippet, /apiUrl: 'http:\/\/localhost:3000'/)
    // Only the port differs from the README: the test server listens on a free one.
    const runnable = snippet.replace("apiUrl: 'http://localhost:3000'", `apiUrl: '${url}'`)
    const dir = join(packageRoot, 'dist', 'readme-snippet')
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `snippet-${process.pid}.mjs`)
    writeFileSync(file, runnable)
    const previous = process.env.FOYER_SECRET_KEY
    process.env.FOYER_SECRET_KEY = secretKey
    const log = console.log
    console.log = () => {}
    try {
      await import(file)
    } finally {
      console.log = log
      if (previous === undefined) delete process.env.FOYER_SECRET_KEY
      else process.env.FOYER_SECRET_KEY = previous
    }
    const revoked = await client(t.app, secretKey).get('/v1/invitations?status=revoked&query=ada@example.com')
    assert.equal(revoked.body.length, 1)
    assert.deepEqual(revoked.body[0].public_metadata, { plan: 'pro' })
  })
})
