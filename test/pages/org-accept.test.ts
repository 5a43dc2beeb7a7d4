import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { APP_ORIGIN, buildTestApp, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesSpec, webhookEventValidator } from '../helpers/spec.js'
import { DAY_MS } from '../../src/platform/clock.js'
import { newId } from '../../src/platform/ids.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import { browser, formOf, intoApplication, pathOf, textOf } from './page-client.js'
import {
  inviteTo, invitationNow, membershipsOf, orgWorld, PASSWORD, person, queuedEvents, sessionFor, signedInBrowser, type OrgWorld,
} from '../accept/org-helpers.js'

const ticketOf = (url: string) => new URL(url).searchParams.get('ticket')!

forEachDatabase('organization invitations through the link and hosted pages', (engine) => {
  let t: TestApp
  let w: OrgWorld
  before(async () => {
    t = await buildTestApp({ engine })
    w = await orgWorld(t)
  })
  after(() => t.close())

  const open = (url: string, cookie?: string) =>
    t.app.inject({ method: 'GET', url: pathOf(url), headers: cookie ? { cookie: `${SESSION_COOKIE}=${cookie}` } : {} })
  const locationOf = (res: { headers: Record<string, unknown> }) => new URL(String(res.headers.location), 'http://foyer.test')

  describe('GET /v1/tickets/accept with an organization ticket', () => {
    it('redirects without an account to /sign-up with the ticket and __clerk_status=sign_up', async () => {
      const inv = await inviteTo(w)
      const res = await open(inv.url)
      assert.equal(res.statusCode, 303)
      const location = locationOf(res)
      assert.equal(location.pathname, '/sign-up')
      assert.equal(location.searchParams.get('__clerk_ticket'), ticketOf(inv.url))
      assert.equal(location.searchParams.get('__clerk_status'), 'sign_up')
      assert.equal(location.searchParams.get('instance'), w.instance.id)
    })

    it('redirects an existing, signed-out account to /sign-in with __clerk_status=sign_in', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w, { email_address: p.email })
      const location = locationOf(await open(inv.url))
      assert.equal(location.pathname, '/sign-in')
      assert.equal(location.searchParams.get('__clerk_status'), 'sign_in')
      assert.equal(location.searchParams.get('__clerk_ticket'), ticketOf(inv.url))
    })

    it('leads someone signed in as the invited address to /accept with the ticket', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w, { email_address: p.email, redirect_url: `${APP_ORIGIN}/join` })
      const res = await open(inv.url, await sessionFor(t, w.instance, p.email))
      assert.equal(res.statusCode, 303)
      const location = locationOf(res)
      assert.equal(location.pathname, '/accept')
      assert.equal(location.searchParams.get('__clerk_ticket'), ticketOf(inv.url))
    })

    it('leads someone signed in as another address to the ticket\'s own sign-in, which says so (409)', async () => {
      const invited = await person(w.api)
      const other = await person(w.api)
      const inv = await inviteTo(w, { email_address: invited.email })
      const b = await signedInBrowser(t, w.instance, other.email)
      const res = await b.get(inv.url)
      assert.equal(locationOf(res).pathname, '/sign-in')
      const page = await b.follow(res)
      assert.equal(page.statusCode, 409)
      assert.match(textOf(page.body), new RegExp(`signed in as ${other.email.replaceAll('.', '\\.')}.*this invitation is for ${invited.email.replaceAll('.', '\\.')}`))
      assert.equal((await invitationNow(w, inv.id)).status, 'pending')
    })

    it('appends the ticket and status to the invitation\'s redirect_url', async () => {
      const inv = await inviteTo(w, { redirect_url: `${APP_ORIGIN}/join?team=1` })
      const location = new URL(String((await open(inv.url)).headers.location))
      assert.equal(`${location.origin}${location.pathname}`, `${APP_ORIGIN}/join`)
      assert.equal(location.searchParams.get('team'), '1')
      assert.equal(location.searchParams.get('__clerk_ticket'), ticketOf(inv.url))
      assert.equal(location.searchParams.get('__clerk_status'), 'sign_up')
    })

    it('shows 410 pages for revoked and declined invitations, naming the organization', async () => {
      const revoked = await inviteTo(w)
      assert.equal((await w.api.post(`/v1/organizations/${w.orgId}/invitations/${revoked.id}/revoke`)).status, 200)
      const res = await open(revoked.url)
      assert.equal(res.statusCode, 410)
      assert.match(textOf(res.body), new RegExp(`This invitation was withdrawn The invitation to join ${w.orgName} was revoked`))

      const p = await person(w.api)
      const declined = await inviteTo(w, { email_address: p.email })
      const b = await signedInBrowser(t, w.instance, p.email)
      const page = await b.follow(await b.get(declined.url))
      assert.equal((await b.submit(page, {}, 1)).statusCode, 200)
      const after = await open(declined.url)
      assert.equal(after.statusCode, 410)
      assert.match(textOf(after.body), /This invitation was declined/)
    })

    it('shows a 404 page for an unknown ticket', async () => {
      const res = await open(`/v1/tickets/accept?ticket=${randomBytes(32).toString('base64url')}`)
      assert.equal(res.statusCode, 404)
      assert.match(textOf(res.body), /This invitation link is not valid/)
    })

    it('redirects an accepted invitation to /sign-in with __clerk_status=complete and no ticket', async () => {
      const inv = await inviteTo(w)
      const b = browser(t.app)
      assert.equal((await b.submit(await b.follow(await b.get(inv.url)), { password: PASSWORD })).statusCode, 303)
      const location = locationOf(await open(inv.url))
      assert.equal(location.pathname, '/sign-in')
      assert.equal(location.searchParams.get('__clerk_status'), 'complete')
      assert.equal(location.searchParams.get('__clerk_ticket'), null)
    })

    it('consumes nothing however often the link and the pages it leads to are opened, signed in or not', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w, { email_address: p.email })
      const token = await sessionFor(t, w.instance, p.email)
      for (let i = 0; i < 3; i++) {
        assert.equal((await open(inv.url)).statusCode, 303)
        const res = await open(inv.url, token)
        assert.equal((await open(String(res.headers.location), token)).statusCode, 200)
      }
      assert.equal((await invitationNow(w, inv.id)).status, 'pending')
      assert.deepEqual(await membershipsOf(w.api, p.id), [])
    })

    it('redirects to /sign-up without a ticket once the invitation has expired', async () => {
      const own = await orgWorld(t, { instanceName: 'Expiring' })
      const inv = await inviteTo(own, { expires_in_days: 1 })
      assert.equal((await own.api.post('/v1/testing/clock', { advance_ms: 2 * DAY_MS })).status, 200)
      const location = locationOf(await open(inv.url))
      assert.equal(location.pathname, '/sign-up')
      assert.deepEqual([...location.searchParams.keys()], ['instance'])
    })
  })

  describe('a new person signs up with the ticket', () => {
    it('creates the user (address verified by the ticket) and the membership with the invited role and metadata, and the events', async () => {
      const own = await orgWorld(t, { instanceName: 'Events' })
      const inv = await inviteTo(own, {
        role: 'org:admin', inviter_user_id: own.admin.id, public_metadata: { team: 'ops' }, private_metadata: { cost_center: 42 },
      })
      const before = new Set((await queuedEvents(t, own.instance.id)).map((e) => e.id))
      const b = browser(t.app)
      const page = await b.follow(await b.get(inv.url))
      assert.equal(page.statusCode, 200)
      assert.match(textOf(page.body), new RegExp(`You have been invited to join ${own.orgName} on ${own.instance.name}\\.`))
      const done = await b.submit(page, { password: PASSWORD, first_name: 'Grace' })
      assert.equal(done.statusCode, 303)
      assert.equal(pathOf(String(done.headers.location)), `/welcome?instance=${own.instance.id}`)

      const user = (await own.api.get(`/v1/users?email_address=${encodeURIComponent(inv.email_address)}`)).body[0]
      assert.equal(user.email_addresses[0].verification.strategy, 'ticket')
      assert.deepEqual(user.public_metadata, {}, 'an organization invitation\'s metadata is the membership\'s, not the user\'s')
      const [membership, ...others] = await membershipsOf(own.api, user.id)
      assert.equal(others.length, 0)
      assert.equal(membership.organization.id, own.orgId)
      assert.equal(membership.role, 'org:admin')
      assert.deepEqual(membership.public_metadata, { team: 'ops' })
      assert.deepEqual(membership.private_metadata, { cost_center: 42 })
      const accepted = await invitationNow(own, inv.id)
      assert.equal(accepted.status, 'accepted')

      const events = (await queuedEvents(t, own.instance.id)).filter((e) => !before.has(e.id))
      assert.deepEqual(events.map((e) => e.type).sort(), ['organizationInvitation.accepted', 'organizationMembership.created', 'session.created', 'user.created'])
      const acceptedEvent = events.find((e) => e.type === 'organizationInvitation.accepted')!
      assert.equal(acceptedEvent.data.id, inv.id)
      assert.equal(acceptedEvent.data.status, 'accepted')
      assert.equal(acceptedEvent.data.user_id, user.id)
      assert.equal(events.find((e) => e.type === 'user.created')!.data.id, user.id)
      const membershipEvent = events.find((e) => e.type === 'organizationMembership.created')!
      assertMatchesSpec(webhookEventValidator('organizationMembership.created'), membershipEvent, 'organizationMembership.created')
      assert.equal(membershipEvent.data.public_user_data.user_id, user.id)
      assert.equal(membershipEvent.data.role, 'org:admin')
    })

    it('lets exactly one of two concurrent completions with one ticket win', async () => {
      const inv = await inviteTo(w)
      const [b1, b2] = [browser(t.app), browser(t.app)]
      const [p1, p2] = await Promise.all([b1.follow(await b1.get(inv.url)), b2.follow(await b2.get(inv.url))])
      const results = await Promise.all([b1.submit(p1, { password: PASSWORD }), b2.submit(p2, { password: PASSWORD })])
      assert.deepEqual(results.map((r) => r.statusCode).sort(), [303, 400])
      const users = (await w.api.get(`/v1/users?email_address=${encodeURIComponent(inv.email_address)}`)).body
      assert.equal(users.length, 1)
      assert.equal((await membershipsOf(w.api, users[0].id)).length, 1)
    })
  })

  describe('an existing person signs in with the ticket', () => {
    it('shows the sign-in form for the invited address and makes the membership on sign-in', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w, { email_address: p.email, public_metadata: { seat: 7 } })
      const b = browser(t.app)
      const page = await b.follow(await b.get(inv.url))
      assert.equal(page.statusCode, 200)
      assert.match(textOf(page.body), new RegExp(`Sign in to join ${w.orgName} on Acme Rockets`))
      assert.equal(formOf(page.body).fields.identifier, p.email)
      assert.deepEqual(await membershipsOf(w.api, p.id), [], 'nothing before the sign-in')
      assert.equal((await b.submit(page, { password: PASSWORD })).statusCode, 303)
      const [membership] = await membershipsOf(w.api, p.id)
      assert.equal(membership.organization.id, w.orgId)
      assert.deepEqual(membership.public_metadata, { seat: 7 })
      assert.equal((await invitationNow(w, inv.id)).status, 'accepted')
    })

    it('accepts the invitation but keeps the membership of someone who became a member meanwhile', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w, { email_address: p.email, role: 'org:admin' })
      assert.equal((await w.api.post(`/v1/organizations/${w.orgId}/memberships`, { user_id: p.id, role: 'org:member' })).status, 200)
      const b = browser(t.app)
      assert.equal((await b.submit(await b.follow(await b.get(inv.url)), { password: PASSWORD })).statusCode, 303)
      const memberships = await membershipsOf(w.api, p.id)
      assert.equal(memberships.length, 1)
      assert.equal(memberships[0].role, 'org:member')
      assert.equal((await invitationNow(w, inv.id)).status, 'accepted')
    })
  })

  describe('GET and POST /accept with a ticket, signed in as the invited address', () => {
    it('shows the organization, role and inviter with Accept and Decline; Accept makes the membership and goes home', async () => {
      const own = await orgWorld(t, { instanceName: 'Homed', orgName: 'Rocket Lab' })
      assert.equal((await own.api.patch('/v1/instance', { home_url: `${APP_ORIGIN}/home` })).status, 200)
      const p = await person(own.api)
      const inv = await inviteTo(own, { email_address: p.email, role: 'org:admin', inviter_user_id: own.admin.id, private_metadata: { level: 3 } })
      const b = await signedInBrowser(t, own.instance, p.email)
      const page = await b.follow(await b.get(inv.url))
      assert.equal(page.statusCode, 200)
      const text = textOf(page.body)
      assert.match(text, /Join Rocket Lab/)
      assert.match(text, /Ada Lovelace invited you to join Rocket Lab on Homed\./)
      assert.match(text, new RegExp(`Invited by Ada Lovelace \\(${own.admin.email.replaceAll('.', '\\.')}\\)`))
      assert.match(text, /Role Admin/)
      assert.match(text, new RegExp(`Signed in as ${p.email.replaceAll('.', '\\.')}`))
      assert.equal(formOf(page.body, 0).action, '/accept')
      assert.equal(formOf(page.body, 1).action, '/accept/decline')
      assert.ok(!page.body.includes('<script'), 'no script')
      assert.match(String(page.headers['content-security-policy']), /default-src 'none'/)

      const done = await b.submit(page)
      assert.equal(done.statusCode, 303)
      assert.equal(intoApplication(done.headers.location), `${APP_ORIGIN}/home`)
      const [membership] = await membershipsOf(own.api, p.id)
      assert.equal(membership.role, 'org:admin')
      assert.deepEqual(membership.private_metadata, { level: 3 })
      assert.equal((await invitationNow(own, inv.id)).status, 'accepted')
      const types = (await queuedEvents(t, own.instance.id)).map((e) => e.type)
      assert.ok(types.includes('organizationInvitation.accepted'))
      assert.equal(types.filter((x) => x === 'organizationMembership.created').length, 2)

      // The page cannot be used twice.
      const again = await b.submit(page)
      assert.equal(again.statusCode, 410)
    })

    it('leads to the invitation\'s redirect_url after Accept, when it has one', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w, { email_address: p.email, redirect_url: `${APP_ORIGIN}/welcome-to-the-team` })
      const b = await signedInBrowser(t, w.instance, p.email)
      const page = await b.get(`/accept?__clerk_ticket=${ticketOf(inv.url)}`)
      const done = await b.submit(page)
      assert.equal(intoApplication(done.headers.location), `${APP_ORIGIN}/welcome-to-the-team`)
    })

    it('declines: the invitation turns declined, organizationInvitation.declined is queued, no membership', async () => {
      const own = await orgWorld(t, { instanceName: 'Declines' })
      const p = await person(own.api)
      const inv = await inviteTo(own, { email_address: p.email, inviter_user_id: own.admin.id })
      const b = await signedInBrowser(t, own.instance, p.email)
      const page = await b.get(`/accept?__clerk_ticket=${ticketOf(inv.url)}`)
      const res = await b.submit(page, {}, 1)
      assert.equal(res.statusCode, 200)
      assert.match(textOf(res.body), new RegExp(`Invitation declined You declined the invitation to join ${own.orgName}`))
      assert.equal((await invitationNow(own, inv.id)).status, 'declined')
      assert.deepEqual(await membershipsOf(own.api, p.id), [])
      const declined = (await queuedEvents(t, own.instance.id)).filter((e) => e.type === 'organizationInvitation.declined')
      assert.equal(declined.length, 1)
      assert.equal(declined[0]!.data.id, inv.id)
      assert.equal(declined[0]!.data.status, 'declined')
      assert.equal(declined[0]!.data.inviter_id, own.admin.id)
    })

    it('sends a signed-out person to the ticket\'s sign-in, and an application ticket to its own flow', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w, { email_address: p.email })
      const res = await open(`/accept?__clerk_ticket=${ticketOf(inv.url)}`)
      assert.equal(res.statusCode, 303)
      assert.equal(locationOf(res).pathname, '/sign-in')
      const appInvitation = (await w.api.post('/v1/invitations', { email_address: uniqueEmail(), notify: false })).body
      const appRes = await open(`/accept?__clerk_ticket=${ticketOf(appInvitation.url)}`)
      assert.equal(locationOf(appRes).pathname, '/sign-up')
    })

    it('refuses a form post without its CSRF token (403), consuming nothing', async () => {
      const p = await person(w.api)
      const inv = await inviteTo(w, { email_address: p.email })
      const b = await signedInBrowser(t, w.instance, p.email)
      await b.get(`/accept?__clerk_ticket=${ticketOf(inv.url)}`)
      const res = await b.post('/accept', { __clerk_ticket: ticketOf(inv.url) })
      assert.equal(res.statusCode, 403)
      assert.equal((await invitationNow(w, inv.id)).status, 'pending')
    })
  })

  describe('/accept signed in as another address', () => {
    it('says so (409), offers to sign out and continue, and consumes nothing; signing out leads to the ticket\'s sign-in', async () => {
      const invited = await person(w.api)
      const other = await person(w.api)
      const inv = await inviteTo(w, { email_address: invited.email })
      const b = await signedInBrowser(t, w.instance, other.email)
      const page = await b.get(`/accept?__clerk_ticket=${ticketOf(inv.url)}`)
      assert.equal(page.statusCode, 409)
      assert.match(textOf(page.body), /This invitation is for someone else/)
      assert.match(textOf(page.body), new RegExp(`this invitation is for ${invited.email.replaceAll('.', '\\.')}`))
      // A hand-made post (the form of the page the invited person would see) is refused too.
      const csrf = formOf(page.body).fields._csrf!
      const post = await b.post('/accept', { _csrf: csrf, __clerk_ticket: ticketOf(inv.url) })
      assert.equal(post.statusCode, 409)
      assert.equal((await invitationNow(w, inv.id)).status, 'pending')
      assert.deepEqual(await membershipsOf(w.api, other.id), [])

      const signedOut = await b.submit(page)
      assert.equal(signedOut.statusCode, 303)
      assert.equal(pathOf(String(signedOut.headers.location)), `/accept?instance=${w.instance.id}&__clerk_ticket=${ticketOf(inv.url)}`)
      const next = await b.get(String(signedOut.headers.location))
      assert.equal(next.statusCode, 303)
      assert.equal(locationOf(next).pathname, '/sign-in')
      const signIn = await b.follow(next)
      assert.equal((await b.submit(signIn, { password: PASSWORD })).statusCode, 303)
      assert.equal((await membershipsOf(w.api, invited.id)).length, 1)
    })
  })

  describe('/accept without a ticket', () => {
    it('asks a signed-out person to sign in first, then comes back to the list', async () => {
      const own = await orgWorld(t, { instanceName: 'Listing' })
      const p = await person(own.api)
      await inviteTo(own, { email_address: p.email })
      const b = browser(t.app)
      const res = await b.get(`/accept?instance=${own.instance.id}`)
      assert.equal(res.statusCode, 303)
      const location = locationOf(res)
      assert.equal(location.pathname, '/sign-in')
      assert.equal(location.searchParams.get('redirect_url'), `/accept?instance=${own.instance.id}`)
      const signIn = await b.follow(res)
      assert.match(textOf(signIn.body), /Sign in to see your invitations/)
      const done = await b.submit(signIn, { identifier: p.email, password: PASSWORD })
      assert.equal(done.statusCode, 303)
      assert.equal(pathOf(String(done.headers.location)), `/accept?instance=${own.instance.id}`)
      const list = await b.follow(done)
      assert.equal(list.statusCode, 200)
      assert.match(textOf(list.body), new RegExp(`Your invitations .*${own.orgName}`))
    })

    it('never returns to another site after sign-in', async () => {
      const p = await person(w.api)
      const b = browser(t.app)
      const signIn = await b.get(`/sign-in?instance=${w.instance.id}&redirect_url=${encodeURIComponent('https://evil.example/accept')}`)
      assert.equal(formOf(signIn.body).fields.redirect_url, undefined)
      const done = await b.submit(signIn, { identifier: p.email, password: PASSWORD, redirect_url: 'https://evil.example/accept' })
      assert.equal(pathOf(String(done.headers.location)), `/welcome?instance=${w.instance.id}`)
    })

    it('lists pending invitations (manual and automatic) and suggestions, each answered on its own', async () => {
      const own = await orgWorld(t, { instanceName: 'Many', orgName: 'First Org' })
      const second = (await own.api.post('/v1/organizations', { name: 'Second Org', created_by: own.admin.id })).body
      const third = (await own.api.post('/v1/organizations', { name: 'Third Org', created_by: own.admin.id })).body
      const suggested = (await own.api.post('/v1/organizations', { name: 'Suggested Org', created_by: own.admin.id })).body
      const p = await person(own.api)
      const first = await inviteTo(own, { email_address: p.email, inviter_user_id: own.admin.id })
      const toDecline = await inviteTo({ api: own.api, orgId: second.id }, { email_address: p.email })
      // An automatic invitation, as a verified domain makes it (no inviter, source 'domain').
      const automatic = await t.services.orgInvitations.create(own.instance, third.id, { email_address: p.email, role: 'org:member' }, { source: 'domain', notify: false })
      const now = Date.now()
      const suggestionId = newId('orgsug', now)
      await t.db.query(`insert into organization_suggestions (id, instance_id, organization_id, user_id, email_address, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $6)`, [suggestionId, own.instance.id, suggested.id, p.id, p.email, now])
      // Someone else's invitation is not listed.
      await inviteTo(own, { email_address: uniqueEmail('someone') })

      const b = await signedInBrowser(t, own.instance, p.email)
      const list = await b.get('/accept')
      assert.equal(list.statusCode, 200)
      const text = textOf(list.body)
      assert.match(text, /Your invitations/)
      assert.match(text, new RegExp(`First Org Role: Member · Invited by Ada Lovelace`))
      assert.match(text, /Second Org Role: Member/)
      assert.match(text, /Third Org Role: Member · Invited automatically for your email address/)
      assert.match(text, /Organizations you can join .* Suggested Org/)
      assert.equal((list.body.match(/class="card invitation"/g) ?? []).length, 3)

      // Forms: per invitation Accept (even) and Decline (odd), newest first; then the suggestion's two.
      const forms = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => formOf(list.body, i))
      const indexOf = (id: string, action: string) => forms.findIndex((f) => f.fields.invitation_id === id && f.action === action)
      assert.equal((await b.submit(list, {}, indexOf(first.id, '/accept'))).statusCode, 303)
      assert.equal((await b.submit(list, {}, indexOf(toDecline.id, '/accept/decline'))).statusCode, 200)
      assert.equal((await b.submit(list, {}, indexOf(automatic.id, '/accept'))).statusCode, 303)
      const ask = forms.findIndex((f) => f.fields.suggestion_id === suggestionId && f.action === '/accept')
      const asked = await b.submit(list, {}, ask)
      assert.equal(asked.statusCode, 200)
      assert.match(textOf(asked.body), /Request sent You asked to join Suggested Org/)

      const orgs = (await membershipsOf(own.api, p.id)).map((m) => m.organization.name).sort()
      assert.deepEqual(orgs, ['First Org', 'Third Org'])
      assert.equal((await invitationNow({ api: own.api, orgId: second.id }, toDecline.id)).status, 'declined')
      const [suggestion] = await t.db.query<{ status: string }>('select status from organization_suggestions where id = $1', [suggestionId])
      assert.equal(suggestion!.status, 'accepted')
      const empty = await b.get('/accept')
      assert.match(textOf(empty.body), /You have no pending invitations\./)
    })

    it('dismisses a suggestion and leads back to the list', async () => {
      const own = await orgWorld(t, { instanceName: 'Dismiss' })
      const p = await person(own.api)
      const now = Date.now()
      const id = newId('orgsug', now)
      await t.db.query(`insert into organization_suggestions (id, instance_id, organization_id, user_id, email_address, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $6)`, [id, own.instance.id, own.orgId, p.id, p.email, now])
      const b = await signedInBrowser(t, own.instance, p.email)
      const list = await b.get('/accept')
      const res = await b.submit(list, {}, 1)
      assert.equal(res.statusCode, 303)
      assert.equal(pathOf(String(res.headers.location)), `/accept?instance=${own.instance.id}`)
      const [row] = await t.db.query<{ status: string }>('select status from organization_suggestions where id = $1', [id])
      assert.equal(row!.status, 'dismissed')
    })

    it('answers 404 for an invitation id that is not the signed-in person\'s, consuming nothing', async () => {
      const p = await person(w.api)
      const other = await inviteTo(w)
      const b = await signedInBrowser(t, w.instance, p.email)
      const csrf = formOf((await b.get('/sign-out')).body).fields._csrf!
      const res = await b.post('/accept', { _csrf: csrf, invitation_id: other.id, instance: w.instance.id })
      assert.equal(res.statusCode, 404)
      assert.equal((await invitationNow(w, other.id)).status, 'pending')
    })
  })
})
