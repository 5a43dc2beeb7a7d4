import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, formOf, textOf, type Browser } from '../pages/page-client.js'
import type { Instance } from '../../src/instance/instance.schemas.js'
import type { LinkAttemptRow } from '../../src/invitation-links/invitation-links.store.js'

const PASSWORD = 'correct horse battery'

forEachDatabase('invitation links: the link page', (engine) => {
  let t: TestApp
  let api: Client
  let instance: Instance
  let orgId: string
  before(async () => {
    t = await buildTestApp({ engine })
    const made = await t.newInstance('Acme Rockets')
    instance = made.instance
    api = client(t.app, made.secretKey)
    orgId = (await api.post('/v1/organizations', { name: 'Launch Team' })).body.id
  })
  after(() => t.close())

  const makeLink = async (body: Record<string, unknown> = {}) => {
    const res = await api.post('/v1/invitation_links', body)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body as { id: string; url: string; use_count: number }
  }
  const linkById = async (id: string) => (await api.get(`/v1/invitation_links/${id}`)).body
  const attemptsOf = (linkId: string) => t.db.query<LinkAttemptRow>('select * from invitation_link_attempts where link_id = $1 order by created_at', [linkId])
  const codeEmails = async (to: string) =>
    (await t.db.query<{ n: number }>(`select count(*)::int as n from outbox where kind = 'email' and topic = 'verification_code' and payload->>'to' = $1`, [to]))[0]!.n

  /** Opens the link, gives `email`, and answers the code page with the right code; the answer to the code. */
  async function prove(b: Browser, link: { id: string; url: string }, email: string) {
    const page = await b.get(link.url)
    assert.equal(page.statusCode, 200, page.body)
    const sent = await b.submit(page, { email_address: email })
    assert.equal(sent.statusCode, 303, sent.body)
    const codePage = await b.follow(sent)
    assert.equal(codePage.statusCode, 200, codePage.body)
    assert.match(textOf(codePage.body), new RegExp(`We sent a 6-digit code to ${email.replaceAll('.', '\\.')}`))
    const attempt = (await attemptsOf(link.id)).filter((a) => a.email_address === email).at(-1)!
    return { codePage, code: t.services.invitationLinks.codeFor(attempt) }
  }

  it('opening the link changes nothing: no use, no attempt, no email, however often', async () => {
    const link = await makeLink({ max_uses: 1 })
    const b = browser(t.app)
    for (let i = 0; i < 3; i++) {
      const page = await b.get(link.url)
      assert.equal(page.statusCode, 200)
      assert.match(textOf(page.body), /You were invited to join Acme Rockets/)
      assert.equal(formOf(page.body).action, '/join')
      assert.ok(formOf(page.body).fields._csrf)
    }
    assert.equal((await linkById(link.id)).use_count, 0)
    assert.equal((await attemptsOf(link.id)).length, 0)
    // The code email's link, opened by a scanner, changes nothing either.
    const email = uniqueEmail()
    const { codePage } = await prove(b, link, email)
    const verifyUrl = `/join/verify?attempt=${formOf(codePage.body).fields.attempt}`
    for (let i = 0; i < 2; i++) assert.equal((await browser(t.app).get(verifyUrl)).statusCode, 200)
    assert.equal((await linkById(link.id)).use_count, 0)
    assert.equal((await attemptsOf(link.id))[0]!.failed_attempts, 0)
  })

  it('refuses a form without its CSRF token', async () => {
    const link = await makeLink()
    const b = browser(t.app)
    const page = await b.get(link.url)
    const { fields } = formOf(page.body)
    const forged = await b.post('/join', { token: fields.token!, email_address: uniqueEmail() })
    assert.equal(forged.statusCode, 403)
    assert.equal((await attemptsOf(link.id)).length, 0)
  })

  it('an application link: address, code, sign-up, signed in with the link\'s public metadata; the use is listed', async () => {
    const link = await makeLink({ public_metadata: { plan: 'community' } })
    const b = browser(t.app)
    const email = uniqueEmail('joiner')
    const { codePage, code } = await prove(b, link, email)
    const wrong = await b.submit(codePage, { code: code === '000000' ? '111111' : '000000' })
    assert.equal(wrong.statusCode, 422)
    assert.match(textOf(wrong.body), /That code is not right/)
    assert.equal((await linkById(link.id)).use_count, 0)
    const right = await b.submit(wrong, { code })
    assert.equal(right.statusCode, 303, right.body)
    assert.match(String(right.headers.location), /\/v1\/tickets\/accept\?ticket=/)
    const signUp = await b.follow(await b.follow(right))
    assert.equal(signUp.statusCode, 200, signUp.body)
    const done = await b.submit(signUp, { password: PASSWORD, first_name: 'Ada' })
    assert.equal(done.statusCode, 303, done.body)
    const [user] = (await api.get(`/v1/users?email_address=${encodeURIComponent(email)}`)).body
    assert.deepEqual(user.public_metadata, { plan: 'community' })
    assert.equal(user.first_name, 'Ada')
    const after = await linkById(link.id)
    assert.equal(after.use_count, 1)
    const uses = (await api.get(`/v1/invitation_links/${link.id}/uses?paginated=true`)).body
    assert.equal(uses.total_count, 1)
    assert.equal(uses.data[0].email_address, email)
    assert.equal(uses.data[0].user_id, user.id)
    assert.equal(uses.data[0].joined, true)
    // The event is about the use, so that erasing the person takes it along.
    const events = await t.db.query<{ payload: any }>(`select payload from outbox where subject_id = $1 and topic = 'invitationLink.used'`, [uses.data[0].id])
    assert.equal(events.length, 1)
    assert.equal(events[0]!.payload.data.use.email_address, email)
    assert.equal(events[0]!.payload.data.use_count, 1)
    // The same address again is not a second use.
    const again = await prove(b, link, email)
    const answer = await b.submit(again.codePage, { code: again.code })
    assert.equal(answer.statusCode, 200)
    assert.match(textOf(answer.body), /has already used this link to join Acme Rockets/)
    assert.equal((await linkById(link.id)).use_count, 1)
  })

  it('an organization link: the person joins with the link\'s role, in restricted sign-up mode too', async () => {
    assert.equal((await api.patch('/v1/instance', { sign_up_mode: 'restricted' })).status, 200)
    try {
      const link = await makeLink({ organization_id: orgId, role: 'org:admin', public_metadata: { via: 'link' } })
      const b = browser(t.app)
      const email = uniqueEmail('member')
      const { codePage, code } = await prove(b, link, email)
      const signUp = await b.follow(await b.follow(await b.submit(codePage, { code })))
      assert.equal(signUp.statusCode, 200, signUp.body)
      assert.match(textOf(signUp.body), /Launch Team/)
      assert.equal((await b.submit(signUp, { password: PASSWORD })).statusCode, 303)
      const [user] = (await api.get(`/v1/users?email_address=${encodeURIComponent(email)}`)).body
      const memberships = (await api.get(`/v1/users/${user.id}/organization_memberships`)).body.data
      assert.equal(memberships.length, 1)
      assert.equal(memberships[0].organization.id, orgId)
      assert.equal(memberships[0].role, 'org:admin')
      assert.deepEqual(memberships[0].public_metadata, { via: 'link' })
      const [use] = (await api.get(`/v1/invitation_links/${link.id}/uses`)).body
      assert.equal(use.user_id, user.id)
      // The organization's own invitation list shows only invitations someone sent.
      assert.equal((await api.get(`/v1/organizations/${orgId}/invitations`)).body.total_count, 0)
    } finally {
      await api.patch('/v1/instance', { sign_up_mode: 'public' })
    }
  })

  it('an address counted but not joined goes back to its invitation, and gets a new one once that expired, without a second use', async () => {
    const link = await makeLink({ max_uses: 2 })
    const email = uniqueEmail('late')
    const b = browser(t.app)
    const first = await prove(b, link, email)
    const toFirst = await b.submit(first.codePage, { code: first.code })
    assert.equal(toFirst.statusCode, 303)
    const again = await prove(b, link, email)
    const toSame = await b.submit(again.codePage, { code: again.code })
    assert.equal(toSame.headers.location, toFirst.headers.location)
    t.clock.advance(2 * 86_400_000)
    const later = await prove(b, link, email)
    const toNew = await b.submit(later.codePage, { code: later.code })
    assert.equal(toNew.statusCode, 303)
    assert.notEqual(toNew.headers.location, toFirst.headers.location)
    assert.equal((await b.follow(await b.follow(toNew))).statusCode, 200)
    assert.equal((await b.follow(await b.follow(toFirst))).statusCode, 200, 'the expired invitation leads to the plain sign-up')
    assert.equal((await linkById(link.id)).use_count, 1)
    assert.equal((await api.get(`/v1/invitation_links/${link.id}/uses?paginated=true`)).body.total_count, 1)
  })

  it('refuses an address outside the allowed domains before any code is sent', async () => {
    const link = await makeLink({ allowed_domains: ['acme.com'] })
    const b = browser(t.app)
    const page = await b.get(link.url)
    assert.match(textOf(page.body), /for addresses at acme\.com/)
    const email = uniqueEmail('outsider')
    const refused = await b.submit(page, { email_address: email })
    assert.equal(refused.statusCode, 422)
    assert.match(textOf(refused.body), /This link is for addresses at acme\.com only/)
    assert.equal(await codeEmails(email), 0)
    assert.equal((await attemptsOf(link.id)).length, 0)
    const inside = await b.submit(refused, { email_address: `someone.${Date.now()}@acme.com` })
    assert.equal(inside.statusCode, 303)
  })

  it('revoked, expired and used-up links are refused with pages that say so, before and after the code', async () => {
    const revoked = await makeLink()
    const b = browser(t.app)
    const pending = await prove(b, revoked, uniqueEmail())
    await api.post(`/v1/invitation_links/${revoked.id}/revoke`)
    let res = await b.get(revoked.url)
    assert.equal(res.statusCode, 410)
    assert.match(textOf(res.body), /This invitation link was withdrawn/)
    res = await b.submit(pending.codePage, { code: pending.code })
    assert.equal(res.statusCode, 410)
    assert.equal((await linkById(revoked.id)).use_count, 0)

    const expiring = await makeLink({ expires_at: t.clock.now() + 60_000 })
    t.clock.advance(61_000)
    res = await b.get(expiring.url)
    assert.equal(res.statusCode, 410)
    assert.match(textOf(res.body), /This invitation link has expired/)

    const single = await makeLink({ max_uses: 1 })
    const one = browser(t.app)
    const two = browser(t.app)
    const a = await prove(one, single, uniqueEmail())
    const c = await prove(two, single, uniqueEmail())
    assert.equal((await one.submit(a.codePage, { code: a.code })).statusCode, 303)
    assert.equal((await linkById(single.id)).status, 'used_up')
    res = await two.submit(c.codePage, { code: c.code })
    assert.equal(res.statusCode, 410)
    assert.match(textOf(res.body), /used as many times as it allows/)
    res = await browser(t.app).get(single.url)
    assert.equal(res.statusCode, 410)

    res = await browser(t.app).get('/join?token=nosuchtoken')
    assert.equal(res.statusCode, 404)
    assert.match(textOf(res.body), /This invitation link is not valid/)
  })

  it('an address with an account is sent to sign in from an application link, and nothing is counted', async () => {
    const email = uniqueEmail('existing')
    assert.equal((await api.post('/v1/users', { email_address: [email], password: PASSWORD })).status, 200)
    const link = await makeLink()
    const b = browser(t.app)
    const { codePage, code } = await prove(b, link, email)
    const res = await b.submit(codePage, { code })
    assert.equal(res.statusCode, 200)
    assert.match(textOf(res.body), /already has an account on Acme Rockets/)
    assert.equal((await linkById(link.id)).use_count, 0)
  })

  it('limits each client per link page', async () => {
    const link = await makeLink()
    const b = browser(t.app)
    const page = await b.get(link.url)
    let last = page
    for (let i = 0; i < 30; i++) {
      last = await b.submit(page, { email_address: 'not an address' })
      assert.equal(last.statusCode, 422)
    }
    last = await b.submit(page, { email_address: 'not an address' })
    assert.equal(last.statusCode, 429)
    assert.ok(last.headers['retry-after'])
  })

  // @see issue 19
  it('limits each link across clients: a link posted in a crowd takes 300 tries in 15 minutes, then 429 for everyone', async () => {
    const link = await makeLink()
    const other = await makeLink()
    // Ten clients, each under its own limit of 30, together reach the link's 300.
    for (let client = 0; client < 10; client++) {
      const b = browser(t.app, `10.9.${client}.1`)
      const page = await b.get(link.url)
      for (let i = 0; i < 30; i++) assert.equal((await b.submit(page, { email_address: 'not an address' })).statusCode, 422)
    }
    const newcomer = browser(t.app, '10.9.99.1')
    const refused = await newcomer.submit(await newcomer.get(link.url), { email_address: 'not an address' })
    assert.equal(refused.statusCode, 429, 'a client that never tried is refused on this link')
    assert.ok(refused.headers['retry-after'])
    assert.equal((await newcomer.submit(await newcomer.get(other.url), { email_address: 'not an address' })).statusCode, 422, 'another link is not held up')
  })

  it('never counts past max_uses: 20 addresses proven at once against a limit of 5', async () => {
    const link = await makeLink({ max_uses: 5 })
    const token = new URL(link.url).searchParams.get('token')!
    const links = t.services.invitationLinks
    const attempts = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const { attemptId } = await links.start(token, uniqueEmail(`racer${i}`))
      const found = await links.attempt(attemptId)
      return { attemptId, code: links.codeFor(found!.attempt) }
    }))
    const results = await Promise.allSettled(attempts.map((a) => links.redeem(a.attemptId, a.code)))
    const won = results.filter((r) => r.status === 'fulfilled' && r.value.kind === 'invitation')
    assert.equal(won.length, 5)
    for (const r of results) {
      if (r.status === 'rejected') assert.equal((r.reason as { status?: number }).status, 410, String(r.reason))
      else assert.equal(r.value.kind, 'invitation')
    }
    const after = await linkById(link.id)
    assert.equal(after.use_count, 5)
    assert.equal(after.status, 'used_up')
    assert.equal((await api.get(`/v1/invitation_links/${link.id}/uses?paginated=true`)).body.total_count, 5)
    const invitations = await t.db.query('select 1 from invitations where instance_id = $1 and email_address like $2', [instance.id, 'racer%'])
    assert.equal(invitations.length, 5)
  })

})
