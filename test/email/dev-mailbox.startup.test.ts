import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { killAllFoyers, randomSecretKey, randomServerSecret, startFoyer } from '../helpers/child-server.js'

// @see issue 12
describe('the dev mailbox at start-up (the real process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'foyer-mailbox-start-'))
  after(() => {
    killAllFoyers()
    rmSync(dir, { recursive: true, force: true })
  })
  const env = { PORT: '0', FOYER_DATA_DIR: join(dir, 'data'), FOYER_SECRET_KEY: randomSecretKey(), FOYER_SECRET: randomServerSecret(), LOG_LEVEL: 'warn' }

  it('warns when the mailbox is served on every address (the default HOST), and keeps it from anyone signed out', async () => {
    const foyer = await startFoyer(env, { cwd: dir })
    try {
      assert.match(foyer.output(), /dev mailbox: +http:\/\/\S+\/dev\/mailbox +\(signed-in dashboard operators only\)/)
      assert.match(foyer.output(), /warning: .*dev mailbox, served on 0\.0\.0\.0: reachable from other machines.*HOST=127\.0\.0\.1/)
      const res = await fetch(`${foyer.baseUrl}/dev/mailbox`, { redirect: 'manual' })
      assert.equal(res.status, 303)
      assert.match(String(res.headers.get('location')), /^\/dashboard\/sign-in\?next=/)
      assert.doesNotMatch(await res.text(), /tickets\/accept/)
    } finally {
      await foyer.stop()
    }
  })

  it('does not warn on a loopback HOST, nor with SMTP_URL set (no mailbox at all)', async () => {
    const local = await startFoyer({ ...env, HOST: '127.0.0.1' }, { cwd: dir })
    try {
      assert.match(local.output(), /dev mailbox:/)
      assert.doesNotMatch(local.output(), /warning:/)
    } finally {
      await local.stop()
    }
    const smtp = await startFoyer({ ...env, SMTP_URL: 'smtp://127.0.0.1:9' }, { cwd: dir })
    try {
      assert.doesNotMatch(smtp.output(), /dev mailbox:|warning:/)
      assert.equal((await fetch(`${smtp.baseUrl}/dev/mailbox`, { redirect: 'manual' })).status, 404)
    } finally {
      await smtp.stop()
    }
  })
})
