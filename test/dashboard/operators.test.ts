import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf } from '../pages/page-client.js'
import { startSmtpSink, type SmtpSink } from '../email/smtp-sink.js'
import type { OutboxRow } from '../../src/platform/outbox/outbox.store.js'
import { OPERATOR_INVITATION_TTL_MS } from '../../src/dashboard/operators.service.js'
import { csrfOf, dashboardApp, formFields, OPERATOR_EMAIL, OPERATOR_PASSWORD, type Dashboard } from './dashboard-client.js'
import { acceptInvitation, changeAccess, invitationLinkFor, invite, MEMBER_PASSWORD, newMember } from './team-client.js'

forEachDatabase('dashboard operators', (engine) => {
  let sink: SmtpSink
  before(async () => { sink = await startSmtpSink() })
  after(() => sink.stop())
  const app = async (t: { after(fn: () => Promise<void>): void }, options: { logLines?: string[] } = {}) => {
    const d = await dashboardApp(engine, { env: { SMTP_URL: `smtp://127.0.0.1:${sink.port}` }, ...options })
    t.after(() => d.t.close())
    return d
  }
  const operators = (d: Dashboard) => d.t.db.query<{ id: string; email_address: string; role: string; all_instances: boolean }>('select id, email_address, role, all_instances from operators order by created_at, id')
  const unique = (name: string) => `${name}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}@example.com`

  it('the first operator is an owner of every instance; an owner invites by email through the outbox, and the link signs the invitee in once', async (t) => {
    const logLines: string[] = []
    const d = await app(t, { logLines })
    assert.deepEqual((await operators(d)).map((o) => [o.email_address, o.role, o.all_instances]), [[OPERATOR_EMAIL, 'owner', true]])
    const page = await d.op.get('/dashboard/operators')
    assert.equal(page.statusCode, 200)
    assert.match(page.body, /<a href="\/dashboard\/operators">Operators<\/a>/)
    assert.match(textOf(page.body), /No pending invitations/)

    const email = unique('grace')
    const res = await invite(d, email, { role: 'admin', instanceIds: [d.instanceId] })
    assert.equal(res.statusCode, 303, res.body)
    assert.equal(res.headers.location, '/dashboard/operators?notice=invited')
    const listed = await d.op.follow(res)
    assert.match(textOf(listed.body), new RegExp(`Pending invitations Email address Role Instances Invited by Expires Actions ${email.replace(/\./g, '\\.')} Admin Acme ${OPERATOR_EMAIL}`))

    // Queued on the outbox of the instance carrying operators' email, with no working link in it and no event for the instance's webhooks.
    const items = await d.t.db.query<OutboxRow>("select * from outbox where topic = 'operator_invitation'")
    assert.equal(items.length, 1)
    assert.equal(items[0]!.kind, 'email')
    assert.doesNotMatch(JSON.stringify(items[0]!.payload), /token/)
    const link = await invitationLinkFor(d, sink, email)
    const mail = sink.messages.filter((m) => m.envelopeTo.includes(email)).at(-1)!
    assert.equal(mail.mail.subject, 'You are invited to operate Foyer at foyer.test')
    assert.match(mail.mail.text ?? '', new RegExp(`${OPERATOR_EMAIL} invited ${email.replace(/\./g, '\\.')} to the Foyer dashboard as an admin`))
    assert.ok(String(mail.mail.html).includes(`href="http://foyer.test${link}"`))
    assert.equal((await d.t.db.query("select 1 from outbox where topic = 'email.created'")).length, 0)
    const token = /token=(.*)$/.exec(link)![1]!
    const [stored] = await d.t.db.query<{ token_hash: string }>('select token_hash from operator_invitations')
    assert.notEqual(stored!.token_hash, token, 'stored hashed')

    const grace = browser(d.t.app)
    const accept = await grace.get(link)
    assert.equal(accept.statusCode, 200)
    assert.match(accept.body, new RegExp(`readonly value="${email.replace(/\./g, '\\.')}"`))
    // A weak password is refused on the form, and the link survives the refusal.
    const weak = await grace.submit(accept, { password: 'short' })
    assert.equal(weak.statusCode, 422)
    assert.match(weak.body, /8 characters or more/)
    const done = await grace.submit(weak, { password: MEMBER_PASSWORD })
    assert.equal(done.statusCode, 303)
    assert.equal(done.headers.location, '/dashboard')
    const home = await grace.follow(done)
    assert.equal(home.headers.location, `/dashboard/${d.instanceId}/invitations`)
    assert.equal((await grace.get(`/dashboard/${d.instanceId}/invitations`)).statusCode, 200)
    const joined = (await operators(d)).find((o) => o.email_address === email)
    assert.deepEqual([joined?.role, joined?.all_instances], ['admin', false])

    // Single use: the link, and the form posted again, are dead.
    const replay = browser(d.t.app)
    assert.equal((await replay.get(link)).statusCode, 404)
    const again = await replay.post('/dashboard/invitations/accept', {
      ...formFields(accept.body, '/dashboard/invitations/accept'), _csrf: csrfOf((await replay.get('/dashboard/sign-in')).body), password: 'another long password',
    })
    assert.equal(again.statusCode, 404)
    assert.match(again.body, /This invitation link is not valid/)
    assert.equal((await operators(d)).length, 2)
    // She signs in with the password she chose, too.
    const signIn = await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: email, password: MEMBER_PASSWORD }, browser(d.t.app))
    assert.equal(signIn.statusCode, 303)
    assert.deepEqual(logLines.filter((l) => l.includes(token)), [], 'the token is never logged')
  })

  it('an invitation link expires after 7 days, a revoked one stops at once, and neither email is sent once dead', async (t) => {
    const d = await app(t)
    const late = unique('late')
    assert.equal((await invite(d, late, { role: 'viewer' })).statusCode, 303)
    const link = await invitationLinkFor(d, sink, late)
    // Re-inviting a pending address is refused; an expired invitation is replaced.
    const twice = await invite(d, late, { role: 'admin' })
    assert.equal(twice.statusCode, 422)
    assert.match(textOf(twice.body), /That address has a pending invitation: revoke it first/)
    d.t.clock.advance(OPERATOR_INVITATION_TTL_MS + 1)
    const stranger = browser(d.t.app)
    const page = await stranger.get(link)
    assert.equal(page.statusCode, 404)
    assert.match(page.body, /expired/)
    const posted = await stranger.post('/dashboard/invitations/accept', { _csrf: csrfOf((await stranger.get('/dashboard/sign-in')).body), token: /token=(.*)$/.exec(link)![1]!, password: MEMBER_PASSWORD })
    assert.equal(posted.statusCode, 404)
    // Seven days outlast the owner's session too.
    assert.equal((await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: OPERATOR_EMAIL, password: OPERATOR_PASSWORD })).statusCode, 303)
    assert.match(textOf((await d.op.get('/dashboard/operators')).body), /expired/)
    const renewed = await invite(d, late, { role: 'viewer' })
    assert.equal(renewed.statusCode, 303, renewed.body)
    const fresh = await invitationLinkFor(d, sink, late)
    assert.notEqual(fresh, link)

    // Revoked before its email went out: the email is skipped, and the link refused.
    const gone = unique('gone')
    assert.equal((await invite(d, gone, { role: 'admin' })).statusCode, 303)
    const listed = await d.op.get('/dashboard/operators')
    const [, invitationId] = /action="\/dashboard\/operators\/invitations\/(opinv_\w+)\/revoke"[^]*$/.exec(listed.body.slice(listed.body.indexOf(gone)))!
    const revoked = await d.submit('/dashboard/operators', `/dashboard/operators/invitations/${invitationId}/revoke`)
    assert.equal(revoked.statusCode, 303)
    assert.equal(revoked.headers.location, '/dashboard/operators?notice=revoked')
    await d.t.outboxWorker.drain()
    assert.equal(sink.messages.filter((m) => m.envelopeTo.includes(gone)).length, 0)
    const [item] = await d.t.db.query<OutboxRow>("select * from outbox where topic = 'operator_invitation' and subject_id = $1", [invitationId])
    assert.deepEqual([item!.status, (item!.result as { skipped: string }).skipped], ['delivered', 'invitation_revoked'])
    const twiceRevoked = await d.op.post(`/dashboard/operators/invitations/${invitationId}/revoke`, { _csrf: csrfOf((await d.op.get('/dashboard/operators')).body) })
    assert.equal(twiceRevoked.statusCode, 404, 'revoked once')
  })

  it('a dead SMTP server delays the invitation email, never loses it', async (t) => {
    const down = await startSmtpSink()
    const port = down.port
    await down.stop()
    const d = await dashboardApp(engine, { env: { SMTP_URL: `smtp://127.0.0.1:${port}` } })
    t.after(() => d.t.close())
    const email = unique('patient')
    assert.equal((await invite(d, email, { role: 'viewer' })).statusCode, 303)
    await d.t.outboxWorker.drain()
    const [failed] = await d.t.db.query<OutboxRow>("select * from outbox where topic = 'operator_invitation'")
    assert.equal(failed!.status, 'pending')
    assert.equal(failed!.attempts, 1)
    assert.ok(failed!.last_error)
    const up = await startSmtpSink(port)
    t.after(() => up.stop())
    d.t.clock.advance(60_000)
    const b = await acceptInvitation(d, await invitationLinkFor(d, up, email))
    assert.equal((await b.get(`/dashboard/${d.instanceId}/overview`)).statusCode, 200)
  })

  it('the last owner can be neither demoted nor removed, even by two owners demoting each other at once', async (t) => {
    const d = await app(t)
    const [me] = await operators(d)
    const alone = await changeAccess(d, me!.id, { role: 'admin' })
    assert.equal(alone.statusCode, 422)
    assert.match(textOf(alone.body), /This is the last owner: Foyer keeps at least one/)
    const removal = await d.submit(`/dashboard/operators/${me!.id}/remove`, `/dashboard/operators/${me!.id}/remove`)
    assert.equal(removal.statusCode, 422)
    assert.deepEqual((await operators(d)).map((o) => o.role), ['owner'])

    const other = await newMember(d, sink, unique('other'), { role: 'owner' })
    const team = d.t.services.operators
    const a = { id: me!.id, emailAddress: OPERATOR_EMAIL }
    const b = { id: other.id, emailAddress: 'other' }
    for (let round = 0; round < 3; round++) {
      const results = await Promise.allSettled([
        team.changeAccess(a, other.id, { role: 'viewer', scope: 'all', instanceIds: [] }),
        team.changeAccess(b, me!.id, { role: 'viewer', scope: 'all', instanceIds: [] }),
      ])
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results))
      const owners = (await operators(d)).filter((o) => o.role === 'owner')
      assert.equal(owners.length, 1)
      // Both owners again for the next round, and removal races the same way.
      const demoted = owners[0]!.id === me!.id ? other.id : me!.id
      await team.changeAccess(a, demoted, { role: 'owner', scope: 'all', instanceIds: [] })
    }
    const removals = await Promise.allSettled([team.remove(a, other.id), team.remove(b, me!.id)])
    assert.equal(removals.filter((r) => r.status === 'fulfilled').length, 1)
    assert.deepEqual((await operators(d)).map((o) => o.role), ['owner'])
  })

  it('a role change applies at the next request; removing an operator ends their sessions', async (t) => {
    const d = await app(t)
    const email = unique('ada')
    const ada = await newMember(d, sink, email, { role: 'admin' })
    const invitations = `/dashboard/${d.instanceId}/invitations`
    const form = async () => formFields((await ada.b.get(invitations)).body, invitations)
    const before = await ada.b.post(invitations, { ...await form(), emails: unique('x'), notify: 'off' })
    assert.equal(before.statusCode, 303)

    const page = await ada.b.get(invitations)
    assert.equal((await changeAccess(d, ada.id, { role: 'viewer' })).statusCode, 303)
    const refused = await ada.b.post(invitations, { ...formFields(page.body, invitations), emails: unique('y') })
    assert.equal(refused.statusCode, 403)
    assert.match(textOf(refused.body), /Your role lets you read this instance but not change it, so nothing was done/)
    assert.match((await ada.b.get(invitations)).body, /<body class="read-only">/)

    const confirm = await d.op.get(`/dashboard/operators/${ada.id}/remove`)
    assert.match(textOf(confirm.body), new RegExp(`Remove ${email.replace(/\./g, '\\.')} \\(viewer\\)\\? They are signed out at once`))
    const removed = await d.submit(`/dashboard/operators/${ada.id}/remove`, `/dashboard/operators/${ada.id}/remove`)
    assert.equal(removed.statusCode, 303)
    assert.equal(removed.headers.location, '/dashboard/operators?notice=removed')
    assert.equal((await d.t.db.query('select 1 from operator_sessions where operator_id = $1', [ada.id])).length, 0)
    const out = await ada.b.get(invitations)
    assert.equal(out.statusCode, 303)
    assert.match(String(out.headers.location), /^\/dashboard\/sign-in/)
    const signIn = await d.submit('/dashboard/sign-in', '/dashboard/sign-in', { email_address: email, password: MEMBER_PASSWORD }, browser(d.t.app))
    assert.equal(signIn.statusCode, 422)
    // Removed, the address can be invited again.
    assert.equal((await invite(d, email, { role: 'viewer' })).statusCode, 303)
  })

  it('refuses bad invitations with 422 naming the field: an address, a role, no instance, an unknown instance, an operator already', async (t) => {
    const d = await app(t)
    const cases: [Parameters<typeof invite>[2], string, RegExp][] = [
      [{ role: 'admin' }, 'not an address', /Enter a valid email address/],
      [{ role: 'superuser' as 'admin' }, unique('r'), /Choose a role: owner, admin or viewer/],
      [{ role: 'viewer', instanceIds: [] }, unique('n'), /Choose at least one instance, or all instances/],
      [{ role: 'viewer', instanceIds: ['ins_doesnotexist'] }, unique('u'), /One of the chosen instances does not exist/],
      [{ role: 'admin' }, OPERATOR_EMAIL, /That address is an operator already/],
    ]
    for (const [access, email, message] of cases) {
      const res = await invite(d, email, access)
      assert.equal(res.statusCode, 422, email)
      assert.match(textOf(res.body), message)
      assert.match(res.body, /aria-invalid="true"/)
    }
    assert.equal((await d.t.db.query('select 1 from operator_invitations')).length, 0)
    // An owner always reaches every instance, whatever was ticked.
    const owner = unique('o')
    assert.equal((await invite(d, owner, { role: 'owner', instanceIds: [d.instanceId] })).statusCode, 303)
    const [row] = await d.t.db.query<{ all_instances: boolean }>('select all_instances from operator_invitations where email_address = $1', [owner])
    assert.equal(row!.all_instances, true)
  })
})
