import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { DAY_MS } from '../../src/platform/clock.js'
import type { OutboxRow } from '../../src/platform/outbox/outbox.store.js'
import { startSmtpSink, type ReceivedMail, type SmtpSink } from './smtp-sink.js'

forEachDatabase('invitation emails over SMTP', (engine) => {
  let t: TestApp
  let sink: SmtpSink
  before(async () => {
    sink = await startSmtpSink()
    t = await buildTestApp({ engine, env: { SMTP_URL: `smtp://127.0.0.1:${sink.port}`, EMAIL_FROM: 'Foyer Test <invites@foyer.test>' } })
  })
  after(async () => {
    await t.close()
    await sink.stop()
  })

  const newApi = async (name = 'Acme Rockets') => withPut(t, (await t.newInstance(name)).secretKey)
  const invite = async (api: Client, body: Record<string, unknown> = {}) => {
    const res = await api.post('/v1/invitations', { email_address: uniqueEmail(), ...body })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body
  }
  const mailTo = (address: string): ReceivedMail[] => sink.messages.filter((m) => m.envelopeTo.includes(address))
  const emailItems = (invitationId: string) =>
    t.db.query<OutboxRow>(`select * from outbox where subject_id = $1 and kind = 'email' order by created_at, id`, [invitationId])

  describe('POST /v1/invitations', () => {
    it('sends the invitation to its address with the application name, the link and both parts', async () => {
      const api = await newApi()
      const inv = await invite(api)
      await t.outboxWorker.drain()
      const [received, ...more] = mailTo(inv.email_address)
      assert.ok(received, 'delivered')
      assert.equal(more.length, 0)
      const { mail } = received
      assert.deepEqual(mail.to && !Array.isArray(mail.to) ? mail.to.value.map((a) => a.address) : [], [inv.email_address])
      assert.equal(mail.from?.value[0]?.address, 'invites@foyer.test')
      assert.match(mail.subject ?? '', /Acme Rockets/)
      assert.ok(mail.text?.includes(inv.url), 'link in the text part')
      assert.ok(typeof mail.html === 'string' && mail.html.includes(`href="${inv.url.replaceAll('&', '&amp;')}"`), 'link in the HTML part')
      assert.ok(mail.html.includes('Acme Rockets'))
      assert.match(mail.text ?? '', /expires on \w+ \d+, \d{4}/)
      const [item] = await emailItems(inv.id)
      assert.equal(item!.status, 'delivered')
      assert.equal((item!.result as { message_id: string }).message_id, mail.messageId)
    })

    it('escapes a hostile application name in HTML and keeps it out of the headers', async () => {
      const api = await newApi()
      const patched = await api.patch('/v1/instance', { application_name: '<script>alert(1)</script>' })
      assert.equal(patched.status, 200, JSON.stringify(patched.body))
      const inv = await invite(api, { public_metadata: { note: '<img src=x onerror=alert(2)>' } })
      await t.outboxWorker.drain()
      const { mail } = mailTo(inv.email_address)[0]!
      const html = String(mail.html)
      assert.ok(!html.includes('<script>alert(1)</script>'), 'no live script in HTML')
      assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'shown escaped')
      assert.ok(mail.text?.includes('<script>alert(1)</script>'), 'plain text carries it as text')
      assert.equal(mail.subject, 'You are invited to join <script>alert(1)</script>')
    })

    it('strips CR/LF from a subject so that no header can be injected', async () => {
      const api = await newApi()
      const patched = await api.patch('/v1/instance', { application_name: 'Evil\r\nBcc: victim@evil.example' })
      assert.equal(patched.status, 200)
      const inv = await invite(api)
      await t.outboxWorker.drain()
      const [received] = mailTo(inv.email_address)
      assert.ok(received)
      assert.deepEqual(received.envelopeTo, [inv.email_address])
      assert.equal(received.mail.bcc, undefined)
      assert.ok(!received.mail.headers.has('bcc'))
      assert.ok(!(received.mail.subject ?? '').includes('\n'))
    })

    it('sends nothing with notify: false', async () => {
      const api = await newApi()
      const inv = await invite(api, { notify: false })
      await t.outboxWorker.drain()
      assert.equal(mailTo(inv.email_address).length, 0)
      assert.equal((await emailItems(inv.id)).length, 0)
    })

    it('uses the waitlist template for template_slug waitlist_invitation', async () => {
      const api = await newApi('Waitlisted App')
      const inv = await invite(api, { template_slug: 'waitlist_invitation' })
      await t.outboxWorker.drain()
      const { mail } = mailTo(inv.email_address)[0]!
      assert.equal(mail.subject, 'Your spot on Waitlisted App is ready')
      assert.match(mail.text ?? '', /off the waitlist/)
      assert.ok(mail.text?.includes(inv.url))
    })

    it('does not send the email of an invitation revoked before delivery', async () => {
      const api = await newApi()
      const inv = await invite(api)
      assert.equal((await api.post(`/v1/invitations/${inv.id}/revoke`)).status, 200)
      await t.outboxWorker.drain()
      assert.equal(mailTo(inv.email_address).length, 0)
      const history = await api.get(`/v1/invitations/${inv.id}/emails`)
      assert.equal(history.body.data[0].status, 'skipped')
      assert.equal(history.body.data[0].skipped_reason, 'invitation_revoked')
    })
  })

  describe('PUT /v1/email_templates/{slug}', () => {
    it('uses an instance\'s own template, escaped in HTML, and DELETE goes back to the built-in one', async () => {
      const api = await newApi('Templated <Co>')
      const put = await api.put('/v1/email_templates/invitation', {
        subject: 'Welcome aboard {{ app_name }}',
        html: '<p class="custom">Join {{ app_name }}: <a href="{{ url }}">here</a> before {{ expires_at }}</p>',
        text: 'Join {{ app_name }}: {{ url }}',
      })
      assert.equal(put.status, 200, JSON.stringify(put.body))
      assert.equal(put.body.customized, true)
      const inv = await invite(api)
      await t.outboxWorker.drain()
      const { mail } = mailTo(inv.email_address)[0]!
      assert.equal(mail.subject, 'Welcome aboard Templated <Co>')
      assert.ok(String(mail.html).includes('<p class="custom">Join Templated &lt;Co&gt;:'))
      assert.equal(mail.text?.trim(), `Join Templated <Co>: ${inv.url}`)

      const reset = await api.delete('/v1/email_templates/invitation')
      assert.equal(reset.status, 200)
      assert.equal(reset.body.customized, false)
      const second = await invite(api)
      await t.outboxWorker.drain()
      assert.equal(mailTo(second.email_address)[0]!.mail.subject, 'You are invited to join Templated <Co>')
    })

    it('refuses a template that does not parse or render, with 422 naming the part, and keeps the old one', async () => {
      const api = await newApi()
      assert.equal((await api.put('/v1/email_templates/invitation', { subject: 'Kept {{ app_name }}' })).status, 200)
      const unparsable = await api.put('/v1/email_templates/invitation', { subject: 'Fine', html: '<p>{% if %}</p>' })
      assert.equal(unparsable.status, 422)
      assert.equal(unparsable.body.errors[0].code, 'form_param_format_invalid')
      assert.equal(unparsable.body.errors[0].meta.param_name, 'html')
      const unknownVariable = await api.put('/v1/email_templates/invitation', { text: 'Hi {{ inviter_nmae }}' })
      assert.equal(unknownVariable.status, 422)
      assert.equal(unknownVariable.body.errors[0].meta.param_name, 'text')
      const empty = await api.put('/v1/email_templates/invitation', { subject: '  ' })
      assert.equal(empty.body.errors[0].meta.param_name, 'subject')
      const current = await api.get('/v1/email_templates/invitation')
      assert.equal(current.body.subject, 'Kept {{ app_name }}')
    })

    it('lists every template and answers 404 for an unknown slug', async () => {
      const api = await newApi()
      const list = await api.get('/v1/email_templates')
      assert.deepEqual(list.body.map((tpl: { slug: string }) => tpl.slug), ['invitation', 'waitlist_invitation', 'organization_invitation', 'invitation_reminder', 'organization_invitation_reminder', 'verification_code', 'affiliation_code'])
      assert.match(list.body[2].subject, /inviter_name/)
      assert.equal((await api.get('/v1/email_templates/nope')).status, 404)
      assert.equal((await api.put('/v1/email_templates/nope', { subject: 'x' })).status, 404)
    })
  })

  describe('POST /v1/invitations/{id}/resend', () => {
    it('emails a pending invitation again with the same link', async () => {
      const api = await newApi()
      const inv = await invite(api)
      await t.outboxWorker.drain()
      const res = await api.post(`/v1/invitations/${inv.id}/resend`)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.url, inv.url)
      assert.equal(res.body.expires_at, inv.expires_at)
      await t.outboxWorker.drain()
      const mails = mailTo(inv.email_address)
      assert.equal(mails.length, 2)
      assert.ok(mails.every((m) => m.mail.text?.includes(inv.url)))
      assert.notEqual(mails[0]!.mail.messageId, mails[1]!.mail.messageId)
    })

    it('re-issues an expired invitation: same id, new link and expiry, the old ticket no longer matches', async () => {
      const api = await newApi()
      const inv = await invite(api, { notify: false, expires_in_days: 1 })
      const oldTicket = new URL(inv.url).searchParams.get('ticket')!
      assert.equal((await api.post('/v1/testing/clock', { advance_ms: 2 * DAY_MS })).status, 200)
      const { now } = (await api.get('/v1/testing/clock')).body

      const res = await api.post(`/v1/invitations/${inv.id}/resend`, { expires_in_days: 7 })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal(res.body.id, inv.id)
      assert.equal(res.body.status, 'pending')
      assert.notEqual(res.body.url, inv.url)
      assert.equal(res.body.expires_at, now + 7 * DAY_MS)
      const [row] = await t.db.query<{ ticket_hash: string }>('select ticket_hash from invitations where id = $1', [inv.id])
      assert.notEqual(row!.ticket_hash, t.services.tickets.hash(oldTicket), 'old link dead')
      assert.equal(row!.ticket_hash, t.services.tickets.hash(new URL(res.body.url).searchParams.get('ticket')!))

      await t.outboxWorker.drain()
      const [received, ...more] = mailTo(inv.email_address)
      assert.equal(more.length, 0)
      assert.ok(received!.mail.text?.includes(res.body.url), 'the new link is sent')
      assert.ok(!received!.mail.text?.includes(oldTicket))
    })

    it('refuses revoked (and accepted) invitations with 400 and unknown ones with 404', async () => {
      const api = await newApi()
      const inv = await invite(api, { notify: false })
      await api.post(`/v1/invitations/${inv.id}/revoke`)
      const revoked = await api.post(`/v1/invitations/${inv.id}/resend`)
      assert.equal(revoked.status, 400)
      assert.equal(revoked.body.errors[0].code, 'invitation_not_pending')
      assert.match(revoked.body.errors[0].long_message, /revoked/)
      await t.db.query(`update invitations set status = 'accepted' where id = $1`, [(await invite(api, { notify: false })).id])
      const accepted = (await t.db.query<{ id: string }>(`select id from invitations where status = 'accepted' and instance_id = (select instance_id from invitations where id = $1)`, [inv.id]))[0]!
      const acceptedRes = await api.post(`/v1/invitations/${accepted.id}/resend`)
      assert.equal(acceptedRes.status, 400)
      assert.match(acceptedRes.body.errors[0].long_message, /accepted/)
      assert.equal((await api.post('/v1/invitations/inv_unknown/resend')).status, 404)
      assert.equal((await api.post(`/v1/invitations/${inv.id}/resend`, { expires_in_days: 0 })).status, 422)
    })
  })

  describe('GET /v1/invitations/{id}/emails', () => {
    it('lists the invitation\'s emails with status, attempts and the SMTP message id', async () => {
      const api = await newApi()
      const inv = await invite(api)
      let res = await api.get(`/v1/invitations/${inv.id}/emails`)
      assert.equal(res.status, 200)
      assert.equal(res.headers['content-type'], 'application/json')
      assert.equal(res.body.total_count, 1)
      assert.deepEqual(Object.keys(res.body.data[0]).sort(), [
        'attempts', 'created_at', 'id', 'invitation_id', 'last_error', 'next_attempt_at', 'object', 'sent_at',
        'skipped_reason', 'smtp_message_id', 'status', 'template_slug', 'to_email_address',
      ])
      assert.equal(res.body.data[0].status, 'queued')
      assert.equal(res.body.data[0].attempts, 0)
      await t.outboxWorker.drain()
      res = await api.get(`/v1/invitations/${inv.id}/emails`)
      const [email] = res.body.data
      assert.equal(email.object, 'email')
      assert.equal(email.invitation_id, inv.id)
      assert.equal(email.template_slug, 'invitation')
      assert.equal(email.to_email_address, inv.email_address)
      assert.equal(email.status, 'sent')
      assert.equal(email.attempts, 1)
      assert.equal(email.last_error, null)
      assert.equal(email.smtp_message_id, mailTo(inv.email_address)[0]!.mail.messageId)
      assert.equal(typeof email.sent_at, 'number')
      // Clerk's Invitation object is unchanged by all this.
      const listed = (await api.get(`/v1/invitations?query=${inv.id}`)).body[0]
      assert.deepEqual(Object.keys(listed).sort(), Object.keys(inv).sort())
      assert.equal((await api.get('/v1/invitations/inv_unknown/emails')).status, 404)
      const other = await newApi()
      assert.equal((await other.get(`/v1/invitations/${inv.id}/emails`)).status, 404, 'another instance cannot see it')
    })
  })
})

