import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { DAY_MS } from '../../src/platform/clock.js'
import type { OutboxRow } from '../../src/platform/outbox/outbox.store.js'
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../email/smtp-sink.js'
import { invite, makePerson, setupOrg } from './org-invitations.fixtures.js'

const emailItems = (t: TestApp, invitationId: string) =>
  t.db.query<OutboxRow>(`select * from outbox where subject_id = $1 and kind = 'email' order by created_at, id`, [invitationId])

forEachDatabase('organization invitation emails (dev mailbox)', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const mailbox = (t: TestApp, invitationId: string) =>
    t.db.query<{ subject: string; html: string; text: string; to_address: string; template_slug: string }>(
      'select subject, html, text, to_address, template_slug from dev_mailbox_messages where subject_id = $1', [invitationId])

  it('sends the organization_invitation email with the inviter\'s and organization\'s names and the link', async () => {
    const s = await setupOrg(t, { name: 'Acme Rockets', instanceName: 'Launchpad' })
    const inv = await invite(s.api, s.orgId, { inviter_user_id: s.admin.id, notify: true })
    await t.outboxWorker.drain()
    const [mail, ...more] = await mailbox(t, inv.id)
    assert.ok(mail, 'delivered to the dev mailbox')
    assert.equal(more.length, 0)
    assert.equal(mail.to_address, inv.email_address)
    assert.equal(mail.template_slug, 'organization_invitation')
    assert.equal(mail.subject, 'Ada Lovelace invited you to join Acme Rockets on Launchpad')
    assert.ok(mail.text.includes(inv.url), 'link in the text part')
    assert.ok(mail.html.includes(`href="${inv.url.replaceAll('&', '&amp;')}"`), 'link in the HTML part')
    assert.ok(mail.text.includes(`Ada Lovelace has invited ${inv.email_address} to join the organization Acme Rockets on Launchpad.`))
    const [item] = await emailItems(t, inv.id)
    assert.equal(item!.status, 'delivered')
  })

  it('names the inviter by address when they have no name, and by the application when there is no inviter', async () => {
    const s = await setupOrg(t, { name: 'Acme', instanceName: 'Launchpad' })
    const nameless = await makePerson(s.api, s.orgId, 'org:admin', { first: null, last: null })
    const byAddress = await invite(s.api, s.orgId, { inviter_user_id: nameless.id, notify: true })
    const byApp = await invite(s.api, s.orgId, { notify: true })
    const firstOnly = await makePerson(s.api, s.orgId, 'org:admin', { first: 'Grace', last: null })
    const byFirst = await invite(s.api, s.orgId, { inviter_user_id: firstOnly.id, notify: true })
    await t.outboxWorker.drain()
    assert.equal((await mailbox(t, byAddress.id))[0]!.subject, `${nameless.email} invited you to join Acme on Launchpad`)
    assert.equal((await mailbox(t, byApp.id))[0]!.subject, 'Launchpad invited you to join Acme on Launchpad')
    assert.equal((await mailbox(t, byFirst.id))[0]!.subject, 'Grace invited you to join Acme on Launchpad')
  })

  it('reads the names when sending: a renamed organization is named as it is now', async () => {
    const s = await setupOrg(t, { name: 'Old Name', instanceName: 'Launchpad' })
    const inv = await invite(s.api, s.orgId, { notify: true })
    assert.equal((await s.api.patch(`/v1/organizations/${s.orgId}`, { name: 'New Name' })).status, 200)
    await t.outboxWorker.drain()
    assert.match((await mailbox(t, inv.id))[0]!.subject, /join New Name on/)
  })

  it('escapes hostile names in HTML and keeps CR/LF out of the subject', async () => {
    const s = await setupOrg(t)
    // The API refuses such a name; the email must hold up even if one got in.
    await t.db.query('update organizations set name = $2 where id = $1', [s.orgId, '<script>alert(1)</script>\r\nBcc: victim@evil.example'])
    const hostile = await makePerson(s.api, s.orgId, 'org:admin', { first: '<img src=x onerror=alert(2)>' })
    const inv = await invite(s.api, s.orgId, { inviter_user_id: hostile.id, notify: true })
    await t.outboxWorker.drain()
    const [mail] = await mailbox(t, inv.id)
    assert.ok(!mail!.html.includes('<script>alert(1)</script>'))
    assert.ok(!mail!.html.includes('<img src=x'))
    assert.ok(mail!.html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'))
    assert.ok(!mail!.subject.includes('\n') && !mail!.subject.includes('\r'))
  })

  it('sends nothing for an invitation revoked, accepted, declined or expired before its email went out', async () => {
    const s = await setupOrg(t)
    const revoked = await invite(s.api, s.orgId, { notify: true })
    const accepted = await invite(s.api, s.orgId, { notify: true })
    const declined = await invite(s.api, s.orgId, { notify: true })
    const expired = await invite(s.api, s.orgId, { notify: true, expires_in_days: 1 })
    await s.api.post(`/v1/organizations/${s.orgId}/invitations/${revoked.id}/revoke`)
    await t.db.query(`update organization_invitations set status = 'accepted' where id = $1`, [accepted.id])
    await t.db.query(`update organization_invitations set status = 'declined' where id = $1`, [declined.id])
    t.clock.advance(DAY_MS + 1)
    await t.outboxWorker.drain()
    for (const [inv, reason] of [[revoked, 'invitation_revoked'], [accepted, 'invitation_accepted'], [declined, 'invitation_declined'], [expired, 'invitation_expired']] as const) {
      assert.equal((await mailbox(t, inv.id)).length, 0, reason)
      const [item] = await emailItems(t, inv.id)
      assert.equal(item!.status, 'delivered')
      assert.deepEqual(item!.result, { skipped: reason })
    }
  })

  it('skips the email of an invitation whose organization was deleted', async () => {
    const s = await setupOrg(t)
    const inv = await invite(s.api, s.orgId, { notify: true })
    const [queued] = await emailItems(t, inv.id)
    assert.equal((await s.api.delete(`/v1/organizations/${s.orgId}`)).status, 200)
    await t.outboxWorker.drain()
    const [item] = await t.db.query<OutboxRow>('select * from outbox where id = $1', [queued!.id])
    assert.deepEqual(item!.result, { skipped: 'invitation_deleted' })
  })
})

