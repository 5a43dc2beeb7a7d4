import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'

forEachDatabase('dev mailbox (no SMTP_URL)', (engine) => {
  let t: TestApp
  const logged: { obj: Record<string, unknown>; msg: string }[] = []
  before(async () => {
    t = await buildTestApp({ engine })
    t.services.email.useLogger({ info: (obj, msg) => logged.push({ obj: obj as Record<string, unknown>, msg }) })
  })
  after(() => t.close())

  const hostile = '<script>alert(1)</script>'

  describe('GET /dev/mailbox', () => {
    it('lists a delivered email, newest first, with every stored string escaped', async () => {
      const { secretKey } = await t.newInstance(hostile)
      const api = client(t.app, secretKey)
      const first = (await api.post('/v1/invitations', { email_address: uniqueEmail('first') })).body
      await t.outboxWorker.drain()
      const inv = (await api.post('/v1/invitations', { email_address: uniqueEmail('second') })).body
      t.clock.advance(1000)
      await t.outboxWorker.drain()

      const res = await t.app.inject({ method: 'GET', url: '/dev/mailbox' })
      assert.equal(res.statusCode, 200)
      assert.match(String(res.headers['content-type']), /^text\/html/)
      assert.ok(!res.body.includes(hostile), 'no live script')
      assert.ok(res.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'))
      assert.ok(res.body.includes(inv.email_address))
      assert.ok(res.body.indexOf(inv.email_address) < res.body.indexOf(first.email_address), 'newest first')
    })

    it('shows one message: HTML in a sandboxed srcdoc iframe, the text part escaped, and logs the link', async () => {
      const { secretKey } = await t.newInstance(hostile)
      const api = client(t.app, secretKey)
      const inv = (await api.post('/v1/invitations', { email_address: uniqueEmail() })).body
      await t.outboxWorker.drain()
      const [item] = await t.db.query<{ id: string }>(`select id from outbox where subject_id = $1 and kind = 'email'`, [inv.id])
      const res = await t.app.inject({ method: 'GET', url: `/dev/mailbox/${item!.id}` })
      assert.equal(res.statusCode, 200)
      assert.ok(!res.body.includes(hostile))
      const iframe = /<iframe sandbox="([^"]*)"[^>]* srcdoc="([^"]*)"/.exec(res.body)
      assert.ok(iframe, 'HTML part in an iframe')
      assert.ok(!iframe[1]!.includes('allow-scripts') && !iframe[1]!.includes('allow-same-origin'))
      // The srcdoc attribute holds the email's HTML escaped once more: its escaped name is doubly so.
      assert.ok(iframe[2]!.includes('&amp;lt;script&amp;gt;'))
      assert.ok(iframe[2]!.includes(inv.url))
      const pre = /<pre>([\s\S]*)<\/pre>/.exec(res.body)![1]!
      assert.ok(pre.includes('&lt;script&gt;alert(1)&lt;/script&gt;'))
      assert.ok(pre.includes(inv.url))
      assert.ok(res.headers['content-security-policy'])
      assert.ok(logged.some((l) => l.obj.url === inv.url && l.obj.to === inv.email_address), 'the link is logged')
      assert.equal((await t.app.inject({ method: 'GET', url: '/dev/mailbox/msg_unknown' })).statusCode, 404)
    })

    it('keeps one message per email when an item is delivered twice', async () => {
      const { secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const inv = (await api.post('/v1/invitations', { email_address: uniqueEmail() })).body
      await t.outboxWorker.drain()
      // As if the worker's lease ran out after sending but before marking it delivered.
      await t.db.query(`update outbox set status = 'pending', next_attempt_at = 0 where subject_id = $1 and kind = 'email'`, [inv.id])
      await t.outboxWorker.drain()
      const rows = await t.db.query('select id from dev_mailbox_messages where subject_id = $1', [inv.id])
      assert.equal(rows.length, 1)
    })

    it('deleting an invitation takes its mailbox copies along', async () => {
      const { secretKey } = await t.newInstance()
      const api = client(t.app, secretKey)
      const inv = (await api.post('/v1/invitations', { email_address: uniqueEmail() })).body
      await t.outboxWorker.drain()
      assert.equal((await api.delete(`/v1/invitations/${inv.id}`)).status, 200)
      assert.equal((await t.db.query('select id from dev_mailbox_messages where subject_id = $1', [inv.id])).length, 0)
    })
  })
})

describe('GET /dev/mailbox with SMTP_URL set', () => {
  it('is not there (404)', async () => {
    const t = await buildTestApp({ env: { SMTP_URL: 'smtp://127.0.0.1:2525' } })
    try {
      assert.equal((await t.app.inject({ method: 'GET', url: '/dev/mailbox' })).statusCode, 404)
      assert.equal((await t.app.inject({ method: 'GET', url: '/dev/mailbox/msg_x' })).statusCode, 404)
    } finally {
      await t.close()
    }
  })
})
