/**
 * The publishable key the real Foyer process prints at start, as Clerk's SDKs read it: parsed
 * by @clerk/shared, and taken by an Express application on @clerk/express, which refuses a key
 * whose host has no dot with a 500 on its first request.
 */
import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parsePublishableKey } from '@clerk/shared/keys'
import { api, killAllFoyers, randomSecretKey, randomServerSecret, startFoyer, type FoyerProcess } from '../helpers/child-server.js'
import { createPostgresDatabase, forEachDatabase } from '../helpers/databases.js'
import { SIGNED_OUT, startClerkApp, whoAmI } from '../helpers/clerk-app.js'

function printedKey(foyer: FoyerProcess): string {
  const key = /publishable key: +(\S+)/.exec(foyer.output())?.[1]
  assert.ok(key, `no publishable key printed:\n${foyer.output()}`)
  return key
}

forEachDatabase('the publishable key printed at start, in Clerk\'s SDKs', (engine) => {
  const dir = mkdtempSync(join(tmpdir(), 'foyer-pk-'))
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(dir, { recursive: true, force: true })]
  const secretKey = randomSecretKey()
  const env: Record<string, string> = {
    PORT: '0', HOST: '127.0.0.1', FOYER_DATA_DIR: join(dir, 'data'), FOYER_SECRET_KEY: secretKey, FOYER_SECRET: randomServerSecret(), LOG_LEVEL: 'warn',
  }
  before(async () => {
    if (engine !== 'postgres') return
    const created = await createPostgresDatabase()
    cleanups.push(created.drop)
    env.DATABASE_URL = created.url
  })
  after(async () => {
    killAllFoyers()
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  // @see issue 13
  it('without FOYER_PUBLIC_URL, names 127.0.0.1 and the port: @clerk/shared parses it, and the Express app answers a request without cookies as signed out', async () => {
    const foyer = await startFoyer(env, { cwd: dir })
    try {
      const publishableKey = printedKey(foyer)
      assert.deepEqual(parsePublishableKey(publishableKey), { instanceType: 'development', frontendApi: `127.0.0.1:${foyer.port}` })
      assert.equal((await api<{ publishable_key: string }>(foyer, secretKey, 'GET', '/v1/instance')).publishable_key, publishableKey)

      // The default public URL, as the invitation links carry it.
      const proxyUrl = `http://localhost:${foyer.port}`
      const app = await startClerkApp({ secretKey, publishableKey, apiUrl: foyer.baseUrl, proxyUrl })
      try {
        assert.deepEqual(await whoAmI(app), SIGNED_OUT)
        // A browser's first page view on a development key goes to the handshake, which the SDK
        // addresses to the proxy URL: the key alone would send it to https://127.0.0.1:<port>.
        const res = await fetch(`${app.url}/welcome`, { redirect: 'manual', headers: { 'sec-fetch-dest': 'document', accept: 'text/html' } })
        assert.equal(res.status, 307, await res.text())
        const location = new URL(res.headers.get('location')!)
        assert.equal(`${location.origin}${location.pathname}`, `${proxyUrl}/v1/client/handshake`)
        assert.equal(location.searchParams.get('redirect_url'), `${app.url}/welcome`)
      } finally {
        await app.stop()
      }
    } finally {
      await foyer.stop()
    }
  })

  // @see issue 13
  it('with FOYER_PUBLIC_URL=https://auth.example.com, is pk_test_ and base64 of "auth.example.com$", which the Express app takes', async () => {
    const foyer = await startFoyer({ ...env, FOYER_PUBLIC_URL: 'https://auth.example.com' }, { cwd: dir })
    try {
      const publishableKey = printedKey(foyer)
      assert.equal(publishableKey, `pk_test_${Buffer.from('auth.example.com$').toString('base64')}`)
      assert.deepEqual(parsePublishableKey(publishableKey), { instanceType: 'development', frontendApi: 'auth.example.com' })
      const app = await startClerkApp({ secretKey, publishableKey, apiUrl: foyer.baseUrl, proxyUrl: foyer.baseUrl })
      try {
        assert.deepEqual(await whoAmI(app), SIGNED_OUT)
      } finally {
        await app.stop()
      }
    } finally {
      await foyer.stop()
    }
  })
})
