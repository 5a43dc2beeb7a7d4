import { it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf } from '../pages/page-client.js'
import { csrfOf, dashboardApp, formFields, type Dashboard } from './dashboard-client.js'

const settingsOf = (d: Dashboard) => `/dashboard/${d.instanceId}/settings`
/** Submits the settings form as a browser does: its inputs, and the option selected in the sign-up mode select. */
async function save(d: Dashboard, changes: Record<string, string>) {
  const page = await d.op.get(settingsOf(d))
  assert.equal(page.statusCode, 200)
  const mode = /<select id="sign_up_mode"[^>]*>[^]*?<option value="(\w+)" selected>/.exec(page.body)?.[1]
  assert.ok(mode)
  return d.op.post(settingsOf(d), { ...formFields(page.body, settingsOf(d)), sign_up_mode: mode, ...changes })
}
const apiSettings = async (d: Dashboard) => (await client(d.t.app, d.secretKey).get('/v1/instance')).body

forEachDatabase('dashboard settings', (engine) => {
  it('GET shows the instance\'s settings; POST saves name, sign-up mode, URLs and rate limits through the instance service', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const page = await d.op.get(settingsOf(d))
    assert.equal(page.statusCode, 200)
    assert.match(page.body, /<a href="[^"]*\/settings" aria-current="page">Settings<\/a>/)
    const fields = formFields(page.body, settingsOf(d))
    assert.equal(fields.application_name, 'Acme')
    assert.equal(fields['rate_limits.create_invitation'], '100')
    assert.equal(fields['user_lockout.max_attempts'], '100')
    assert.equal(fields['user_lockout.duration_in_minutes'], '60')
    assert.equal(fields.remind_before_expiry_days, '0')
    assert.match(page.body, /<option value="on" selected>On<\/option>/)
    assert.equal(fields.home_url, '')
    assert.match(page.body, /<option value="public" selected>/)

    const res = await save(d, {
      application_name: 'Acme Rockets', sign_up_mode: 'waitlist', home_url: `${APP_ORIGIN}/home`, after_sign_up_url: `${APP_ORIGIN}/welcome`,
      'rate_limits.create_invitation': '7', 'rate_limits.create_organization_invitation_bulk': '0',
      'user_lockout.enabled': 'off', 'user_lockout.max_attempts': '5', 'user_lockout.duration_in_minutes': '30',
      remind_before_expiry_days: '3',
    })
    assert.equal(res.statusCode, 303, res.body)
    assert.equal(res.headers.location, `${settingsOf(d)}?notice=saved`)
    const after = await d.op.follow(res)
    assert.match(textOf(after.body), /The settings were saved\./)
    assert.match(after.body, /<option value="waitlist" selected>/)
    const api = await apiSettings(d)
    assert.equal(api.application_name, 'Acme Rockets')
    assert.equal(api.sign_up_mode, 'waitlist')
    assert.equal(api.home_url, `${APP_ORIGIN}/home`)
    assert.equal(api.after_sign_up_url, `${APP_ORIGIN}/welcome`)
    assert.deepEqual(api.rate_limits, { create_invitation: 7, create_invitation_bulk: 25, create_organization_invitation: 250, create_organization_invitation_bulk: 0 })
    assert.deepEqual(api.user_lockout, { enabled: false, max_attempts: 5, duration_in_minutes: 30 })
    assert.equal(api.remind_before_expiry_days, 3)
    assert.equal(formFields(after.body, settingsOf(d)).remind_before_expiry_days, '3')
    assert.match(after.body, /<option value="off" selected>Off<\/option>/)

    // Blank URLs clear them.
    assert.equal((await save(d, { home_url: '', after_sign_up_url: ' ' })).statusCode, 303)
    const cleared = await apiSettings(d)
    assert.equal(cleared.home_url, null)
    assert.equal(cleared.after_sign_up_url, null)
  })

  it('a sign-up mode set in the dashboard takes effect: restricted mode answers GET /sign-up with 403', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const visitor = browser(d.t.app)
    assert.equal((await visitor.get(`/sign-up?instance=${d.instanceId}`)).statusCode, 200)
    assert.equal((await save(d, { sign_up_mode: 'restricted' })).statusCode, 303)
    const refused = await visitor.get(`/sign-up?instance=${d.instanceId}`)
    assert.equal(refused.statusCode, 403)
    assert.match(textOf(refused.body), /Sign-up is by invitation only/)
    assert.equal((await save(d, { sign_up_mode: 'public' })).statusCode, 303)
    assert.equal((await visitor.get(`/sign-up?instance=${d.instanceId}`)).statusCode, 200)
  })

  it('usernames are off by default; turned on, then required, in the dashboard they take effect on the API and the hosted sign-up page', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const selected = (body: string) => /<select id="username"[^>]*>[^]*?<option value="(\w+)" selected>/.exec(body)?.[1]
    assert.equal(selected((await d.op.get(settingsOf(d))).body), 'off')
    const visitor = browser(d.t.app)
    assert.doesNotMatch((await visitor.get(`/sign-up?instance=${d.instanceId}`)).body, /name="username"/)

    const on = await save(d, { username: 'optional' })
    assert.equal(on.statusCode, 303, on.body)
    assert.equal(selected((await d.op.follow(on)).body), 'optional')
    assert.deepEqual((await apiSettings(d)).username, { enabled: true, required: false })
    assert.match((await visitor.get(`/sign-up?instance=${d.instanceId}`)).body, /<input id="username" name="username" type="text" autocomplete="username" minlength="4" maxlength="64"/)

    assert.equal((await save(d, { username: 'required' })).statusCode, 303)
    assert.deepEqual((await apiSettings(d)).username, { enabled: true, required: true })
    assert.match((await visitor.get(`/sign-up?instance=${d.instanceId}`)).body, /name="username"[^>]* required/)
    // Saving the form without touching the select keeps the setting.
    assert.equal((await save(d, { application_name: 'Renamed' })).statusCode, 303)
    assert.deepEqual((await apiSettings(d)).username, { enabled: true, required: true })

    const refused = await save(d, { username: 'sometimes' })
    assert.equal(refused.statusCode, 422)
    assert.match(textOf(refused.body), /Usernames/)
    assert.equal((await save(d, { username: 'off' })).statusCode, 303)
    assert.deepEqual((await apiSettings(d)).username, { enabled: false, required: false })
  })

  it('refuses what PATCH /v1/instance refuses, inline with 422 and the API\'s reason, keeping what was typed and changing nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const before = await apiSettings(d)
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ application_name: '' }, 'application_name', /Application name must NOT have fewer than 1 characters/],
      [{ application_name: 'x'.repeat(257) }, 'application_name', /Application name must NOT have more than 256 characters/],
      [{ sign_up_mode: 'open' }, 'sign_up_mode', /Sign-up mode must be one of: public, restricted, waitlist/],
      [{ home_url: 'https://evil.example.net/' }, 'home_url', /Home URL must point to an allowed origin \(FOYER_ALLOWED_REDIRECT_ORIGINS\); https:\/\/evil\.example\.net is not one/],
      [{ after_sign_up_url: 'javascript:alert(1)' }, 'after_sign_up_url', /After sign-up URL must be an http or https URL/],
      [{ home_url: '/relative' }, 'home_url', /Home URL must be an absolute URL/],
      [{ 'rate_limits.create_invitation': '-1' }, 'rate_limits.create_invitation', /"Invitations created" must be >= 0/],
      [{ 'rate_limits.create_invitation_bulk': '1.5' }, 'rate_limits.create_invitation_bulk', /"Bulk invitation requests" must be integer/],
      [{ 'rate_limits.create_organization_invitation': 'ten' }, 'rate_limits.create_organization_invitation', /must be integer/],
      [{ 'rate_limits.create_organization_invitation_bulk': '2000000' }, 'rate_limits.create_organization_invitation_bulk', /must be <= 1000000/],
      [{ 'user_lockout.max_attempts': '0' }, 'user_lockout.max_attempts', /Wrong passwords before locking must be >= 1/],
      [{ 'user_lockout.duration_in_minutes': 'soon' }, 'user_lockout.duration_in_minutes', /Lock duration must be integer/],
      [{ 'user_lockout.enabled': 'maybe' }, 'user_lockout.enabled', /Lockout must be boolean/],
      [{ remind_before_expiry_days: '-1' }, 'remind_before_expiry_days', /Reminder before expiry must be >= 0/],
      [{ remind_before_expiry_days: '400' }, 'remind_before_expiry_days', /Reminder before expiry must be <= 365/],
      [{ remind_before_expiry_days: '1.5' }, 'remind_before_expiry_days', /Reminder before expiry must be integer/],
    ]
    for (const [changes, param, message] of cases) {
      const res = await save(d, { application_name: 'Typed name', ...changes })
      assert.equal(res.statusCode, 422, JSON.stringify(changes))
      assert.match(textOf(res.body), message)
      assert.ok(new RegExp(`name="${param.replace('.', '\\.')}"[^>]* aria-invalid="true"`).test(res.body), `${param} marked invalid`)
      if (!('application_name' in changes)) assert.equal(formFields(res.body, settingsOf(d)).application_name, 'Typed name', 'what was typed is kept')
    }
    const after = await apiSettings(d)
    assert.deepEqual({ ...after, updated_at: 0 }, { ...before, updated_at: 0 })
  })

  it('refuses a POST without a valid CSRF token (403) and without a session (401), changing nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const page = await d.op.get(settingsOf(d))
    const { _csrf: _token, ...fields } = formFields(page.body, settingsOf(d))
    const missing = await d.op.post(settingsOf(d), { ...fields, sign_up_mode: 'restricted' })
    assert.equal(missing.statusCode, 403)
    assert.match(textOf(missing.body), /This form has expired or was not sent from this site/)
    const forged = await d.op.post(settingsOf(d), { ...fields, _csrf: 'forged', sign_up_mode: 'restricted' })
    assert.equal(forged.statusCode, 403)
    // Another browser's valid token is no good with this operator's cookies either.
    const other = browser(d.t.app)
    const signIn = await other.get('/dashboard/sign-in')
    const foreign = /name="_csrf" value="([^"]*)"/.exec(signIn.body)![1]!
    assert.equal((await d.op.post(settingsOf(d), { ...fields, _csrf: foreign, sign_up_mode: 'restricted' })).statusCode, 403)
    // Without a session: 401 for the POST, sign-in for the page.
    assert.equal((await other.post(settingsOf(d), { ...fields, _csrf: foreign, sign_up_mode: 'restricted' })).statusCode, 401)
    const gate = await other.get(settingsOf(d))
    assert.equal(gate.statusCode, 303)
    assert.match(String(gate.headers.location), /^\/dashboard\/sign-in\?next=/)
    assert.equal((await apiSettings(d)).sign_up_mode, 'public')
  })

  it('renders a hostile application name inert, in the form, the title and the instance switcher', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    assert.equal((await save(d, { application_name: hostile })).statusCode, 303)
    assert.equal((await apiSettings(d)).application_name, hostile)
    for (const path of [settingsOf(d), `/dashboard/${d.instanceId}/overview`, `/dashboard/${d.instanceId}/invitations`]) {
      const page = await d.op.get(path)
      assert.equal(page.statusCode, 200, path)
      assert.ok(!page.body.includes('<script>alert'), path)
      assert.ok(!page.body.includes('<img src=x'), path)
      assert.ok(page.body.includes('&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;'), path)
    }
    assert.equal(formFields((await d.op.get(settingsOf(d))).body, settingsOf(d)).application_name, hostile)
  })

  it('edits the instance\'s own allowed redirect origins, one per line, which take effect for this instance only', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const page = await d.op.get(settingsOf(d))
    assert.match(page.body, /<li class="mono">https:\/\/app\.example\.com<\/li>/)
    assert.match(page.body, /<li class="mono">http:\/\/localhost:\*<\/li>/)
    assert.match(textOf(page.body), /From FOYER_ALLOWED_REDIRECT_ORIGINS/)
    assert.match(page.body, /<textarea id="allowed_redirect_origins" name="allowed_redirect_origins"[^>]*><\/textarea>/)

    // Only the origins are sent, as their own form does: nothing else changes.
    const before = await apiSettings(d)
    const res = await d.op.post(settingsOf(d), { _csrf: csrfOf(page.body), allowed_redirect_origins: 'https://Partner.Example.org/\r\n\r\nhttp://127.0.0.1:*\r\nhttps://partner.example.org\r\n' })
    assert.equal(res.statusCode, 303, res.body)
    const after = await apiSettings(d)
    assert.deepEqual(after.allowed_redirect_origins, ['https://partner.example.org', 'http://127.0.0.1:*'])
    assert.deepEqual({ ...after, allowed_redirect_origins: [], updated_at: 0 }, { ...before, updated_at: 0 })
    assert.match((await d.op.get(settingsOf(d))).body, /name="allowed_redirect_origins"[^>]*>https:\/\/partner\.example\.org\nhttp:\/\/127\.0\.0\.1:\*<\/textarea>/)

    // This instance's redirect URLs may use them; another instance's may not.
    const api = client(d.t.app, d.secretKey)
    const invited = await api.post('/v1/invitations', { email_address: 'partner@example.com', redirect_url: 'https://partner.example.org/welcome', notify: false })
    assert.equal(invited.status, 200, JSON.stringify(invited.body))
    assert.equal((await api.patch('/v1/instance', { home_url: 'http://127.0.0.1:8080/home' })).status, 200)
    const other = client(d.t.app, (await d.t.newInstance('Other')).secretKey)
    const refused = await other.post('/v1/invitations', { email_address: 'partner@example.com', redirect_url: 'https://partner.example.org/welcome', notify: false })
    assert.equal(refused.status, 422)
    assert.equal(refused.body.errors[0].meta.param_name, 'redirect_url')

    // An origin the home URL uses cannot be dropped; saying so names the URL.
    const drop = await d.op.post(settingsOf(d), { _csrf: csrfOf(page.body), allowed_redirect_origins: 'https://partner.example.org' })
    assert.equal(drop.statusCode, 422)
    assert.match(textOf(drop.body), /Allowed redirect origins must keep home_url \(http:\/\/127\.0\.0\.1:8080\/home\) on an allowed origin/)
    assert.match(drop.body, /name="allowed_redirect_origins"[^>]* aria-invalid="true"/)
    assert.deepEqual((await apiSettings(d)).allowed_redirect_origins, ['https://partner.example.org', 'http://127.0.0.1:*'])

    // Blank clears them.
    assert.equal((await api.patch('/v1/instance', { home_url: null })).status, 200)
    assert.equal((await d.op.post(settingsOf(d), { _csrf: csrfOf(page.body), allowed_redirect_origins: ' ' })).statusCode, 303)
    assert.deepEqual((await apiSettings(d)).allowed_redirect_origins, [])
  })

  it('refuses an origin that is not one inline with 422, quoting it, keeping what was typed (escaped) and changing nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const page = await d.op.get(settingsOf(d))
    for (const typed of ['https://partner.example.org/path', 'ftp://files.example.org', 'partner.example.org', '</textarea><script>alert(1)</script>']) {
      const res = await d.op.post(settingsOf(d), { _csrf: csrfOf(page.body), allowed_redirect_origins: `https://ok.example.org\n${typed}` })
      assert.equal(res.statusCode, 422, typed)
      assert.match(textOf(res.body), /Allowed redirect origins must be an origin such as https:\/\/app\.example\.com/)
      assert.ok(textOf(res.body).includes(JSON.stringify(typed)), `the refused origin is quoted: ${typed}`)
      assert.ok(!res.body.includes('<script>alert(1)'), 'typed text is escaped')
      const kept = /<textarea id="allowed_redirect_origins"[^>]*>([^<]*)<\/textarea>/.exec(res.body)?.[1]
      assert.equal(kept?.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&'), `https://ok.example.org\n${typed}`, 'what was typed is kept')
    }
    const tooMany = Array.from({ length: 51 }, (_, i) => `https://app${i}.example.org`).join('\n')
    const res = await d.op.post(settingsOf(d), { _csrf: csrfOf(page.body), allowed_redirect_origins: tooMany })
    assert.equal(res.statusCode, 422)
    assert.match(textOf(res.body), /At most 50 items may be sent in one request/)
    assert.match(res.body, /name="allowed_redirect_origins"[^>]* aria-invalid="true"/)
    assert.deepEqual((await apiSettings(d)).allowed_redirect_origins, [])
  })
})
