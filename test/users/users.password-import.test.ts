import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { argon2i, argon2id, bcrypt } from 'hash-wasm'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { fapi, type Fapi } from '../frontend/fapi-client.js'
import { browser, pathOf } from '../pages/page-client.js'
import type { Instance } from '../../src/instance/instance.schemas.js'

const OLD_PASSWORD = 'the password from before'
const CLERK_JS = '__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0'

const digests = {
  bcrypt: () => bcrypt({ password: OLD_PASSWORD, salt: randomBytes(16), costFactor: 4, outputType: 'encoded' }),
  argon2id: () => argon2id({ password: OLD_PASSWORD, salt: randomBytes(16), parallelism: 1, iterations: 2, memorySize: 512, hashLength: 32, outputType: 'encoded' }),
  argon2i: () => argon2i({ password: OLD_PASSWORD, salt: randomBytes(16), parallelism: 1, iterations: 2, memorySize: 512, hashLength: 32, outputType: 'encoded' }),
}

forEachDatabase('users imported with a password digest', (engine) => {
  let t: TestApp
  let f: Fapi
  let api: Client
  let instance: Instance
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
    const made = await t.newInstance()
    instance = made.instance
    api = client(t.app, made.secretKey)
  })
  after(() => t.close())

  const storedHash = async (id: string) => (await t.db.query<{ password_hash: string }>('select password_hash from users where id = $1', [id]))[0]!.password_hash
  const importUser = async (hasher: keyof typeof digests) => {
    const email = uniqueEmail(`import.${hasher}`)
    const digest = await digests[hasher]()
    const res = await api.post('/v1/users', { email_address: [email], password_digest: digest, password_hasher: hasher, external_id: `legacy-${email}` })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.password_enabled, true)
    assert.equal(await storedHash(res.body.id), digest)
    return { id: res.body.id as string, email, digest }
  }
  const fapiSignIn = (identifier: string, password: string) =>
    f.post('/v1/client/sign_ins', { identifier, password }, { instance: instance.id, form: true })
  const twoStepSignIn = async (identifier: string, password: string) => {
    const started = await f.post(`/fapi/${instance.id}/v1/client/sign_ins?${CLERK_JS}`, { identifier }, { form: true })
    assert.equal(started.status, 200, JSON.stringify(started.body))
    return f.post(`/fapi/${instance.id}/v1/client/sign_ins/${started.body.response.id}/attempt_first_factor?${CLERK_JS}`,
      { strategy: 'password', password }, { form: true })
  }
  const pageSignIn = async (identifier: string, password: string) => {
    const b = browser(t.app)
    return b.submit(await b.get(`/sign-in?instance=${instance.id}`), { identifier, password })
  }

  for (const hasher of ['bcrypt', 'argon2id', 'argon2i'] as const) {
    describe(hasher, () => {
      it('signs in with the old password through POST /v1/client/sign_ins, then holds a scrypt hash that still takes it', async () => {
        const user = await importUser(hasher)
        const wrong = await fapiSignIn(user.email, 'not the old password')
        assert.equal(wrong.status, 422)
        assert.equal(wrong.body.errors[0].code, 'form_password_incorrect')
        assert.equal(await storedHash(user.id), user.digest, 'a failed sign-in re-hashes nothing')
        const res = await fapiSignIn(user.email, OLD_PASSWORD)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assert.equal(res.body.response.status, 'complete')
        const fapiUser = res.body.client.sessions[0].user
        assert.equal(fapiUser.external_id, `legacy-${user.email}`)
        assert.equal(typeof fapiUser.password_last_updated_at, 'number')
        assert.match(await storedHash(user.id), /^scrypt\$/)
        assert.equal((await fapiSignIn(user.email, OLD_PASSWORD)).status, 200, 'the re-hashed password signs in again')
      })

      it('signs in with the old password through attempt_first_factor', async () => {
        const user = await importUser(hasher)
        assert.equal((await twoStepSignIn(user.email, 'not the old password')).status, 422)
        const res = await twoStepSignIn(user.email, OLD_PASSWORD)
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assert.equal(res.body.response.status, 'complete')
      })

      it('signs in with the old password on the hosted sign-in page', async () => {
        const user = await importUser(hasher)
        assert.equal((await pageSignIn(user.email, 'not the old password')).statusCode, 422)
        const res = await pageSignIn(user.email, OLD_PASSWORD)
        assert.equal(res.statusCode, 303)
        assert.equal(pathOf(String(res.headers.location)), `/welcome?instance=${instance.id}`)
        assert.match(await storedHash(user.id), /^scrypt\$/)
      })
    })
  }

  it('refuses an unsupported hasher naming password_hasher, and a malformed or too costly digest naming password_digest', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ password_digest: await digests.bcrypt(), password_hasher: 'md5' }, 'form_param_value_invalid', 'password_hasher'],
      [{ password_digest: await digests.bcrypt(), password_hasher: 'constructor' }, 'form_param_value_invalid', 'password_hasher'],
      [{ password_digest: 'not a digest', password_hasher: 'bcrypt' }, 'form_param_format_invalid', 'password_digest'],
      [{ password_digest: await digests.argon2id(), password_hasher: 'bcrypt' }, 'form_param_format_invalid', 'password_digest'],
      [{ password_digest: await digests.bcrypt(), password_hasher: 'argon2id' }, 'form_param_format_invalid', 'password_digest'],
      [{ password_digest: await digests.argon2id(), password_hasher: 'argon2i' }, 'form_param_format_invalid', 'password_digest'],
      [{ password_digest: await digests.argon2i(), password_hasher: 'argon2id' }, 'form_param_format_invalid', 'password_digest'],
      [{ password_digest: (await digests.bcrypt()).replace(/^\$2([aby])\$04\$/, '$$2$1$$20$$'), password_hasher: 'bcrypt' }, 'form_param_format_invalid', 'password_digest'],
      [{ password_digest: (await digests.argon2id()).replace('m=512', 'm=1048576'), password_hasher: 'argon2id' }, 'form_param_format_invalid', 'password_digest'],
      [{ password_digest: await digests.bcrypt() }, 'form_param_missing', 'password_hasher'],
      [{ password_hasher: 'bcrypt' }, 'form_param_missing', 'password_digest'],
      [{ password_digest: await digests.bcrypt(), password_hasher: 'bcrypt', password: 'a long password' }, 'form_param_value_invalid', 'password_digest'],
    ]
    for (const [body, code, param] of cases) {
      const res = await api.post('/v1/users', { email_address: [uniqueEmail('bad.digest')], ...body })
      assert.equal(res.status, 422, JSON.stringify(body))
      assert.equal(res.body.errors[0].code, code, JSON.stringify(res.body))
      assert.equal(res.body.errors[0].meta.param_name, param, JSON.stringify(body))
    }
    assert.equal((await api.get('/v1/users/count?email_address_query=bad.digest')).body.total_count, 0)
  })
})
