import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killAllFoyers, randomSecretKey, randomServerSecret, startFoyer } from '../helpers/child-server.js'

describe('SIGINT and SIGTERM', () => {
  const dir = mkdtempSync(join(tmpdir(), 'foyer-shutdown-'))
  after(() => {
    killAllFoyers()
    rmSync(dir, { recursive: true, force: true })
  })
  const env = { PORT: '0', FOYER_DATA_DIR: join(dir, 'data'), FOYER_SECRET_KEY: randomSecretKey(), FOYER_SECRET: randomServerSecret(), LOG_LEVEL: 'info' }
  const auth = { authorization: `Bearer ${env.FOYER_SECRET_KEY}`, 'content-type': 'application/json' }

  it('creates and migrates the embedded database on a first start, closes it and exits 0 on either signal, and the data opens again', async () => {
    const first = await startFoyer(env, { cwd: dir, emptyDataDir: true })
    const created = await fetch(`${first.baseUrl}/v1/invitations`, { method: 'POST', headers: auth, body: JSON.stringify({ email_address: 'kept@example.com', notify: false }) })
    assert.equal(created.status, 200)
    const { id } = await created.json() as { id: string }

    first.child.kill('SIGINT')
    assert.deepEqual(await first.exited, { code: 0, signal: null })
    assert.match(first.output(), /"signal":"SIGINT","msg":"shutting down"/)

    const second = await startFoyer(env, { cwd: dir })
    const list = await fetch(`${second.baseUrl}/v1/invitations?query=${id}`, { headers: auth })
    assert.deepEqual((await list.json() as { id: string }[]).map((i) => i.id), [id])
    // The pinned key still selects the same instance: no second default instance was made.
    const instanceLine = (output: string) => /instance: +(ins_\w+)/.exec(output)?.[1]
    assert.ok(instanceLine(first.output()))
    assert.equal(instanceLine(second.output()), instanceLine(first.output()))
    assert.deepEqual(await second.stop(), { code: 0, signal: null })
  })
})
