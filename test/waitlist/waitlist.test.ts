import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PUBLIC_URL, buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation, makeUser } from '../helpers/factories.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import type { Instance } from '../../src/instance/instance.schemas.js'

const spec = loadBapiSpec()

forEachDatabase('waitlist entries', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const fresh = async (): Promise<{ instance: Instance; api: Client }> => {
    const { instance, secretKey } = await t.newInstance()
    return { instance, api: client(t.app, secretKey) }
  }
  const ids = (list: any[]) => list.map((e) => e.id)

  const join = async (api: Client, email = uniqueEmail('waiting')) => {
    const res = await api.post('/v1/waitlist_entries', { email_address: email })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body
  }

  describe('POST /v1/waitlist_entries and join()', () => {
    it('adds a pending entry in Clerk\'s WaitlistEntry shape; the same address again answers the same entry', async () => {
      const { instance, api } = await fresh()
      const email = uniqueEmail('Joiner')
      const res = await api.post('/v1/waitlist_entries', { email_address: email.toUpperCase(), notify: true })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('CreateWaitlistEntry', 200), res.body, 'POST /v1/waitlist_entries 200 body')
      assert.match(res.body.id, /^wle_/)
      assert.deepEqual(res.body, {
        object: 'waitlist_entry', id: res.body.id, email_address: email.toLowerCase(), status: 'pending', is_locked: false,
        created_at: t.clock.now(), updated_at: t.clock.now(), invitation: null,
      })
      t.clock.advance(5)
      const again = await api.post('/v1/waitlist_entries', { email_address: email, notify: false })
      assert.deepEqual(again.body, res.body)
      const joined = await t.services.waitlist.join(instance, ` ${email} `)
      assert.equal(joined.id, res.body.id)
      assert.equal((await api.get('/v1/waitlist_entries')).body.total_count, 1)
    })

    it('join() refuses a malformed address and one a user holds, naming email_address', async () => {
      const { instance, api } = await fresh()
      await assert.rejects(t.services.waitlist.join(instance, 'nope'), (err: any) => err.status === 422 && err.meta.param_name === 'email_address')
      const email = uniqueEmail('member')
      await makeUser(t.db, instance.id, email)
      const res = await api.post('/v1/waitlist_entries', { email_address: email })
      assert.equal(res.status, 422)
      assert.equal(res.body.errors[0].code, 'form_identifier_exists')
      assert.equal(res.body.errors[0].meta.param_name, 'email_address')
    })

    it('refuses bad bodies with 422 naming the parameter', async () => {
      const { api } = await fresh()
      const cases: [unknown, string, string][] = [
        [{}, 'email_address', 'form_param_missing'],
        [{ email_address: 'a@b.test', notify: 'yes' }, 'notify', 'form_param_type_invalid'],
        [{ email_address: 'a@b.test', extra: 1 }, 'extra', 'form_param_unknown'],
        [{ email_address: 'not an email' }, 'email_address', 'form_param_format_invalid'],
      ]
      for (const [body, param, code] of cases) {
        const res = await api.post('/v1/waitlist_entries', body)
        assert.equal(res.status, 422, JSON.stringify(body))
        assert.equal(res.body.errors[0].meta?.param_name, param)
        assert.equal(res.body.errors[0].code, code)
      }
    })
  })

  describe('GET /v1/waitlist_entries', () => {
    /** Three entries one millisecond apart; bob is invited. */
    const seed = async (api: Client) => {
      const made = []
      for (const name of ['carol', 'alice', 'bob']) {
        made.push(await join(api, `${name}@wait.test`))
        t.clock.advance(1)
      }
      const [carol, alice, bob] = made
      assert.equal((await api.post(`/v1/waitlist_entries/${bob.id}/invite`)).status, 200)
      return { carol, alice, bob }
    }

    it('answers {data, total_count}, newest first, with limit and offset', async () => {
      const { api } = await fresh()
      const { carol, alice, bob } = await seed(api)
      const res = await api.get('/v1/waitlist_entries')
      assert.equal(res.status, 200)
      assertMatchesSpec(spec.response('ListWaitlistEntries', 200), res.body, 'GET /v1/waitlist_entries body')
      assert.equal(res.body.total_count, 3)
      assert.deepEqual(ids(res.body.data), [bob.id, alice.id, carol.id])
      const page = await api.get('/v1/waitlist_entries?limit=1&offset=1')
      assert.deepEqual(page.body, { data: [res.body.data[1]], total_count: 3 })
      assert.deepEqual((await api.get('/v1/waitlist_entries?offset=10')).body, { data: [], total_count: 3 })
      assert.deepEqual((await api.get('/v1/waitlist_entries?paginated=true')).body, res.body)
    })

    it('filters by query (address substring or exact id) and status, and orders by order_by', async () => {
      const { api } = await fresh()
      const { carol, alice, bob } = await seed(api)
      assert.deepEqual(ids((await api.get('/v1/waitlist_entries?query=ALI')).body.data), [alice.id])
      assert.deepEqual(ids((await api.get(`/v1/waitlist_entries?query=${carol.id}`)).body.data), [carol.id])
      const invited = await api.get('/v1/waitlist_entries?status=invited')
      assert.deepEqual(invited.body, { data: [invited.body.data[0]], total_count: 1 })
      assert.equal(invited.body.data[0].id, bob.id)
      assert.equal((await api.get('/v1/waitlist_entries?status=pending')).body.total_count, 2)
      assert.deepEqual(ids((await api.get('/v1/waitlist_entries?order_by=email_address')).body.data), [alice.id, bob.id, carol.id])
      assert.deepEqual(ids((await api.get('/v1/waitlist_entries?order_by=%2Bcreated_at')).body.data), [carol.id, alice.id, bob.id])
      // Entries never invited have no invited_at: last either way.
      assert.equal((await api.get('/v1/waitlist_entries?order_by=-invited_at')).body.data[0].id, bob.id)
      assert.equal((await api.get('/v1/waitlist_entries?order_by=invited_at')).body.data[0].id, bob.id)
    })

    it('refuses bad parameters with 422 naming them, and sees only its own instance', async () => {
      const { api } = await fresh()
      await seed(api)
      for (const [qs, param] of [['status=waiting', 'status'], ['order_by=status', 'order_by'], ['limit=0', 'limit'], ['offset=-3', 'offset'], ['nope=1', 'nope']]) {
        const res = await api.get(`/v1/waitlist_entries?${qs}`)
        assert.equal(res.status, 422, qs)
        assert.equal(res.body.errors[0].meta?.param_name, param, qs)
      }
      const other = await fresh()
      assert.deepEqual((await other.api.get('/v1/waitlist_entries?query=wait.test')).body, { data: [], total_count: 0 })
    })
  })

  describe('POST /v1/waitlist_entries/{id}/invite', () => {
    it('creates a waitlist_invitation (its email goes out through the outbox) and marks the entry invited with it', async () => {
      const { instance, api } = await fresh()
      const entry = await join(api)
      t.clock.advance(10)
      const res = await api.post(`/v1/waitlist_entries/${entry.id}/invite`)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesSpec(spec.response('InviteWaitlistEntry', 200), res.body, 'POST /v1/waitlist_entries/{id}/invite 200 body')
      assert.equal(res.body.status, 'invited')
      assert.equal(res.body.updated_at, t.clock.now())
      const invitation = res.body.invitation
      assert.match(invitation.id, /^inv_/)
      assert.equal(invitation.email_address, entry.email_address)
      assert.equal(invitation.status, 'pending')
      assert.ok(invitation.url.startsWith(`${PUBLIC_URL}/v1/tickets/accept?ticket=`))

      const listed = await api.get(`/v1/invitations?query=${invitation.id}`)
      assert.deepEqual(listed.body, [invitation])
      const [row] = await t.db.query<{ template_slug: string; notify: boolean }>('select template_slug, notify from invitations where id = $1', [invitation.id])
      assert.deepEqual(row, { template_slug: 'waitlist_invitation', notify: true })
      await t.outboxWorker.drain()
      const mail = await t.db.query<{ template_slug: string; to_address: string }>(
        'select template_slug, to_address from dev_mailbox_messages where instance_id = $1 and subject_id = $2', [instance.id, invitation.id])
      assert.deepEqual(mail, [{ template_slug: 'waitlist_invitation', to_address: entry.email_address }])
    })

    it('refuses an entry already invited with a clear 400; unknown and other instances\' entries are 404', async () => {
      const { api } = await fresh()
      const entry = await join(api)
      const first = await api.post(`/v1/waitlist_entries/${entry.id}/invite`, {})
      assert.equal(first.status, 200)
      const again = await api.post(`/v1/waitlist_entries/${entry.id}/invite`, { ignore_existing: true })
      assert.equal(again.status, 400)
      assertMatchesSpec(spec.response('InviteWaitlistEntry', 400), again.body, 'invite 400 body')
      assert.equal(again.body.errors[0].code, 'duplicate_record')
      assert.match(again.body.errors[0].long_message, /this entry is invited/)
      assert.match(again.body.errors[0].long_message, new RegExp(first.body.invitation.id))

      assert.equal((await api.post('/v1/waitlist_entries/wle_nope/invite')).status, 404)
      const other = await fresh()
      const res = await other.api.post(`/v1/waitlist_entries/${entry.id}/invite`)
      assert.equal(res.status, 404)
      assert.equal(res.body.errors[0].code, 'resource_not_found')
      assertMatchesSpec(spec.response('InviteWaitlistEntry', 404), res.body, 'invite 404 body')
      assert.equal((await api.post(`/v1/waitlist_entries/${entry.id}/invite`, { ignore_existing: 'yes' })).status, 422)
    })

    it('follows the invitation rules: a pending invitation or a user refuses it unless ignore_existing, and a refusal changes nothing', async () => {
      const { instance, api } = await fresh()
      const invited = await join(api)
      const earlier = await makeInvitation(api, { email_address: invited.email_address })
      const refused = await api.post(`/v1/waitlist_entries/${invited.id}/invite`)
      assert.equal(refused.status, 400)
      assert.equal(refused.body.errors[0].code, 'duplicate_record')
      const unchanged = await api.get(`/v1/waitlist_entries?query=${invited.id}`)
      assert.equal(unchanged.body.data[0].status, 'pending')
      const forced = await api.post(`/v1/waitlist_entries/${invited.id}/invite`, { ignore_existing: true })
      assert.equal(forced.status, 200)
      assert.notEqual(forced.body.invitation.id, earlier.id)

      const member = await join(api)
      await makeUser(t.db, instance.id, member.email_address)
      const taken = await api.post(`/v1/waitlist_entries/${member.id}/invite`)
      assert.equal(taken.status, 400)
      assert.equal(taken.body.errors[0].code, 'form_identifier_exists')
      assert.equal((await api.post(`/v1/waitlist_entries/${member.id}/invite`, { ignore_existing: true })).status, 200)
    })

    it('reads completed once its invitation is accepted', async () => {
      const { api } = await fresh()
      const entry = await join(api)
      const invited = await api.post(`/v1/waitlist_entries/${entry.id}/invite`)
      await t.db.query(`update invitations set status = 'accepted' where id = $1`, [invited.body.invitation.id])
      const res = await api.get('/v1/waitlist_entries?status=completed')
      assertMatchesSpec(spec.response('ListWaitlistEntries', 200), res.body, 'completed entry')
      assert.deepEqual(ids(res.body.data), [entry.id])
      assert.equal(res.body.data[0].invitation.status, 'accepted')
      assert.equal((await api.get('/v1/waitlist_entries?status=invited')).body.total_count, 0)
      const again = await api.post(`/v1/waitlist_entries/${entry.id}/invite`)
      assert.equal(again.status, 400)
      assert.match(again.body.errors[0].long_message, /this entry is completed/)
    })

    it('lets exactly one of two concurrent invites of one entry through', async () => {
      const { api } = await fresh()
      const entry = await join(api)
      const results = await Promise.all([1, 2].map(() => api.post(`/v1/waitlist_entries/${entry.id}/invite`, { ignore_existing: true })))
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 400])
      const invitations = await api.get(`/v1/invitations?query=${encodeURIComponent(entry.email_address)}`)
      assert.equal(invitations.body.length, 1)
    })

    it('counts against the create_invitation rate limit', async () => {
      const { api } = await fresh()
      assert.equal((await api.patch('/v1/instance', { rate_limits: { create_invitation: 1 } })).status, 200)
      const [a, b] = [await join(api), await join(api)]
      assert.equal((await api.post(`/v1/waitlist_entries/${a.id}/invite`)).status, 200)
      const limited = await api.post(`/v1/waitlist_entries/${b.id}/invite`)
      assert.equal(limited.status, 429)
      assert.equal(limited.body.errors[0].code, 'too_many_requests')
    })
  })
})