forEachDatabase('invitation emails while SMTP is down', (engine) => {
  it('keeps emails pending with the error while the server is down, and delivers them once it is back', async () => {
    const messages: ReceivedMail[] = []
    let sink = await startSmtpSink(0, messages)
    const port = sink.port
    const t = await buildTestApp({ engine, env: { SMTP_URL: `smtp://127.0.0.1:${port}` } })
    try {
      await sink.stop()
      const api = client(t.app, (await t.newInstance('Down App')).secretKey)
      const invs = [await makeOne(api), await makeOne(api), await makeOne(api)]
      await t.outboxWorker.drain()
      const rows = await t.db.query<OutboxRow>(`select * from outbox where kind = 'email' and subject_id = any($1::text[])`, [invs.map((i) => i.id)])
      assert.equal(rows.length, 3)
      for (const row of rows) {
        assert.equal(row.status, 'pending')
        assert.equal(row.attempts, 1)
        assert.ok(row.last_error, 'the error is kept')
      }
      const history = (await api.get(`/v1/invitations/${invs[0]!.id}/emails`)).body.data[0]
      assert.equal(history.status, 'queued')
      assert.ok(history.last_error)

      sink = await startSmtpSink(port, messages)
      assert.equal(await t.outboxWorker.drain(), 0, 'not due before the retry delay')
      // FOYER_TESTING shortens the first retry to a second (drawn from [0.5 s, 1 s] by jitter).
      t.clock.advance(1000)
      await t.outboxWorker.drain()
      for (const inv of invs) assert.equal(messages.filter((m) => m.envelopeTo.includes(inv.email_address)).length, 1)
      const after = await t.db.query<OutboxRow>(`select * from outbox where kind = 'email' and subject_id = any($1::text[])`, [invs.map((i) => i.id)])
      assert.ok(after.every((r) => r.status === 'delivered' && r.attempts === 2 && r.last_error === null))
    } finally {
      await t.close()
      await sink.stop()
    }
  })
})

/** The shared client has no PUT; template overrides need one. */
function withPut(t: TestApp, secretKey: string) {
  const api = client(t.app, secretKey)
  const put = async (url: string, body: unknown) => {
    const res = await t.app.inject({ method: 'PUT', url, headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) })
    return { status: res.statusCode, body: JSON.parse(res.body), headers: res.headers }
  }
  return { ...api, put }
}

async function makeOne(api: Client) {
  const res = await api.post('/v1/invitations', { email_address: uniqueEmail() })
  assert.equal(res.status, 200)
  return res.body
}
