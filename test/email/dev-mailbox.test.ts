import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { LightMyRequestResponse } from 'fastify'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { dashboardApp, formFields, OPERATOR_EMAIL, OPERATOR_PASSWORD } from '../dashboard/dashboard-client.js'
import { browser, type Browser } from '../pages/page-client.js'

forEachDatabase('dev mailbox (no SMTP_URL)', (engine) => {
  let t: TestApp
  /** Signed in to the dashboard as its operator. */
  let op: Browser
  const logged: { obj: Record<string, unknown>; msg: string }[] = []
  before(async () => {
    ;({ t, op } = await dashboardApp(engine))
    t.services.email.useLogger({ info: (obj, msg) => logged.push({ obj: obj as Record<string, unknown>, msg }) })
  })
  after(() => t.close())

  /** The headers every hosted and dashboard page sends, on pages and redirects alike. */
  const assertPageHeaders = (res: LightMyRequestResponse) => {
    assert.match(String(res.headers['content-security-policy']), /default-src 'none'.*frame-ancestors 'none'/)
    assert.ok(!/script-src/.test(String(res.headers['content-security-policy'])), 'no script')
    assert.equal(res.headers['x-frame-options'], 'DENY')
    assert.equal(res.headers['referrer-policy'], 'no-referrer')
    assert.equal(res.headers['cache-control'], 'no-store')
    assert.equal(res.headers['x-content-type-options'], 'nosniff')
  }

  /** An invitation delivered to the mailbox, with its outbox item's id (the message's id). */
  async function delivered() {
    const { secretKey } = await t.newInstance()
    const inv = (await client(t.app, secretKey).post('/v1/invitations', { email_address: uniqueEmail() })).body
    await t.outboxWorker.drain()
    const [item] = await t.db.query<{ id: string }>(`select id from outbox where subject_id = $1 and kind = 'email'`, [inv.id])
    return { inv, messageId: item!.id, secretKey }
  }

  describe('who may read it', () => {
    // @see issue 12
    it('sends someone signed out to the dashboard sign-in (303), which leads back; no message content', async () => {
      const { inv, messageId } = await delivered()
      const ticket = new URL(inv.url).searchParams.get('ticket')!
      for (const url of ['/dev/mailbox', `/dev/mailbox/${messageId}`, '/dev/mailbox/msg_unknown']) {
        const res = await t.app.inject({ method: 'GET', url })
        assert.equal(res.statusCode, 303, url)
        assert.equal(res.headers.location, `/dashboard/sign-in?next=${encodeURIComponent(url)}`)
        assert.ok(!res.body.includes(inv.email_address) && !res.body.includes(ticket), 'no message content')
        assertPageHeaders(res)
      }
      // Signing in from there comes back to the message.
      const someone = browser(t.app)
      const signIn = await someone.follow(await someone.get(`/dev/mailbox/${messageId}`))
      assert.equal(signIn.statusCode, 200)
      const done = await someone.post('/dashboard/sign-in', { ...formFields(signIn.body, '/dashboard/sign-in'), email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD })
      assert.equal(done.headers.location, `/dev/mailbox/${messageId}`)
      const message = await someone.follow(done)
      assert.equal(message.statusCode, 200)
      assert.ok(message.body.includes(inv.url))
    })

    // @see issue 12
    it('does not open to a secret key, nor to a cookie that is no operator session', async () => {
      const { inv, secretKey } = await delivered()
      const withKey = await t.app.inject({ method: 'GET', url: '/dev/mailbox', headers: { authorization: `Bearer ${secretKey}` } })
      assert.equal(withKey.statusCode, 303)
      assert.ok(!withKey.body.includes(inv.email_address))
      const forged = await t.app.inject({ method: 'GET', url: '/dev/mailbox', headers: { cookie: '__foyer_operator=not-a-session; __foyer_session=not-a-session' } })
      assert.equal(forged.statusCode, 303)
    })

    // @see issue 12
    it('lets a signed-in operator read it, with the headers of every other page', async () => {
      const { inv, messageId } = await delivered()
      const list = await op.get('/dev/mailbox')
      assert.equal(list.statusCode, 200)
      assert.ok(list.body.includes(inv.email_address))
      assertPageHeaders(list)
      const message = await op.get(`/dev/mailbox/${messageId}`)
      assert.equal(message.statusCode, 200)
      assert.ok(message.body.includes(inv.url))
      assertPageHeaders(message)
    })

    // @see issue 12
    it('logs where to read a message, never its working link', async () => {
      const { inv } = await delivered()
      const ticket = new URL(inv.url).searchParams.get('ticket')!
      const line = logged.find((l) => l.obj.to === inv.email_address)
      assert.ok(line, 'the email is logged')
      assert.ok(!JSON.stringify(logged).includes(ticket), 'no ticket in the logs')
      assert.match(String(line.obj.url), /\/v1\/tickets\/accept\?ticket=\[redacted\]$/)
      assert.match(String(line.obj.mailbox), /\/dev\/mailbox\/\w+$/)
    })
  })

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

      const res = await op.get('/dev/mailbox')
      assert.equal(res.statusCode, 200)
      assert.match(String(res.headers['content-type']), /^text\/html/)
      assert.ok(!res.body.includes(hostile), 'no live script')
      assert.ok(res.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'))
      assert.ok(res.body.includes(inv.email_address))
      assert.ok(res.body.indexOf(inv.email_address) < res.body.indexOf(first.email_address), 'newest first')
    })

    it('shows one message: HTML in a sandboxed srcdoc iframe, the text part escaped', async () => {
      const { secretKey } = await t.newInstance(hostile)
      const api = client(t.app, secretKey)
      const inv = (await api.post('/v1/invitations', { email_address: uniqueEmail() })).body
      await t.outboxWorker.drain()
      const [item] = await t.db.query<{ id: string }>(`select id from outbox where subject_id = $1 and kind = 'email'`, [inv.id])
      const res = await op.get(`/dev/mailbox/${item!.id}`)
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
      assert.equal((await op.get('/dev/mailbox/msg_unknown')).statusCode, 404)
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
