import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { SIGN_UP_COOKIE } from '../../src/accept/session-cookie.js'
import { fapi, ticketOf, type Fapi } from '../frontend/fapi-client.js'
import { startReceiver } from '../webhooks/receiver.js'

const PASSWORD = 'correct horse battery'
const CLERK_JS = '__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0'

forEachDatabase('erasing a person', (engine) => {
  let t: TestApp
  let f: Fapi
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
    receiver = await startReceiver(() => '')
  })
  after(async () => {
    await receiver.close()
    await t.close()
  })

  /**
   * Every table and column holding text (text, varchar, jsonb, arrays) where `needle` occurs,
   * whatever the table: a table added later is searched too.
   */
  async function mentions(needle: string): Promise<string[]> {
    const columns = await t.db.query<{ table_name: string; column_name: string }>(`
      select c.table_name, c.column_name from information_schema.columns c
      join information_schema.tables tb on tb.table_schema = c.table_schema and tb.table_name = c.table_name
      where c.table_schema = current_schema() and tb.table_type = 'BASE TABLE'
        and c.data_type in ('text', 'character varying', 'jsonb', 'json', 'ARRAY')`)
    assert.ok(columns.length > 50, 'the scan sees the schema')
    const found: string[] = []
    for (const { table_name: table, column_name: column } of columns) {
      const [row] = await t.db.query<{ n: string }>(`select count(*) as n from "${table}" where strpos(lower("${column}"::text), $1) > 0`, [needle.toLowerCase()])
      if (Number(row!.n) > 0) found.push(`${table}.${column}`)
    }
    return found.sort()
  }
  const localPart = (email: string) => email.split('@')[0]!

  const deliverAll = async () => {
    for (let i = 0; i < 3; i++) await t.outboxWorker.drain()
  }

  /** An instance whose webhooks go to the receiver: deliveries and their attempts are logged. */
  async function newInstance() {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    assert.equal((await api.post('/v1/webhooks/endpoints', { url: receiver.url })).status, 200)
    return { instance, api }
  }

  /** A sign-up by emailed code, left unfinished. */
  async function codeSignUp(instanceId: string, email: string) {
    const res = await f.post('/v1/client/sign_ups', { email_address: email, password: PASSWORD, first_name: 'Ada' }, { instance: instanceId })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body.response.id as string
  }

  /** A sign-in naming the address, left waiting for its password. */
  async function signInStarted(instanceId: string, identifier: string) {
    const res = await f.post(`/fapi/${instanceId}/v1/client/sign_ins?${CLERK_JS}`, { identifier, locale: 'en-US' }, { form: true })
    assert.equal(res.status, 200, JSON.stringify(res.body))
  }

  /**
   * Someone invited (and emailed), who tried signing up by code, then accepted the invitation
   * in two steps (ticket first, password later), added a second address by emailed code, and
   * started a sign-in: their address is now all over the database.
   */
  async function invitedUser(instanceId: string, api: Client) {
    const email = uniqueEmail('erased')
    const second = uniqueEmail('erased-second')
    const invitation = await makeInvitation(api, { email_address: email, notify: true })
    await codeSignUp(instanceId, email)
    const started = await f.post(`/v1/client/sign_ups?${CLERK_JS}`, { strategy: 'ticket', ticket: ticketOf(invitation), first_name: 'Ada' }, { form: true })
    assert.equal(started.status, 200, JSON.stringify(started.body))
    const done = await f.post(`/v1/client/sign_ups/${started.body.response.id}?${CLERK_JS}&_method=PATCH`, { password: PASSWORD },
      { form: true, cookies: { [SIGN_UP_COOKIE]: started.cookies[SIGN_UP_COOKIE]! } })
    assert.equal(done.status, 200, JSON.stringify(done.body))
    assert.equal(done.body.response.status, 'complete')
    const session = done.session!
    const added = await f.post('/v1/me/email_addresses', { email_address: second }, { session, form: true })
    assert.equal(added.status, 200, JSON.stringify(added.body))
    const prepared = await f.post(`/v1/me/email_addresses/${added.body.response.id}/prepare_verification`, { strategy: 'email_code' }, { session, form: true })
    assert.equal(prepared.status, 200, JSON.stringify(prepared.body))
    await signInStarted(instanceId, email)
    await deliverAll()
    return { email, second, invitation, userId: done.body.response.created_user_id as string }
  }

  it('deleting the user, then the invitation, leaves the address nowhere: not in sign-ups, sign-ins, code emails, emails, events or the delivery log', async () => {
    const { instance, api } = await newInstance()
    const p = await invitedUser(instance.id, api)
    // A bystander's sign-up in the same instance, which no deletion here may touch.
    const bystander = uniqueEmail('bystander')
    const bystanderAttempt = await codeSignUp(instance.id, bystander)
    await deliverAll()

    const everywhere = await mentions(localPart(p.email))
    for (const table of ['sign_up_attempts', 'ticket_sign_ups', 'sign_in_attempts', 'sign_up_code_emails', 'outbox', 'dev_mailbox_messages', 'invitations', 'email_addresses']) {
      assert.ok(everywhere.some((c) => c.startsWith(`${table}.`)), `${table} holds the address before: ${everywhere.join(', ')}`)
    }
    assert.ok((await mentions(localPart(p.second))).some((c) => c.startsWith('sign_up_code_emails.')), 'the second address\'s code email is counted')

    assert.equal((await api.delete(`/v1/users/${p.userId}`)).status, 200)
    await deliverAll()
    // The invitation is an object of its own and stays, with what was queued about it.
    // (Its email was skipped: the invitation was accepted before the outbox got to it.)
    assert.deepEqual(await mentions(localPart(p.email)), ['invitations.email_address', 'outbox.payload'])
    assert.deepEqual(await mentions(localPart(p.second)), [])

    assert.equal((await api.delete(`/v1/invitations/${p.invitation.id}`)).status, 200)
    await deliverAll()
    assert.deepEqual(await mentions(localPart(p.email)), [])

    const kept = await t.db.query('select 1 from sign_up_attempts where id = $1', [bystanderAttempt])
    assert.equal(kept.length, 1, 'the bystander\'s sign-up stays')
    assert.ok((await mentions(localPart(bystander))).includes('sign_up_code_emails.mailbox'))
  })

  // @see issue 19
  it('deleting the invitation an invitation link issued erases the address\'s code attempt and its use of the link, whose count stays', async () => {
    const { instance, api } = await newInstance()
    const email = uniqueEmail('linked')
    const link = await api.post('/v1/invitation_links', { public_metadata: { from: 'link' } })
    assert.equal(link.status, 200, JSON.stringify(link.body))
    const token = new URL(link.body.url).searchParams.get('token')!
    const { attemptId } = await t.services.invitationLinks.start(token, email)
    const code = (await t.services.invitationLinks.codeEmail(attemptId))!.code
    await t.services.invitationLinks.redeem(attemptId, code)
    await deliverAll()
    const before = await mentions(localPart(email))
    for (const table of ['invitation_link_attempts', 'invitation_link_uses', 'invitations', 'sign_up_code_emails']) {
      assert.ok(before.some((c) => c.startsWith(`${table}.`)), `${table} holds the address before: ${before.join(', ')}`)
    }
    const [personal] = await t.db.query<{ id: string }>('select id from invitations where instance_id = $1 and email_address = $2', [instance.id, email])
    assert.equal((await api.delete(`/v1/invitations/${personal!.id}`)).status, 200)
    await deliverAll()
    assert.deepEqual(await mentions(localPart(email)), [])
    assert.equal((await api.get(`/v1/invitation_links/${link.body.id}`)).body.use_count, 1)
  })

  it('deleting the invitation of someone who never got an account erases their sign-up attempts, sign-ins and code emails', async () => {
    const { instance, api } = await newInstance()
    const email = uniqueEmail('never')
    const invitation = await makeInvitation(api, { email_address: email, notify: true })
    await codeSignUp(instance.id, email)
    const waiting = await f.post(`/v1/client/sign_ups?${CLERK_JS}`, { strategy: 'ticket', ticket: ticketOf(invitation) }, { form: true })
    assert.equal(waiting.status, 200, JSON.stringify(waiting.body))
    await signInStarted(instance.id, email)
    await deliverAll()
    const before = await mentions(localPart(email))
    for (const table of ['sign_up_attempts', 'ticket_sign_ups', 'sign_in_attempts', 'sign_up_code_emails']) {
      assert.ok(before.some((c) => c.startsWith(`${table}.`)), `${table} holds the address before: ${before.join(', ')}`)
    }

    assert.equal((await api.delete(`/v1/invitations/${invitation.id}`)).status, 200)
    await deliverAll()
    assert.deepEqual(await mentions(localPart(email)), [])
  })

  it('deleting an invitation keeps the sign-ups of a user who has the address: they are the user\'s, erased with the user', async () => {
    const { instance, api } = await newInstance()
    const p = await invitedUser(instance.id, api)
    assert.equal((await api.delete(`/v1/invitations/${p.invitation.id}`)).status, 200)
    const left = await mentions(localPart(p.email))
    assert.ok(left.includes('sign_up_attempts.email_address') && left.includes('email_addresses.email_address'), left.join(', '))
    assert.equal((await api.delete(`/v1/users/${p.userId}`)).status, 200)
    await deliverAll()
    assert.deepEqual(await mentions(localPart(p.email)), [])
  })
})
