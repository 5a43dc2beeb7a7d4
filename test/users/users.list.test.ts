import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'

const spec = loadBapiSpec()

forEachDatabase('GET /v1/users and /v1/users/count', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const fresh = async (): Promise<Client> => client(t.app, (await t.newInstance()).secretKey)
  const ids = (list: any[]) => list.map((u) => u.id)

  /** Four users created one millisecond apart, in this order. */
  const seed = async (api: Client) => {
    const people = [
      { email_address: ['carol@list.test'], first_name: 'Carol', last_name: 'Zimmer' },
      { email_address: ['alice@list.test'], first_name: 'alice', last_name: 'Young' },
      { email_address: ['dave@other.test'], first_name: null, last_name: null },
      { email_address: ['bob_100%@list.test'], first_name: 'Bob', last_name: 'Xu' },
    ]
    const made = []
    for (const body of people) {
      const res = await api.post('/v1/users', body)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      made.push(res.body)
      t.clock.advance(1)
    }
    const [carol, alice, dave, bob] = made
    return { carol, alice, dave, bob }
  }

  const count = async (api: Client, qs = '') => {
    const res = await api.get(`/v1/users/count${qs}`)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assertMatchesSpec(spec.response('GetUsersCount', 200), res.body, 'GET /v1/users/count body')
    assert.equal(res.body.object, 'total_count')
    return res.body.total_count as number
  }

  it('returns a plain array of Users, newest first, 10 by default, with limit and offset', async () => {
    const api = await fresh()
    const made = []
    for (let i = 0; i < 12; i++) {
      made.push((await api.post('/v1/users', { email_address: [`p${i}@many.test`] })).body)
      t.clock.advance(1)
    }
    const res = await api.get('/v1/users')
    assert.equal(res.status, 200)
    assertMatchesSpec(spec.response('GetUserList', 200), res.body, 'GET /v1/users body')
    assert.deepEqual(ids(res.body), ids(made).reverse().slice(0, 10))
    const page = await api.get('/v1/users?limit=5&offset=10')
    assert.deepEqual(ids(page.body), ids(made).reverse().slice(10))
    assert.equal(await count(api), 12)
    const paginated = await api.get('/v1/users?paginated=true&limit=3')
    assert.equal(paginated.body.total_count, 12)
    assert.deepEqual(ids(paginated.body.data), ids(made).reverse().slice(0, 3))
  })

  it('filters by email_address: repeatable, exact, case-insensitive, unknown ones ignored', async () => {
    const api = await fresh()
    const { carol, alice } = await seed(api)
    const one = await api.get('/v1/users?email_address=ALICE@list.test')
    assert.deepEqual(ids(one.body), [alice.id])
    const two = await api.get('/v1/users?email_address=alice@list.test&email_address=carol@list.test&email_address=nobody@list.test')
    assert.deepEqual(ids(two.body), [alice.id, carol.id])
    assert.deepEqual((await api.get('/v1/users?email_address=alice')).body, [], 'exact, not a substring')
    assert.equal(await count(api, '?email_address=alice@list.test&email_address=carol@list.test'), 2)
  })

  it('query matches a substring of an address or name (any case), or an exact id; wildcards are literal', async () => {
    const api = await fresh()
    const { carol, alice, dave, bob } = await seed(api)
    assert.deepEqual(ids((await api.get('/v1/users?query=LIST.test')).body), [bob.id, alice.id, carol.id])
    assert.deepEqual(ids((await api.get('/v1/users?query=zimm')).body), [carol.id])
    assert.deepEqual(ids((await api.get('/v1/users?query=alice%20young')).body), [alice.id])
    assert.deepEqual(ids((await api.get(`/v1/users?query=${dave.id}`)).body), [dave.id])
    assert.deepEqual(ids((await api.get(`/v1/users?query=${dave.id.slice(0, 10)}`)).body), [], 'ids match exactly')
    assert.deepEqual(ids((await api.get('/v1/users?query=100%25')).body), [bob.id])
    assert.deepEqual(ids((await api.get('/v1/users?query=_')).body), [bob.id])
    assert.equal(await count(api, '?query=list.test'), 3)
    assert.deepEqual(ids((await api.get('/v1/users?email_address_query=OTHER')).body), [dave.id])
    assert.deepEqual(ids((await api.get('/v1/users?name_query=x')).body), [bob.id])
  })

  it('filters by user_id (a - prefix excludes) and by creation time', async () => {
    const api = await fresh()
    const { carol, alice, dave, bob } = await seed(api)
    assert.deepEqual(ids((await api.get(`/v1/users?user_id=${carol.id}&user_id=%2B${bob.id}`)).body), [bob.id, carol.id])
    assert.deepEqual(ids((await api.get(`/v1/users?user_id=-${carol.id}`)).body), [bob.id, dave.id, alice.id])
    assert.deepEqual(ids((await api.get(`/v1/users?created_at_after=${alice.created_at}&created_at_before=${bob.created_at}`)).body), [dave.id])
    assert.equal(await count(api, `?user_id=-${carol.id}`), 3)
    assert.equal(await count(api, `?created_at_after=${alice.created_at}`), 2)
  })

  it('orders by order_by: created_at, email_address, names and last sign-in, + or nothing ascending', async () => {
    const api = await fresh()
    const { carol, alice, dave, bob } = await seed(api)
    assert.deepEqual(ids((await api.get('/v1/users?order_by=created_at')).body), [carol.id, alice.id, dave.id, bob.id])
    assert.deepEqual(ids((await api.get('/v1/users?order_by=%2Bcreated_at')).body), [carol.id, alice.id, dave.id, bob.id])
    assert.deepEqual(ids((await api.get('/v1/users?order_by=-created_at')).body), [bob.id, dave.id, alice.id, carol.id])
    assert.deepEqual(ids((await api.get('/v1/users?order_by=email_address')).body), [alice.id, bob.id, carol.id, dave.id])
    assert.deepEqual(ids((await api.get('/v1/users?order_by=-email_address')).body), [dave.id, carol.id, bob.id, alice.id])
    // Case-insensitive; users without a name come last either way.
    assert.deepEqual(ids((await api.get('/v1/users?order_by=first_name')).body), [alice.id, bob.id, carol.id, dave.id])
    assert.deepEqual(ids((await api.get('/v1/users?order_by=-last_name')).body), [carol.id, alice.id, bob.id, dave.id])
    // Only the first order_by counts.
    assert.deepEqual(ids((await api.get('/v1/users?order_by=created_at&order_by=-email_address')).body), [carol.id, alice.id, dave.id, bob.id])

    await t.db.query('update users set last_sign_in_at = created_at + 100 where id = any($1::text[])', [[alice.id, bob.id]])
    assert.deepEqual(ids((await api.get('/v1/users?order_by=-last_sign_in_at')).body).slice(0, 2), [bob.id, alice.id])
    assert.deepEqual(ids((await api.get(`/v1/users?last_sign_in_at_after=${alice.created_at + 100}`)).body), [bob.id])
    assert.deepEqual(ids((await api.get(`/v1/users?last_sign_in_at_before=${alice.created_at + 101}`)).body), [alice.id])
  })

  it('refuses bad parameters with 422 naming them', async () => {
    const api = await fresh()
    const cases: [string, string, string][] = [
      ['/v1/users?limit=0', 'limit', 'form_param_value_invalid'],
      ['/v1/users?limit=501', 'limit', 'form_param_value_invalid'],
      ['/v1/users?limit=ten', 'limit', 'form_param_type_invalid'],
      ['/v1/users?offset=-1', 'offset', 'form_param_value_invalid'],
      ['/v1/users?order_by=web3wallet', 'order_by', 'form_param_value_invalid'],
      ['/v1/users?order_by=%2A', 'order_by', 'form_param_value_invalid'],
      ['/v1/users?phone_number=%2B15555550100', 'phone_number', 'form_param_unknown'],
      ['/v1/users?created_at_after=yesterday', 'created_at_after', 'form_param_type_invalid'],
      ['/v1/users/count?limit=5', 'limit', 'form_param_unknown'],
      [`/v1/users?${Array.from({ length: 101 }, (_, i) => `email_address=u${i}@x.test`).join('&')}`, 'email_address', 'form_param_value_invalid'],
    ]
    for (const [url, param, code] of cases) {
      const res = await api.get(url)
      assert.equal(res.status, 422, `${url}: ${JSON.stringify(res.body)}`)
      assert.equal(res.body.errors[0].meta?.param_name, param, url)
      assert.equal(res.body.errors[0].code, code, url)
    }
  })

  it('sees only its own instance\'s users', async () => {
    const api = await fresh()
    const { alice } = await seed(api)
    const other = await fresh()
    assert.deepEqual((await other.get('/v1/users')).body, [])
    assert.deepEqual((await other.get(`/v1/users?query=${alice.id}`)).body, [])
    assert.deepEqual((await other.get('/v1/users?email_address=alice@list.test')).body, [])
    assert.equal(await count(other), 0)
  })
})