forEachDatabase('organization invitation emails over SMTP', (engine) => {
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
  const mailTo = (address: string): ReceivedMail[] => sink.messages.filter((m) => m.envelopeTo.includes(address))

  describe('POST /v1/organizations/{id}/invitations', () => {
    it('delivers the invitation to its address with both parts and the link', async () => {
      const s = await setupOrg(t, { name: 'Acme Rockets', instanceName: 'Launchpad' })
      const inv = await invite(s.api, s.orgId, { inviter_user_id: s.admin.id, notify: true, email_address: uniqueEmail('smtp') })
      await t.outboxWorker.drain()
      const [received, ...more] = mailTo(inv.email_address)
      assert.ok(received, 'delivered')
      assert.equal(more.length, 0)
      const { mail } = received
      assert.equal(mail.from?.value[0]?.address, 'invites@foyer.test')
      assert.equal(mail.subject, 'Ada Lovelace invited you to join Acme Rockets on Launchpad')
      assert.ok(mail.text?.includes(inv.url))
      assert.ok(typeof mail.html === 'string' && mail.html.includes(`href="${inv.url.replaceAll('&', '&amp;')}"`))
      const [item] = await emailItems(t, inv.id)
      assert.equal((item!.result as { message_id: string }).message_id, mail.messageId)
    })

    it('uses the instance\'s own organization_invitation template', async () => {
      const s = await setupOrg(t, { name: 'Acme' })
      const res = await s.api.raw({
        method: 'PUT', url: '/v1/email_templates/organization_invitation',
        headers: { authorization: `Bearer ${s.secretKey}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ subject: 'Join {{ organization_name }} (from {{ inviter_name }})' }),
      })
      assert.equal(res.statusCode, 200, res.body)
      const inv = await invite(s.api, s.orgId, { notify: true, inviter_user_id: s.admin.id })
      await t.outboxWorker.drain()
      assert.equal(mailTo(inv.email_address)[0]?.mail.subject, 'Join Acme (from Ada Lovelace)')
    })
  })
})
