import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail, type Client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import type { Instance } from '../../src/instance/instance.schemas.js'
import { person, signedInBrowser } from '../accept/org-helpers.js'
import { browser, formOf, textOf } from './page-client.js'

forEachDatabase('hosted page: /account', (engine) => {
  let t: TestApp
  let instance: Instance
  let api: Client
  before(async () => {
    t = await buildTestApp({ engine })
    const created = await t.newInstance('Account app')
    instance = created.instance
    api = client(t.app, created.secretKey)
  })
  after(() => t.close())

  async function codeFor(email: string): Promise<string> {
    await t.outboxWorker.drain()
    const message = (await t.services.email.devMessages(200)).filter((m) => m.to_address === email).at(-1)
    assert.ok(message, 'the code was emailed')
    return /^(\d{6}) /.exec(message.subject)![1]!
  }

  /** The index of the page's form posting to `action`, for the card of `email` when given. */
  function formIndex(body: string, action: string, email?: string): number {
    const forms = [...body.matchAll(/<form method="post" action="([^"]*)">/g)]
    const start = email ? body.indexOf(`<h2>${email}</h2>`) : 0
    const i = forms.findIndex((m) => m[1] === action && m.index! > start)
    assert.ok(i >= 0, `no ${action} form:\n${body}`)
    return i
  }

  describe('GET /account', () => {
    it('sends someone signed out to sign in, and back', async () => {
      const res = await browser(t.app).get(`/account?instance=${instance.id}`)
      assert.equal(res.statusCode, 303)
      const location = new URL(String(res.headers.location), 'http://foyer.test')
      assert.equal(location.pathname, '/sign-in')
      assert.match(location.searchParams.get('redirect_url')!, /^\/account/)
    })
  })

  describe('POST /account/add, /account/verify, /account/remove', () => {
    it('adds an address, emails its code, verifies it with the code, and removes it', async () => {
      const p = await person(api)
      const b = await signedInBrowser(t, instance, p.email)
      const page = await b.get(`/account?instance=${instance.id}`)
      assert.equal(page.statusCode, 200, page.body)
      assert.match(textOf(page.body), new RegExp(`${p.email.replace(/\./g, '\\.')} Primary · Verified`))
      assert.equal(page.body.includes('action="/account/remove"'), false, 'the primary address cannot be removed')

      const email = uniqueEmail('page')
      const added = await b.submit(page, { email_address: email }, formIndex(page.body, '/account/add'))
      assert.equal(added.statusCode, 200, added.body)
      assert.match(textOf(added.body), /We sent a 6-digit code to/)
      assert.match(textOf(added.body), new RegExp(`${email.replace(/\./g, '\\.')} Unverified`))
      const code = await codeFor(email)

      const wrong = await b.submit(added, { code: code === '000000' ? '111111' : '000000' }, formIndex(added.body, '/account/verify', email))
      assert.equal(wrong.statusCode, 422, wrong.body)
      assert.match(textOf(wrong.body), /That code is not right/)
      const verified = await b.submit(wrong, { code }, formIndex(wrong.body, '/account/verify', email))
      assert.equal(verified.statusCode, 200, verified.body)
      assert.match(textOf(verified.body), new RegExp(`${email.replace(/\./g, '\\.')} Verified`))
      const user = (await api.get(`/v1/users/${p.id}`)).body
      assert.deepEqual(user.email_addresses.map((e: any) => [e.email_address, e.verification?.status]).sort(), [[p.email, 'verified'], [email, 'verified']].sort())

      const removed = await b.submit(verified, {}, formIndex(verified.body, '/account/remove', email))
      assert.equal(removed.statusCode, 200, removed.body)
      assert.match(textOf(removed.body), /The address was removed/)
      assert.equal((await api.get(`/v1/users/${p.id}`)).body.email_addresses.length, 1)
    })

    it('refuses an address another user holds, a form without its CSRF token, and another user\'s address', async () => {
      const p = await person(api)
      const other = await person(api)
      const b = await signedInBrowser(t, instance, p.email)
      const page = await b.get(`/account?instance=${instance.id}`)
      const taken = await b.submit(page, { email_address: other.email }, formIndex(page.body, '/account/add'))
      assert.equal(taken.statusCode, 422, taken.body)
      assert.match(textOf(taken.body), /already exists/)

      const form = formOf(page.body, formIndex(page.body, '/account/add'))
      const forged = await b.post('/account/add', { ...form.fields, _csrf: 'forged', email_address: uniqueEmail('forged') })
      assert.equal(forged.statusCode, 403, forged.body)

      const o = await signedInBrowser(t, instance, other.email)
      const otherPage = await o.get(`/account?instance=${instance.id}`)
      const added = await o.submit(otherPage, { email_address: uniqueEmail('theirs') }, formIndex(otherPage.body, '/account/add'))
      const theirId = /name="email_address_id" value="([^"]+)"/.exec(added.body)![1]!
      const mine = await b.get(`/account?instance=${instance.id}`)
      const attempt = await b.post('/account/remove', { ...formOf(mine.body, formIndex(mine.body, '/account/add')).fields, email_address_id: theirId })
      assert.equal(attempt.statusCode, 404, attempt.body)
      assert.equal((await api.get(`/v1/users/${other.id}`)).body.email_addresses.length, 2)
    })
  })
})
