import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { makeInvitation } from '../helpers/factories.js'
import { SESSION_COOKIE } from '../../src/accept/session-cookie.js'
import { browser, formOf, textOf, type Browser } from './page-client.js'

const PASSWORD = 'correct horse battery'

forEachDatabase('hosted pages with usernames', (engine) => {
  let t: TestApp
  before(async () => {
    t = await buildTestApp({ engine })
  })
  after(() => t.close())

  const newApi = async (username: { enabled?: boolean; required?: boolean } | null = { enabled: true }) => {
    const { instance, secretKey } = await t.newInstance('Acme')
    const api = client(t.app, secretKey)
    if (username) assert.equal((await api.patch('/v1/instance', { username })).status, 200)
    return { instance, api }
  }
  const unique = (prefix: string) => `${prefix}_${Math.random().toString(36).slice(2, 10)}`
  const signedInAs = async (b: Browser) => (await t.services.accept.session(b.jar.get(SESSION_COOKIE)))?.user ?? null
  const member = async (api: Client) => {
    const res = await api.post('/v1/users', { email_address: uniqueEmail('member'), password: PASSWORD, username: unique('Member') })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return { id: res.body.id as string, username: res.body.username as string }
  }

  describe('POST /sign-in', () => {
    it('signs in with a username typed into the identifier field, where the instance has usernames', async () => {
      const { instance, api } = await newApi()
      const m = await member(api)
      const b = browser(t.app)
      const page = await b.get(`/sign-in?instance=${instance.id}`)
      assert.match(page.body, /<label for="identifier">Email address or username<\/label>\n<input id="identifier" name="identifier" type="text"/)
      const res = await b.submit(page, { identifier: m.username.toUpperCase(), password: PASSWORD })
      assert.equal(res.statusCode, 303, textOf(res.body))
      assert.equal((await signedInAs(b))?.id, m.id)
    })

    it('answers a wrong password for a username with the same generic 422 as an unknown one', async () => {
      const { instance, api } = await newApi()
      const m = await member(api)
      const b = browser(t.app)
      for (const identifier of [m.username, unique('ghost')]) {
        const res = await b.submit(await b.get(`/sign-in?instance=${instance.id}`), { identifier, password: identifier === m.username ? 'wrong password' : PASSWORD })
        assert.equal(res.statusCode, 422)
        assert.match(textOf(res.body), /That email address or username and password do not match an account\./)
      }
      assert.equal(await signedInAs(b), null)
    })

    it('keeps asking for an email address where usernames are off', async () => {
      const { instance } = await newApi(null)
      const page = await browser(t.app).get(`/sign-in?instance=${instance.id}`)
      assert.match(page.body, /<label for="identifier">Email address<\/label>\n<input id="identifier" name="identifier" type="email"/)
    })
  })

  describe('POST /sign-up', () => {
    it('without an invitation: the username typed is the new user\'s, once the emailed code comes back', async () => {
      const { instance } = await newApi({ required: true })
      const b = browser(t.app)
      const page = await b.get(`/sign-up?instance=${instance.id}`)
      const missing = await b.submit(page, { email_address: uniqueEmail(), password: PASSWORD, username: '' })
      assert.equal(missing.statusCode, 422)
      assert.match(textOf(missing.body), /This instance requires a username\./)
      const bad = await b.submit(missing, { email_address: uniqueEmail(), password: PASSWORD, username: 'has space' })
      assert.equal(bad.statusCode, 422)
      assert.match(bad.body, /<input id="username" name="username" type="text"[^>]* aria-invalid="true">/)
      const username = unique('Grace')
      const started = await b.submit(bad, { email_address: uniqueEmail(), password: PASSWORD, username })
      assert.equal(started.statusCode, 303, textOf(started.body))
      const verify = await b.follow(started)
      const attempt = (await t.services.accept.findSignUpAttempt(formOf(verify.body).fields.sign_up!))!
      const done = await b.submit(verify, { code: t.services.accept.codeFor(attempt) })
      assert.equal(done.statusCode, 303, textOf(done.body))
      assert.equal((await signedInAs(b))?.username, username.toLowerCase())
    })

    it('with an invitation: the username goes with the password; a taken one is refused on the form', async () => {
      const { api } = await newApi()
      const m = await member(api)
      const inv = await makeInvitation(api)
      const b = browser(t.app)
      const page = await b.follow(await b.get(inv.url))
      assert.match(page.body, /name="username"/)
      const taken = await b.submit(page, { password: PASSWORD, username: m.username })
      assert.equal(taken.statusCode, 422)
      assert.match(textOf(taken.body), /That username is taken|already exists/)
      const username = unique('invited')
      const done = await b.submit(taken, { password: PASSWORD, username })
      assert.equal(done.statusCode, 303, textOf(done.body))
      assert.equal((await signedInAs(b))?.username, username)
    })
  })
})
