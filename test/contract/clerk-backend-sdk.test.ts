import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { ClerkClient, Invitation } from '@clerk/backend'
import type { ClerkAPIResponseError } from '@clerk/backend/errors'
import type { ValidateFunction } from 'ajv'
import { APP_ORIGIN, PUBLIC_URL, uniqueEmail, type TestApp, forEachSdkTarget, startSdkServer, type SdkServer } from '../helpers/build-app.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { createClerkClient, exchanges, isClerkAPIResponseError, recordEachTest, recorded, sdkError, type Exchange } from './sdk-recorder.js'

const spec = loadBapiSpec()
const DAY_MS = 24 * 60 * 60 * 1000
const TICKET_URL = `${PUBLIC_URL}/v1/tickets/accept?ticket=`

interface ExpectedError {
  status: number
  /** Clerk's code where Clerk's own is known; a pattern where only its family is. */
  code: string | RegExp
  paramName?: string
  /** The spec's schema for this error body. */
  schema: ValidateFunction
}

/** Checks what the SDK surfaces and the raw body it surfaced it from. */
function assertClerkError(err: ClerkAPIResponseError, raw: Exchange & { body: any }, expected: ExpectedError) {
  assert.equal(raw.status, expected.status)
  assertMatchesSpec(expected.schema, raw.body, `${raw.method} ${raw.url.pathname} ${raw.status} body`)
  assert.equal(err.status, expected.status)
  assert.equal(err.errors.length, 1)
  if (typeof expected.code === 'string') assert.equal(err.errors[0]?.code, expected.code)
  else assert.match(err.errors[0]?.code ?? '', expected.code)
  assert.ok(err.errors[0]?.message, 'errors[0].message is empty')
  assert.ok(err.errors[0]?.longMessage, 'errors[0].longMessage is empty')
  if (expected.paramName !== undefined) assert.equal(err.errors[0]?.meta?.paramName, expected.paramName)
  assert.equal(typeof raw.body.clerk_trace_id, 'string')
  assert.ok(raw.body.clerk_trace_id.length > 0, 'clerk_trace_id is empty')
  assert.equal(err.clerkTraceId, raw.body.clerk_trace_id)
}

