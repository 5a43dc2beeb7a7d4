import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import type { Instance } from '../../src/instance/instance.schemas.js'
import { inviteTo, invitationNow, orgWorld, PASSWORD, person, signedInBrowser, type OrgWorld } from '../accept/org-helpers.js'
import { formOf, textOf, type Browser } from './page-client.js'

const ticketOf = (url: string) => new URL(url).searchParams.get('ticket')!

/**
 * Records every call into the acceptance service, so that a test can wait for all the work a
 * request started, even work that goes on after its answer was sent: a page that answers and
 * then carries on must be caught, not raced.
 */
function recordCalls(t: TestApp) {
  const pending = new Set<Promise<unknown>>()
  const accept = t.services.accept as unknown as Record<string, unknown>
  for (const [name, value] of Object.entries(accept)) {
    if (typeof value !== 'function') continue
    accept[name] = (...args: unknown[]) => {
      const result = (value as (...a: unknown[]) => unknown).apply(accept, args)
      if (result instanceof Promise) pending.add(result)
      return result
    }
  }
  /** Resolves once the calls made so far, and any they led to, have ended. */
  return async function settled() {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve))
      if (pending.size === 0) return
      const now = [...pending]
      await Promise.allSettled(now)
      for (const p of now) pending.delete(p)
    }
  }
}

forEachDatabase('hosted pages signed in as someone else', (engine) => {
  let t: TestApp
  let settled: () => Promise<void>
  let w: OrgWorld
  before(async () => {
    t = await buildTestApp({ engine })
    settled = recordCalls(t)
    w = await orgWorld(t)
  })
  after(() => t.close())

  const usersWith = async (api: Client, email: string) =>
    (await api.get(`/v1/users?email_address=${encodeURIComponent(email)}`)).body as { id: string; last_sign_in_at: number | null }[]
  const isPending = async (api: Client, id: string) =>
    ((await api.get('/v1/invitations?status=pending')).body as { id: string }[]).some((i) => i.id === id)
  const sessionOf = (b: Browser) => t.services.accept.session(b.jar.get(SESSION_COOKIE))

  /** Bob, signed in to the instance in a page browser, and the page he sees on Dave's sign-up or sign-in link. */
  async function bobOnDavesPage(instance: Instance, api: Client, path: '/sign-up' | '/sign-in', ticket: string) {
    const bob = await person(api, { first: 'Bob' })
    const b = await signedInBrowser(t, instance, bob.email)
    const page = await b.get(`${path}?instance=${instance.id}&__clerk_ticket=${ticket}`)
    assert.equal(page.statusCode, 409)
    const bobSession = b.jar.get(SESSION_COOKIE)
    return { b, bob, csrf: formOf(page.body).fields._csrf!, bobSession }
  }

  /** The post answered the wrong-account page, and Bob's session outlived it. */
  async function assertRefused(b: Browser, res: { statusCode: number; body: string }, bob: { email: string }, bobSession: string | undefined) {
    assert.equal(res.statusCode, 409, res.body)
    assert.match(textOf(res.body), /This invitation is for someone else/)
    await settled()
    assert.equal(b.jar.get(SESSION_COOKIE), bobSession, 'the session cookie is untouched')
    assert.equal((await sessionOf(b))?.user.email_addresses[0]?.email_address, bob.email, 'Bob is still signed in')
  }

  describe('POST /sign-up with a ticket for another address', () => {
    // @see issue 12
    it('application invitation: 409, and no account for the invitee, the invitation still pending, Bob still signed in', async () => {
      const { instance, secretKey } = await t.newInstance('Acme')
      const api = client(t.app, secretKey)
      const inv = await makeInvitation(api, { email_address: uniqueEmail('dave') })
      const { b, bob, csrf, bobSession } = await bobOnDavesPage(instance, api, '/sign-up', ticketOf(inv.url))
      const res = await b.post('/sign-up', { _csrf: csrf, __clerk_ticket: ticketOf(inv.url), password: PASSWORD, first_name: 'Dave' })
      await assertRefused(b, res, bob, bobSession)
      assert.deepEqual(await usersWith(api, inv.email_address), [], 'no account for Dave')
      assert.ok(await isPending(api, inv.id), 'the invitation is still pending')
    })

    // @see issue 12
    it('organization invitation: 409, and no account, no membership, the invitation still pending, Bob still signed in', async () => {
      const inv = await inviteTo(w, { email_address: uniqueEmail('dave') })
      const { b, bob, csrf, bobSession } = await bobOnDavesPage(w.instance, w.api, '/sign-up', ticketOf(inv.url))
      const res = await b.post('/sign-up', { _csrf: csrf, __clerk_ticket: ticketOf(inv.url), password: PASSWORD, first_name: 'Dave' })
      await assertRefused(b, res, bob, bobSession)
      assert.deepEqual(await usersWith(w.api, inv.email_address), [], 'no account for Dave')
      assert.equal((await invitationNow(w, inv.id)).status, 'pending')
    })
  })

  describe('POST /sign-in with a ticket for another address', () => {
    // @see issue 12
    it('application invitation: 409, and Dave not signed in, the invitation still pending, Bob still signed in', async () => {
      const { instance, secretKey } = await t.newInstance('Acme')
      const api = client(t.app, secretKey)
      const dave = await person(api, { first: 'Dave' })
      const inv = await makeInvitation(api, { email_address: dave.email, ignore_existing: true })
      const { b, bob, csrf, bobSession } = await bobOnDavesPage(instance, api, '/sign-in', ticketOf(inv.url))
      const res = await b.post('/sign-in', { _csrf: csrf, __clerk_ticket: ticketOf(inv.url), identifier: dave.email, password: PASSWORD })
      await assertRefused(b, res, bob, bobSession)
      assert.deepEqual((await usersWith(api, dave.email)).map((u) => u.last_sign_in_at), [null], 'Dave never signed in')
      assert.ok(await isPending(api, inv.id), 'the invitation is still pending')
    })

    // @see issue 12
    it('organization invitation: 409, and Dave not signed in nor a member, the invitation still pending, Bob still signed in', async () => {
      const dave = await person(w.api, { first: 'Dave' })
      const inv = await inviteTo(w, { email_address: dave.email })
      const { b, bob, csrf, bobSession } = await bobOnDavesPage(w.instance, w.api, '/sign-in', ticketOf(inv.url))
      const res = await b.post('/sign-in', { _csrf: csrf, __clerk_ticket: ticketOf(inv.url), identifier: dave.email, password: PASSWORD })
      await assertRefused(b, res, bob, bobSession)
      assert.deepEqual((await usersWith(w.api, dave.email)).map((u) => u.last_sign_in_at), [null], 'Dave never signed in')
      assert.equal((await invitationNow(w, inv.id)).status, 'pending')
    })
  })
})
