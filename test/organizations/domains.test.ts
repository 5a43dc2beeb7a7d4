import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesSpec, loadBapiSpec, webhookEventValidator } from '../helpers/spec.js'

const spec = loadBapiSpec()

forEachDatabase('organization domains', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  let counter = 0
  const uniqueDomain = () => `d${Date.now().toString(36)}${(counter++).toString(36)}.example.org`

  async function fresh() {
    const { instance, secretKey } = await t.newInstance()
    const api = client(t.app, secretKey)
    const org = async (name = 'Acme') => {
      const res = await api.post('/v1/organizations', { name })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      return res.body as { id: string; name: string; slug: string }
    }
    return { instance, api, org }
  }

  const assertError = (res: { status: number; body: any }, status: number, code: string, param?: string) => {
    assert.equal(res.status, status, JSON.stringify(res.body))
    assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
    if (param) assert.equal(res.body.errors[0].meta?.param_name, param, JSON.stringify(res.body))
  }

  /** The code in the newest message sent to `to`, from the dev mailbox. */
  async function mailedCode(to: string): Promise<string> {
    await t.outboxWorker.drain()
    const [message] = await t.db.query<{ text: string }>('select text from dev_mailbox_messages where to_address = $1 order by created_at desc limit 1', [to])
    assert.ok(message, `an email reached ${to}`)
    return /\b(\d{6})\b/.exec(message.text)![1]!
  }

  describe('POST /v1/organizations/{id}/domains', () => {
    it('adds a verified domain by default, in Clerk\'s shape, and queues organizationDomain.created', async () => {
      const { api, org, instance } = await fresh()
      const acme = await org()
      const name = uniqueDomain()
      const res = await api.post(`/v1/organizations/${acme.id}/domains`, { name: `@${name.toUpperCase()}`, enrollment_mode: 'automatic_invitation' })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('CreateOrganizationDomain', 200), res.body, 'create domain 200')
      const domain = res.body
      assert.match(domain.id, /^orgdmn_/)
      assert.equal(domain.name, name)
      assert.equal(domain.organization_id, acme.id)
      assert.equal(domain.enrollment_mode, 'automatic_invitation')
      assert.equal(domain.ownership_verification.status, 'verified')
      assert.equal(domain.ownership_verification.strategy, 'admin')
      assert.equal(domain.ownership_verification.verified_at, t.clock.now())
      assert.equal(domain.total_pending_invitations, 0)
      assert.deepEqual(domain.public_organization_data, { id: acme.id, name: 'Acme', slug: acme.slug, image_url: '', has_image: false })

      const events: { payload: any }[] = await t.db.query(`select payload from outbox where instance_id = $1 and topic = 'organizationDomain.created'`, [instance.id])
      assert.equal(events.length, 1)
      const validate = webhookEventValidator('organizationDomain.created')
      assert.ok(validate(events[0]!.payload), JSON.stringify(validate.errors))
      assert.equal((events[0]!.payload as { data: { id: string } }).data.id, domain.id)
    })

    it('refuses bad names, shared email providers, unknown modes and duplicates, naming the parameter', async () => {
      const { api, org } = await fresh()
      const acme = await org()
      const url = `/v1/organizations/${acme.id}/domains`
      assertError(await api.post(url, { name: 'not a domain' }), 422, 'form_param_format_invalid', 'name')
      assertError(await api.post(url, { name: 'localhost' }), 422, 'form_param_format_invalid', 'name')
      assertError(await api.post(url, { name: 'Gmail.com' }), 422, 'form_param_value_invalid', 'name')
      assertError(await api.post(url, { name: uniqueDomain(), enrollment_mode: 'enterprise_sso' }), 422, 'form_param_value_invalid', 'enrollment_mode')
      assertError(await api.post(url, { name: uniqueDomain(), enrollment_mode: 'sometimes' }), 422, 'form_param_value_invalid', 'enrollment_mode')
      assertError(await api.post(url, {}), 422, 'form_param_missing', 'name')
      const name = uniqueDomain()
      assert.equal((await api.post(url, { name })).status, 200)
      assertError(await api.post(url, { name }), 400, 'duplicate_record', 'name')
      assertError(await api.post('/v1/organizations/org_missing/domains', { name: uniqueDomain() }), 404, 'resource_not_found')
    })

    it('lets one organization only hold a domain verified', async () => {
      const { api, org } = await fresh()
      const [a, b] = [await org('A'), await org('B')]
      const name = uniqueDomain()
      assert.equal((await api.post(`/v1/organizations/${a.id}/domains`, { name })).status, 200)
      assertError(await api.post(`/v1/organizations/${b.id}/domains`, { name }), 400, 'duplicate_record', 'name')
      const unverified = await api.post(`/v1/organizations/${b.id}/domains`, { name, verified: false })
      assert.equal(unverified.status, 200, JSON.stringify(unverified.body))
      assert.equal(unverified.body.ownership_verification, null)
      assert.equal(unverified.body.affiliation_verification, null)
      assertError(await api.post(`/v1/organizations/${b.id}/domains/${unverified.body.id}/verify_ownership`), 400, 'duplicate_record', 'name')
      assertError(await api.patch(`/v1/organizations/${b.id}/domains/${unverified.body.id}`, { verified: true }), 400, 'duplicate_record', 'name')
    })
  })

  describe('verification by an emailed code', () => {
    it('emails a code to an address at the domain; the right code verifies it, wrong ones count down', async () => {
      const { api, org } = await fresh()
      const acme = await org()
      const name = uniqueDomain()
      const domain = (await api.post(`/v1/organizations/${acme.id}/domains`, { name, verified: false })).body
      const base = `/v1/organizations/${acme.id}/domains/${domain.id}`

      assertError(await api.post(`${base}/attempt_affiliation_verification`, { code: '000000' }), 400, 'verification_failed', 'code')
      assertError(await api.post(`${base}/prepare_affiliation_verification`, { affiliation_email_address: uniqueEmail() }), 422, 'form_param_value_invalid', 'affiliation_email_address')

      const address = `it@${name}`
      const prepared = await api.post(`${base}/prepare_affiliation_verification`, { affiliation_email_address: address })
      assert.equal(prepared.status, 200, JSON.stringify(prepared.body))
      assertMatchesSpec(spec.response('CreateOrganizationDomain', 200), prepared.body, 'prepared domain')
      assert.equal(prepared.body.affiliation_email_address, address)
      assert.equal(prepared.body.affiliation_verification.status, 'unverified')
      assert.equal(prepared.body.affiliation_verification.strategy, 'email_code')
      assert.equal(prepared.body.ownership_verification, null)
      const code = await mailedCode(address)

      const wrong = code === '123456' ? '654321' : '123456'
      const miss = await api.post(`${base}/attempt_affiliation_verification`, { code: wrong })
      assertError(miss, 422, 'form_code_incorrect', 'code')
      assert.match(miss.body.errors[0].long_message, /4 tries left/)

      const ok = await api.post(`${base}/attempt_affiliation_verification`, { code })
      assert.equal(ok.status, 200, JSON.stringify(ok.body))
      assert.equal(ok.body.affiliation_verification.status, 'verified')
      assert.equal(ok.body.ownership_verification.status, 'verified')
      assert.equal(ok.body.ownership_verification.strategy, 'email_code')
      assertError(await api.post(`${base}/prepare_affiliation_verification`, { affiliation_email_address: address }), 400, 'verification_already_verified')
    })

    it('stops after five wrong codes, and a code past its ten minutes has expired', async () => {
      const { api, org } = await fresh()
      const acme = await org()
      const name = uniqueDomain()
      const domain = (await api.post(`/v1/organizations/${acme.id}/domains`, { name, verified: false })).body
      const base = `/v1/organizations/${acme.id}/domains/${domain.id}`
      await api.post(`${base}/prepare_affiliation_verification`, { affiliation_email_address: `a@${name}` })
      const code = await mailedCode(`a@${name}`)
      const wrong = code === '123456' ? '654321' : '123456'
      const answers = await Promise.all(Array.from({ length: 8 }, () => api.post(`${base}/attempt_affiliation_verification`, { code: wrong })))
      assert.equal(answers.filter((r) => r.body.errors?.[0]?.code === 'form_code_incorrect').length, 5, 'five tries between concurrent guesses')
      assertError(await api.post(`${base}/attempt_affiliation_verification`, { code }), 400, 'verification_failed', 'code')

      // A new code restores the tries; it expires after ten minutes.
      await api.post(`${base}/prepare_affiliation_verification`, { affiliation_email_address: `b@${name}` })
      const second = await mailedCode(`b@${name}`)
      t.clock.advance(10 * 60 * 1000 + 1)
      assertError(await api.post(`${base}/attempt_affiliation_verification`, { code: second }), 400, 'verification_expired', 'code')
      const read = await api.get(`${base}`)
      assert.equal(read.body.affiliation_verification.status, 'expired')
    })

    it('verify_ownership marks it verified on the operator\'s word, once', async () => {
      const { api, org, instance } = await fresh()
      const acme = await org()
      const domain = (await api.post(`/v1/organizations/${acme.id}/domains`, { name: uniqueDomain(), verified: false })).body
      const url = `/v1/organizations/${acme.id}/domains/${domain.id}/verify_ownership`
      const first = await api.post(url)
      assert.equal(first.status, 200, JSON.stringify(first.body))
      assertMatchesSpec(spec.response('VerifyOrganizationDomainOwnership', 200), first.body, 'verify_ownership 200')
      assert.equal(first.body.ownership_verification.strategy, 'manual_override')
      const again = await api.post(url)
      assert.deepEqual(again.body, first.body)
      const updates = await t.db.query(`select 1 from outbox where instance_id = $1 and topic = 'organizationDomain.updated'`, [instance.id])
      assert.equal(updates.length, 1, 'one event for one change')
    })
  })

  describe('GET, PATCH and DELETE', () => {
    it('lists an organization\'s domains with filters and the instance\'s with search, in Clerk\'s shape', async () => {
      const { api, org } = await fresh()
      const [a, b] = [await org('A'), await org('B')]
      const names = [uniqueDomain(), uniqueDomain(), uniqueDomain()]
      await api.post(`/v1/organizations/${a.id}/domains`, { name: names[0], enrollment_mode: 'automatic_invitation' })
      await api.post(`/v1/organizations/${a.id}/domains`, { name: names[1], verified: false })
      t.clock.advance(1)
      await api.post(`/v1/organizations/${b.id}/domains`, { name: names[2], enrollment_mode: 'automatic_suggestion' })

      const all = await api.get(`/v1/organizations/${a.id}/domains`)
      assert.equal(all.status, 200, JSON.stringify(all.body))
      assertMatchesSpec(spec.response('ListOrganizationDomains', 200), all.body, 'list 200')
      assert.equal(all.body.total_count, 2)
      assert.deepEqual((await api.get(`/v1/organizations/${a.id}/domains?verified=false`)).body.data.map((d: any) => d.name), [names[1]])
      assert.deepEqual((await api.get(`/v1/organizations/${a.id}/domains?enrollment_mode=automatic_invitation`)).body.data.map((d: any) => d.name), [names[0]])
      assert.deepEqual((await api.get(`/v1/organizations/${a.id}/domains?enrollment_mode=-automatic_invitation`)).body.data.map((d: any) => d.name), [names[1]])
      assert.equal((await api.get(`/v1/organizations/${a.id}/domains?enrollment_mode=enterprise_sso`)).body.total_count, 0)
      assertError(await api.get(`/v1/organizations/${a.id}/domains?enrollment_mode=bogus`), 422, 'form_param_value_invalid', 'enrollment_mode')
      const page = await api.get(`/v1/organizations/${a.id}/domains?limit=1&offset=5`)
      assert.deepEqual(page.body, { data: [], total_count: 2 })

      const everywhere = await api.get('/v1/organization_domains')
      assertMatchesSpec(spec.response('ListAllOrganizationDomains', 200), everywhere.body, 'list all 200')
      assert.equal(everywhere.body.total_count, 3)
      assert.equal(everywhere.body.data[0].name, names[2], 'newest first')
      assert.deepEqual((await api.get(`/v1/organization_domains?query=${b.id}`)).body.data.map((d: any) => d.name), [names[2]])
      assert.deepEqual((await api.get(`/v1/organization_domains?query=${names[1]!.split('.')[0]!.toUpperCase()}`)).body.data.map((d: any) => d.name), [names[1]])
      assert.deepEqual((await api.get(`/v1/organization_domains?domains=${names[0]}&domains=${names[2]}&order_by=name`)).body.data.map((d: any) => d.name), [names[0], names[2]].sort())
      assertError(await api.get('/v1/organization_domains?query=%20'), 422, 'form_param_value_invalid', 'query')
      assertError(await api.get('/v1/organization_domains?order_by=size'), 422, 'form_param_value_invalid', 'order_by')
    })

    it('changes the enrollment mode and verification, deletes, and keeps other instances out', async () => {
      const { api, org } = await fresh()
      const acme = await org()
      const domain = (await api.post(`/v1/organizations/${acme.id}/domains`, { name: uniqueDomain() })).body
      const url = `/v1/organizations/${acme.id}/domains/${domain.id}`
      const patched = await api.patch(url, { enrollment_mode: 'automatic_suggestion', verified: false })
      assert.equal(patched.status, 200, JSON.stringify(patched.body))
      assertMatchesSpec(spec.response('UpdateOrganizationDomain', 200), patched.body, 'update 200')
      assert.equal(patched.body.enrollment_mode, 'automatic_suggestion')
      assert.equal(patched.body.ownership_verification, null)

      const other = client(t.app, (await t.newInstance()).secretKey)
      assertError(await other.get(url), 404, 'resource_not_found')
      assertError(await other.patch(url, { verified: true }), 404, 'resource_not_found')
      assertError(await other.delete(url), 404, 'resource_not_found')
      assert.equal((await other.get('/v1/organization_domains')).body.total_count, 0)

      const removed = await api.delete(url)
      assert.deepEqual(removed.body, { object: 'organization_domain', id: domain.id, deleted: true })
      assertError(await api.get(url), 404, 'resource_not_found')
    })
  })

  describe('enrollment', () => {
    it('invites a new user at a verified automatic_invitation domain, and suggests at an automatic_suggestion one', async () => {
      const { api, org, instance } = await fresh()
      const [inviting, suggesting, manual, unverified] = [await org('Inviting'), await org('Suggesting'), await org('Manual'), await org('Unverified')]
      const name = uniqueDomain()
      const other = uniqueDomain()
      await api.post(`/v1/organizations/${inviting.id}/domains`, { name, enrollment_mode: 'automatic_invitation' })
      await api.post(`/v1/organizations/${suggesting.id}/domains`, { name: other, enrollment_mode: 'automatic_suggestion' })
      await api.post(`/v1/organizations/${manual.id}/domains`, { name: uniqueDomain(), enrollment_mode: 'manual_invitation' })
      await api.post(`/v1/organizations/${unverified.id}/domains`, { name, enrollment_mode: 'automatic_invitation', verified: false })

      const ada = await api.post('/v1/users', { email_address: [`ada@${name.toUpperCase()}`] })
      assert.equal(ada.status, 200, JSON.stringify(ada.body))
      const invitations = await api.get(`/v1/users/${ada.body.id}/organization_invitations`)
      assert.equal(invitations.body.total_count, 1, JSON.stringify(invitations.body))
      const [invitation] = invitations.body.data
      assert.equal(invitation.organization_id ?? invitation.public_organization_data?.id, inviting.id)
      assert.equal(invitation.email_address, `ada@${name}`)
      assert.equal(invitation.role, 'org:member')
      assert.equal(invitation.inviter_id ?? null, null)
      assert.equal((await api.get(`/v1/organizations/${unverified.id}/invitations`)).body.total_count, 0)
      // Automatic invitations stay out of the organization's own lists, as in Clerk.
      assert.equal((await api.get(`/v1/organizations/${inviting.id}/invitations`)).body.total_count, 0)
      const domains = await api.get(`/v1/organizations/${inviting.id}/domains`)
      assert.equal(domains.body.data[0].total_pending_invitations, 1)
      const mails = await t.db.query(`select 1 from outbox where instance_id = $1 and kind = 'email' and topic = 'organization_invitation'`, [instance.id])
      assert.equal(mails.length, 0, 'automatic invitations are shown, not emailed')

      const grace = await api.post('/v1/users', { email_address: [`grace@${other}`] })
      const suggestions = await t.db.query('select organization_id, status from organization_suggestions where user_id = $1', [grace.body.id])
      assert.deepEqual(suggestions, [{ organization_id: suggesting.id, status: 'pending' }])
      assert.equal((await api.get(`/v1/organizations/${suggesting.id}/domains`)).body.data[0].total_pending_suggestions, 1)
      assert.equal((await api.get(`/v1/organizations/${suggesting.id}/invitations`)).body.total_count, 0)
    })

    it('still creates the user when the organization has no seat left for an automatic invitation', async () => {
      const { api } = await fresh()
      const creator = await api.post('/v1/users', { email_address: [uniqueEmail('creator')] })
      const full = await api.post('/v1/organizations', { name: 'Full', created_by: creator.body.id, max_allowed_memberships: 1 })
      assert.equal(full.status, 200, JSON.stringify(full.body))
      const name = uniqueDomain()
      await api.post(`/v1/organizations/${full.body.id}/domains`, { name, enrollment_mode: 'automatic_invitation' })
      const ada = await api.post('/v1/users', { email_address: [`ada@${name}`] })
      assert.equal(ada.status, 200, JSON.stringify(ada.body))
      assert.equal((await api.get(`/v1/users/${ada.body.id}/organization_invitations`)).body.total_count, 0)
      assert.equal((await api.get(`/v1/users/${ada.body.id}`)).status, 200)
    })
  })
})