forEachSdkTarget('@clerk/backend invitations', (target) => {
  let server: SdkServer
  let t: TestApp
  let apiUrl: string

  before(async () => {
    server = await startSdkServer(target)
    t = server.t
    apiUrl = server.apiUrl
  })
  after(() => server.close())
  recordEachTest()

  /** An SDK client for an instance of its own, so that each test sees only its own data. */
  async function newClerk(): Promise<{ clerk: ClerkClient; secretKey: string }> {
    const { secretKey } = await t.newInstance()
    return { clerk: createClerkClient({ secretKey, apiUrl, telemetry: { disabled: true } }), secretKey }
  }

  /** Foyer's own endpoints (instance settings, test clock) have no SDK method: plain fetch. */
  async function foyer(secretKey: string, method: string, path: string, body: unknown): Promise<any> {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${secretKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    const json = await res.json()
    assert.equal(res.status, 200, `${method} ${path}: ${JSON.stringify(json)}`)
    return json
  }

  const advanceClock = (secretKey: string, ms: number) => foyer(secretKey, 'POST', '/v1/testing/clock', { advance_ms: ms })

  /**
   * carol, alice and bob invited one second apart (so created_at, email_address and expires_at
   * each give a different order), and dave invited then revoked.
   */
  async function seedList(clerk: ClerkClient, secretKey: string) {
    const invite = async (name: string, expiresInDays: number) => {
      const inv = await clerk.invitations.createInvitation({ emailAddress: uniqueEmail(name), notify: false, expiresInDays })
      await advanceClock(secretKey, 1000)
      return inv
    }
    const carol = await invite('carol', 30)
    const alice = await invite('alice', 7)
    const bob = await invite('bob', 14)
    const dave = await invite('dave', 30)
    await clerk.invitations.revokeInvitation(dave.id)
    return { carol, alice, bob, dave }
  }

  describe('createInvitation', () => {
    it('createInvitation returns Clerk\'s Invitation and a spec-valid body', async () => {
      const { clerk, secretKey } = await newClerk()
      const emailAddress = uniqueEmail('every.param')
      const first = await clerk.invitations.createInvitation({ emailAddress, notify: false })
      await advanceClock(secretKey, 1000)
      // camelCase keys inside publicMetadata must survive: the SDK snake_cases only top-level keys.
      const publicMetadata = { planTier: 'pro', seats: 3, nested: { a: [1, 2], ok: true } }

      const inv = await clerk.invitations.createInvitation({
        emailAddress,
        publicMetadata,
        redirectUrl: `${APP_ORIGIN}/welcome`,
        notify: false,
        ignoreExisting: true,
        expiresInDays: 7,
        templateSlug: 'invitation',
      })

      const raw = recorded('POST', '/v1/invitations')
      // Clerk answers 200 (not 201) on create.
      assert.equal(raw.status, 200)
      assertMatchesSpec(spec.response('CreateInvitation', 200), raw.body, 'POST /v1/invitations 200 body')
      assert.equal(raw.body.object, 'invitation')
      assert.equal(raw.body.id, inv.id)
      assert.equal(raw.body.expires_at, raw.body.created_at + 7 * DAY_MS)

      assert.match(inv.id, /^inv_/)
      assert.notEqual(inv.id, first.id)
      assert.equal(inv.emailAddress, emailAddress)
      assert.deepEqual(inv.publicMetadata, publicMetadata)
      assert.equal(inv.status, 'pending')
      assert.equal(inv.revoked, false)
      assert.ok(inv.url?.startsWith(TICKET_URL), `url ${inv.url}`)
      assert.notEqual(inv.url, first.url)
      assert.equal(typeof inv.createdAt, 'number')
      assert.equal(inv.createdAt, first.createdAt + 1000)
      assert.equal(inv.updatedAt, inv.createdAt)
      assert.deepEqual(inv.raw, raw.body)
      // This SDK version's Invitation has no expiresAt (only `raw` has expires_at); compare it once one does.
      const expiresAt = (inv as unknown as { expiresAt?: unknown }).expiresAt
      if (expiresAt !== undefined) assert.equal(expiresAt, raw.body.expires_at)
    })

    it('createInvitation with only emailAddress defaults to 30 days and empty publicMetadata', async () => {
      const { clerk } = await newClerk()
      const emailAddress = uniqueEmail('minimal')
      const inv = await clerk.invitations.createInvitation({ emailAddress })
      const raw = recorded('POST', '/v1/invitations')
      assertMatchesSpec(spec.response('CreateInvitation', 200), raw.body, 'POST /v1/invitations 200 body')
      assert.equal(inv.emailAddress, emailAddress)
      assert.deepEqual(inv.publicMetadata, {})
      assert.equal(inv.status, 'pending')
      assert.equal(raw.body.expires_at - raw.body.created_at, 30 * DAY_MS)
    })

    it('createInvitation for an address with a pending invitation throws 400 duplicate_record', async () => {
      const { clerk } = await newClerk()
      const emailAddress = uniqueEmail('dup')
      await clerk.invitations.createInvitation({ emailAddress, notify: false })
      const err = await sdkError(clerk.invitations.createInvitation({ emailAddress: emailAddress.toUpperCase(), notify: false }))
      assertClerkError(err, recorded('POST', '/v1/invitations'), {
        status: 400, code: 'duplicate_record', paramName: 'email_address', schema: spec.response('CreateInvitation', 400),
      })
    })

    it('createInvitation with a malformed email address throws 422 naming email_address', async () => {
      const { clerk } = await newClerk()
      const err = await sdkError(clerk.invitations.createInvitation({ emailAddress: 'not-an-email', notify: false }))
      assertClerkError(err, recorded('POST', '/v1/invitations'), {
        status: 422, code: 'form_param_format_invalid', paramName: 'email_address', schema: spec.response('CreateInvitation', 422),
      })
    })

    it('createInvitation with a redirectUrl on a foreign origin throws 422 naming redirect_url', async () => {
      const { clerk } = await newClerk()
      const err = await sdkError(clerk.invitations.createInvitation({
        emailAddress: uniqueEmail('foreign'), redirectUrl: 'https://evil.example.net/welcome', notify: false,
      }))
      assertClerkError(err, recorded('POST', '/v1/invitations'), {
        status: 422, code: /^form_param_/, paramName: 'redirect_url', schema: spec.response('CreateInvitation', 422),
      })
    })

    it('createInvitation with a wrong secret key throws 401 clerk_key_invalid', async () => {
      const clerk = createClerkClient({ secretKey: `sk_test_${randomBytes(24).toString('hex')}`, apiUrl, telemetry: { disabled: true } })
      const err = await sdkError(clerk.invitations.createInvitation({ emailAddress: uniqueEmail('nokey'), notify: false }))
      // CreateInvitation declares no 401 in the spec; Clerk's 401s carry its ClerkErrors body.
      assertClerkError(err, recorded('POST', '/v1/invitations'), {
        status: 401, code: 'clerk_key_invalid', schema: spec.component('ClerkErrors'),
      })
    })

    it('createInvitation beyond the instance\'s create_invitation limit throws 429 with retryAfter', async () => {
      const { clerk, secretKey } = await newClerk()
      const settings = await foyer(secretKey, 'PATCH', '/v1/instance', { rate_limits: { create_invitation: 2 } })
      assert.equal(settings.rate_limits.create_invitation, 2)

      let created = 0
      let err: ClerkAPIResponseError | undefined
      for (let i = 0; i < 5 && !err; i++) {
        try {
          await clerk.invitations.createInvitation({ emailAddress: uniqueEmail(`limited${i}`), notify: false })
          created++
        } catch (e) {
          assert.ok(isClerkAPIResponseError(e), `expected a ClerkAPIResponseError, got ${String(e)}`)
          err = e
        }
      }
      assert.equal(created, 2)
      assert.ok(err, 'createInvitation was never refused')
      const raw = recorded('POST', '/v1/invitations')
      // The spec declares no 429 for CreateInvitation; Clerk's 429s carry its ClerkErrors body.
      assertClerkError(err, raw, { status: 429, code: 'too_many_requests', schema: spec.component('ClerkErrors') })
      const header = raw.headers.get('retry-after')
      assert.match(header ?? '', /^\d+$/, `Retry-After: ${header}`)
      assert.equal(err.retryAfter, Number(header))
      assert.ok(err.retryAfter! > 0, `retryAfter ${err.retryAfter}`)
    })
  })

  describe('createInvitationBulk', () => {
    it('createInvitationBulk returns one Invitation per item, in order, and a spec-valid array', async () => {
      const { clerk } = await newClerk()
      const emails = [uniqueEmail('bulk.a'), uniqueEmail('bulk.b')]
      const invitations = await clerk.invitations.createInvitationBulk([
        { emailAddress: emails[0]!, publicMetadata: { teamId: 't1' }, expiresInDays: 3, notify: false },
        { emailAddress: emails[1]!, redirectUrl: 'http://localhost:5173/join', templateSlug: 'invitation', notify: false },
      ])

      const raw = recorded('POST', '/v1/invitations/bulk')
      assert.equal(raw.status, 200)
      assertMatchesSpec(spec.response('CreateBulkInvitations', 200), raw.body, 'POST /v1/invitations/bulk 200 body')
      assert.equal(raw.body.length, 2)
      assert.equal(raw.body[0].expires_at - raw.body[0].created_at, 3 * DAY_MS)
      assert.equal(raw.body[1].expires_at - raw.body[1].created_at, 30 * DAY_MS)

      assert.deepEqual(invitations.map((i) => i.emailAddress), emails)
      assert.deepEqual(invitations.map((i) => i.status), ['pending', 'pending'])
      assert.deepEqual(invitations[0]!.publicMetadata, { teamId: 't1' })
      assert.deepEqual(invitations[1]!.publicMetadata, {})
      assert.notEqual(invitations[0]!.id, invitations[1]!.id)
      assert.ok(invitations.every((i) => i.url?.startsWith(TICKET_URL)))
    })

    it('createInvitationBulk with one duplicate throws 400 duplicate_record and creates nothing', async () => {
      const { clerk } = await newClerk()
      const taken = await clerk.invitations.createInvitation({ emailAddress: uniqueEmail('bulk.taken'), notify: false })
      const fresh = uniqueEmail('bulk.fresh')
      const err = await sdkError(clerk.invitations.createInvitationBulk([
        { emailAddress: fresh, notify: false },
        { emailAddress: taken.emailAddress, notify: false },
      ]))
      const raw = recorded('POST', '/v1/invitations/bulk')
      assertClerkError(err, raw, { status: 400, code: 'duplicate_record', schema: spec.response('CreateBulkInvitations', 400) })
      assert.match(err.errors[0]?.meta?.paramName ?? '', /email_address$/)

      const list = await clerk.invitations.getInvitationList({ query: fresh })
      assert.equal(list.totalCount, 0)
      assert.deepEqual(list.data, [])
    })
  })

  describe('getInvitationList', () => {
    it('getInvitationList sends paginated=true and returns {data, totalCount} without revoked invitations', async () => {
      const { clerk, secretKey } = await newClerk()
      const { carol, alice, bob, dave } = await seedList(clerk, secretKey)

      const list = await clerk.invitations.getInvitationList()
      const raw = recorded('GET', '/v1/invitations')
      assert.equal(raw.status, 200)
      assert.equal(raw.url.searchParams.get('paginated'), 'true')
      assert.deepEqual(Object.keys(raw.body).sort(), ['data', 'total_count'])
      // With paginated=true the spec's Invitation.List array is wrapped in {data, total_count}.
      assertMatchesSpec(spec.response('ListInvitations', 200), raw.body.data, 'GET /v1/invitations 200 data')
      assert.equal(raw.body.total_count, 3)

      assert.equal(list.totalCount, 3)
      assert.deepEqual(list.data.map((i) => i.id), [bob.id, alice.id, carol.id])
      assert.ok(!list.data.some((i) => i.id === dave.id))
      const listed = list.data.find((i) => i.id === alice.id)
      assert.equal(listed?.emailAddress, alice.emailAddress)
      assert.equal(listed?.status, 'pending')
      assert.equal(listed?.revoked, false)
      assert.equal(listed?.url, alice.url)
      assert.equal(listed?.createdAt, alice.createdAt)
    })

    it('getInvitationList filters by status, including revoked and expired', async () => {
      const { clerk, secretKey } = await newClerk()
      const { carol, alice, bob, dave } = await seedList(clerk, secretKey)

      const revoked = await clerk.invitations.getInvitationList({ status: 'revoked' })
      assertMatchesSpec(spec.response('ListInvitations', 200), recorded('GET', '/v1/invitations').body.data, 'GET /v1/invitations?status=revoked data')
      assert.equal(revoked.totalCount, 1)
      assert.deepEqual(revoked.data.map((i) => [i.id, i.status, i.revoked]), [[dave.id, 'revoked', true]])

      const pending = await clerk.invitations.getInvitationList({ status: 'pending' })
      assert.equal(pending.totalCount, 3)
      assert.deepEqual(pending.data.map((i) => i.id).sort(), [carol.id, alice.id, bob.id].sort())

      // alice was invited for 7 days, bob for 14.
      await advanceClock(secretKey, 8 * DAY_MS)
      const expired = await clerk.invitations.getInvitationList({ status: 'expired' })
      const raw = recorded('GET', '/v1/invitations')
      assertMatchesSpec(spec.response('ListInvitations', 200), raw.body.data, 'GET /v1/invitations?status=expired data')
      assert.equal(expired.totalCount, 1)
      assert.deepEqual(expired.data.map((i) => [i.id, i.status]), [[alice.id, 'expired']])
      const stillPending = await clerk.invitations.getInvitationList({ status: 'pending' })
      assert.equal(stillPending.totalCount, 2)
      assert.deepEqual(stillPending.data.map((i) => i.id).sort(), [carol.id, bob.id].sort())
    })

    it('getInvitationList matches query against a case-insensitive part of the email address or an exact id', async () => {
      const { clerk, secretKey } = await newClerk()
      const { alice, bob } = await seedList(clerk, secretKey)

      const byEmail = await clerk.invitations.getInvitationList({ query: 'ALICE.' })
      assert.equal(recorded('GET', '/v1/invitations').url.searchParams.get('query'), 'ALICE.')
      assert.equal(byEmail.totalCount, 1)
      assert.deepEqual(byEmail.data.map((i) => i.id), [alice.id])

      const byId = await clerk.invitations.getInvitationList({ query: bob.id })
      assert.equal(byId.totalCount, 1)
      assert.deepEqual(byId.data.map((i) => i.id), [bob.id])

      const none = await clerk.invitations.getInvitationList({ query: 'nobody-matches-this' })
      assert.equal(none.totalCount, 0)
      assert.deepEqual(none.data, [])
      assert.deepEqual(recorded('GET', '/v1/invitations').body, { data: [], total_count: 0 })
    })

    it('getInvitationList orders by orderBy with an optional sign', async () => {
      const { clerk, secretKey } = await newClerk()
      const { carol, alice, bob } = await seedList(clerk, secretKey)
      const order = async (orderBy: '+created_at' | '-created_at' | 'email_address' | '-email_address' | 'expires_at' | '-expires_at') => {
        const list = await clerk.invitations.getInvitationList({ orderBy })
        assert.equal(recorded('GET', '/v1/invitations').url.searchParams.get('order_by'), orderBy)
        return list.data.map((i) => i.id)
      }

      assert.deepEqual(await order('-created_at'), [bob.id, alice.id, carol.id])
      assert.deepEqual(await order('+created_at'), [carol.id, alice.id, bob.id])
      assert.deepEqual(await order('email_address'), [alice.id, bob.id, carol.id])
      assert.deepEqual(await order('-email_address'), [carol.id, bob.id, alice.id])
      assert.deepEqual(await order('expires_at'), [alice.id, bob.id, carol.id])
      assert.deepEqual(await order('-expires_at'), [carol.id, bob.id, alice.id])
    })

    it('getInvitationList pages with limit and offset while totalCount counts every match', async () => {
      const { clerk, secretKey } = await newClerk()
      const { carol, alice, bob } = await seedList(clerk, secretKey)

      const first = await clerk.invitations.getInvitationList({ orderBy: '+created_at', limit: 2 })
      assert.equal(recorded('GET', '/v1/invitations').url.searchParams.get('limit'), '2')
      assert.equal(first.totalCount, 3)
      assert.deepEqual(first.data.map((i) => i.id), [carol.id, alice.id])

      const second = await clerk.invitations.getInvitationList({ orderBy: '+created_at', limit: 2, offset: 2 })
      const raw = recorded('GET', '/v1/invitations')
      assert.equal(raw.url.searchParams.get('offset'), '2')
      assertMatchesSpec(spec.response('ListInvitations', 200), raw.body.data, 'GET /v1/invitations?offset=2 data')
      assert.equal(second.totalCount, 3)
      assert.deepEqual(second.data.map((i) => i.id), [bob.id])

      const beyond = await clerk.invitations.getInvitationList({ limit: 2, offset: 10 })
      assert.equal(beyond.totalCount, 3)
      assert.deepEqual(beyond.data, [])
    })

    // The SDK types orderBy and status, but a plain-JavaScript caller can send any string;
    // ListInvitations declares only its 200 in the spec, so errors are checked against ClerkErrors.
    it('getInvitationList with an unknown orderBy throws 422 naming order_by', async () => {
      const { clerk } = await newClerk()
      const err = await sdkError(clerk.invitations.getInvitationList({ orderBy: 'name' as never }))
      assertClerkError(err, recorded('GET', '/v1/invitations'), {
        status: 422, code: /^form_param_/, paramName: 'order_by', schema: spec.component('ClerkErrors'),
      })
    })

    it('getInvitationList with an unknown status throws 422 naming status', async () => {
      const { clerk } = await newClerk()
      const err = await sdkError(clerk.invitations.getInvitationList({ status: 'archived' as never }))
      assertClerkError(err, recorded('GET', '/v1/invitations'), {
        status: 422, code: /^form_param_/, paramName: 'status', schema: spec.component('ClerkErrors'),
      })
    })
  })

  describe('revokeInvitation', () => {
    it('revokeInvitation returns the Invitation revoked and a spec-valid body', async () => {
      const { clerk, secretKey } = await newClerk()
      const inv = await clerk.invitations.createInvitation({ emailAddress: uniqueEmail('revoke'), publicMetadata: { k: 'v' }, notify: false })
      await advanceClock(secretKey, 1000)

      const revoked: Invitation = await clerk.invitations.revokeInvitation(inv.id)

      const raw = recorded('POST', `/v1/invitations/${inv.id}/revoke`)
      assert.equal(raw.status, 200)
      assertMatchesSpec(spec.response('RevokeInvitation', 200), raw.body, `POST /v1/invitations/${inv.id}/revoke 200 body`)
      assert.equal(revoked.id, inv.id)
      assert.equal(revoked.emailAddress, inv.emailAddress)
      assert.deepEqual(revoked.publicMetadata, { k: 'v' })
      assert.equal(revoked.status, 'revoked')
      assert.equal(revoked.revoked, true)
      assert.equal(revoked.createdAt, inv.createdAt)
      assert.equal(revoked.updatedAt, inv.createdAt + 1000)
    })

    it('revokeInvitation of a revoked invitation throws 400', async () => {
      const { clerk } = await newClerk()
      const inv = await clerk.invitations.createInvitation({ emailAddress: uniqueEmail('revoke.twice'), notify: false })
      await clerk.invitations.revokeInvitation(inv.id)
      const err = await sdkError(clerk.invitations.revokeInvitation(inv.id))
      assertClerkError(err, recorded('POST', `/v1/invitations/${inv.id}/revoke`), {
        status: 400, code: /^(?!duplicate_record$|resource_not_found$)[a-z_]+$/, schema: spec.response('RevokeInvitation', 400),
      })
      assert.match(err.errors[0]!.longMessage ?? '', /revoked/)
    })

    it('revokeInvitation of an unknown id throws 404 resource_not_found', async () => {
      const { clerk } = await newClerk()
      const id = 'inv_2zzzzzzzzzzzzzzzzzzzzzzzzzz'
      const err = await sdkError(clerk.invitations.revokeInvitation(id))
      assertClerkError(err, recorded('POST', `/v1/invitations/${id}/revoke`), {
        status: 404, code: 'resource_not_found', schema: spec.response('RevokeInvitation', 404),
      })
    })

    it('revokeInvitation of another instance\'s invitation throws 404 resource_not_found', async () => {
      const { clerk: owner } = await newClerk()
      const { clerk: other } = await newClerk()
      const inv = await owner.invitations.createInvitation({ emailAddress: uniqueEmail('foreign.instance'), notify: false })
      const err = await sdkError(other.invitations.revokeInvitation(inv.id))
      assertClerkError(err, recorded('POST', `/v1/invitations/${inv.id}/revoke`), {
        status: 404, code: 'resource_not_found', schema: spec.response('RevokeInvitation', 404),
      })
      const still = await owner.invitations.getInvitationList({ query: inv.id })
      assert.deepEqual(still.data.map((i) => i.status), ['pending'])
    })
  })

  describe('deleteInvitation', () => {
    it('deleteInvitation returns a DeletedObject and the invitation is gone, whatever its status', async () => {
      const { clerk } = await newClerk()
      const pending = await clerk.invitations.createInvitation({ emailAddress: uniqueEmail('delete.pending'), notify: false })
      const revoked = await clerk.invitations.createInvitation({ emailAddress: uniqueEmail('delete.revoked'), notify: false })
      await clerk.invitations.revokeInvitation(revoked.id)

      for (const inv of [pending, revoked]) {
        const deleted = await clerk.invitations.deleteInvitation(inv.id)
        const raw = recorded('DELETE', `/v1/invitations/${inv.id}`)
        assert.equal(raw.status, 200)
        // DeleteInvitation is not in the spec (Foyer extension); Clerk's DeletedObject is.
        assertMatchesSpec(spec.component('DeletedObject'), raw.body, `DELETE /v1/invitations/${inv.id} 200 body`)
        assert.equal(deleted.object, 'invitation')
        assert.equal(deleted.id, inv.id)
        assert.equal(deleted.deleted, true)
      }

      for (const status of ['pending', 'revoked'] as const) {
        const list = await clerk.invitations.getInvitationList({ status })
        assert.equal(list.totalCount, 0, `${status} after delete`)
      }
    })

    it('deleteInvitation of an unknown id throws 404 resource_not_found', async () => {
      const { clerk } = await newClerk()
      const inv = await clerk.invitations.createInvitation({ emailAddress: uniqueEmail('delete.twice'), notify: false })
      await clerk.invitations.deleteInvitation(inv.id)
      const err = await sdkError(clerk.invitations.deleteInvitation(inv.id))
      assertClerkError(err, recorded('DELETE', `/v1/invitations/${inv.id}`), {
        status: 404, code: 'resource_not_found', schema: spec.component('ClerkErrors'),
      })
    })
  })
})
