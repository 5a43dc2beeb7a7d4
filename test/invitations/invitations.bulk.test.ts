import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation, makeUser } from '../helpers/factories.js'

forEachDatabase('POST /v1/invitations/bulk', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const fresh = async (): Promise<{ api: Client; instanceId: string }> => {
    const { instance, secretKey } = await t.newInstance()
    return { api: client(t.app, secretKey), instanceId: instance.id }
  }
  const count = async (api: Client) => (await api.get('/v1/invitations?paginated=true&limit=1')).body.total_count

  it('creates every item and answers them in order', async () => {
    const { api } = await fresh()
    const emails = Array.from({ length: 10 }, () => uniqueEmail('bulk'))
    const res = await api.post('/v1/invitations/bulk', emails.map((email_address, i) => ({ email_address, notify: false, public_metadata: { i } })))
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.map((inv: any) => inv.email_address), emails)
    assert.deepEqual(res.body.map((inv: any) => inv.public_metadata.i), [...emails.keys()])
    assert.ok(res.body.every((inv: any) => inv.status === 'pending' && inv.object === 'invitation'))
    assert.equal(await count(api), 10)
  })

  it('refuses 11 items with 422 and creates none', async () => {
    const { api } = await fresh()
    const res = await api.post('/v1/invitations/bulk', Array.from({ length: 11 }, () => ({ email_address: uniqueEmail() })))
    assert.equal(res.status, 422)
    assert.equal(res.body.errors[0].code, 'form_param_value_invalid')
    assert.equal(await count(api), 0)
  })

  it('refuses an empty array and a non-array body with 422', async () => {
    const { api } = await fresh()
    assert.equal((await api.post('/v1/invitations/bulk', [])).status, 422)
    const obj = await api.post('/v1/invitations/bulk', { email_address: uniqueEmail() })
    assert.equal(obj.status, 422)
    assert.equal(obj.body.errors[0].code, 'form_param_type_invalid')
  })

  it('is all-or-nothing: one bad email creates none and names the item', async () => {
    const { api } = await fresh()
    const res = await api.post('/v1/invitations/bulk', [{ email_address: uniqueEmail() }, { email_address: 'not-an-email' }, { email_address: uniqueEmail() }])
    assert.equal(res.status, 422)
    assert.equal(res.body.errors[0].meta.param_name, '[1].email_address')
    assert.equal(await count(api), 0)
  })

  it('is all-or-nothing when a later item hits an existing pending invitation', async () => {
    const { api } = await fresh()
    const existing = await makeInvitation(api)
    const res = await api.post('/v1/invitations/bulk', [{ email_address: uniqueEmail() }, { email_address: existing.email_address }])
    assert.equal(res.status, 400)
    assert.equal(res.body.errors[0].code, 'duplicate_record')
    assert.equal(res.body.errors[0].meta.param_name, '[1].email_address')
    assert.equal(await count(api), 1)
  })

  it('refuses the same address twice in one batch unless that item ignores existing', async () => {
    const { api } = await fresh()
    const email = uniqueEmail()
    const refused = await api.post('/v1/invitations/bulk', [{ email_address: email }, { email_address: email.toUpperCase() }])
    assert.equal(refused.status, 400)
    assert.equal(await count(api), 0)
    const allowed = await api.post('/v1/invitations/bulk', [{ email_address: email }, { email_address: email, ignore_existing: true }])
    assert.equal(allowed.status, 200)
    assert.equal(await count(api), 2)
  })

  it('never lets ignore_existing bypass the existing-user rule', async () => {
    const { api, instanceId } = await fresh()
    const email = uniqueEmail()
    await makeUser(t.db, instanceId, email)
    const res = await api.post('/v1/invitations/bulk', [{ email_address: uniqueEmail() }, { email_address: email, ignore_existing: true }])
    assert.equal(res.status, 400)
    assert.equal(res.body.errors[0].code, 'form_identifier_exists')
    assert.equal(res.body.errors[0].meta.param_name, '[1].email_address')
    assert.equal(await count(api), 0)
  })

  it('validates each item: oversize metadata, foreign redirect, out-of-range expiry, unknown field', async () => {
    const { api } = await fresh()
    const cases: [Record<string, unknown>, string, number][] = [
      [{ public_metadata: { big: 'x'.repeat(9000) } }, '[0].public_metadata', 422],
      [{ redirect_url: 'https://elsewhere.example.org/' }, '[0].redirect_url', 422],
      [{ expires_in_days: 366 }, '[0].expires_in_days', 422],
      [{ surprise: true }, '[0].surprise', 422],
    ]
    for (const [extra, param, status] of cases) {
      const res = await api.post('/v1/invitations/bulk', [{ email_address: uniqueEmail(), ...extra }])
      assert.equal(res.status, status, JSON.stringify(extra))
      assert.equal(res.body.errors[0].meta.param_name, param)
    }
    assert.equal(await count(api), 0)
  })
})
