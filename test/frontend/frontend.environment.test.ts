import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { APP_ORIGIN, PUBLIC_URL, buildTestApp, client, type TestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { assertMatchesFapi } from '../helpers/spec.js'
import { assertClerkError, fapi, type Fapi, type FapiReply } from './fapi-client.js'

forEachDatabase('Frontend API: GET /v1/environment', (engine) => {
  let t: TestApp
  let f: Fapi
  before(async () => {
    t = await buildTestApp({ engine })
    f = fapi(t.app)
  })
  after(() => t.close())

  describe('GET /v1/environment', () => {
    it('describes the instance in the reference spec\'s full shape: its name, sign-up mode, pages and password rules', async () => {
      const { instance, secretKey } = await t.newInstance('Acme Portal')
      const api = client(t.app, secretKey)
      assert.equal((await api.patch('/v1/instance', {
        sign_up_mode: 'restricted', home_url: 'https://app.example.com/home', after_sign_up_url: 'https://app.example.com/welcome',
      })).status, 200)
      const res = await f.get(`/fapi/${instance.id}/v1/environment?__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0`, { origin: APP_ORIGIN })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.Environment', res.body)
      assert.equal(res.headers['access-control-allow-origin'], APP_ORIGIN)
      assert.equal(res.headers['cache-control'], 'no-store')

      const { display_config: display, user_settings: settings, auth_config: auth, organization_settings: orgs } = res.body
      assert.equal(display.application_name, 'Acme Portal')
      assert.equal(display.instance_environment_type, 'development')
      assert.equal(settings.sign_up.mode, 'restricted')
      // The hosted pages of a non-default instance name it.
      assert.equal(display.sign_in_url, `${PUBLIC_URL}/sign-in?instance=${instance.id}`)
      assert.equal(display.sign_up_url, `${PUBLIC_URL}/sign-up?instance=${instance.id}`)
      assert.equal(display.waitlist_url, `${PUBLIC_URL}/waitlist?instance=${instance.id}`)
      assert.equal(display.home_url, 'https://app.example.com/home')
      assert.equal(display.after_sign_in_url, 'https://app.example.com/home')
      assert.equal(display.after_sign_up_url, 'https://app.example.com/welcome')
      assert.deepEqual(settings.password_settings.min_length, 8)
      assert.deepEqual(settings.password_settings.max_length, 256)
      assert.equal(orgs.enabled, true)
      assert.equal(auth.single_session_mode, true)
      assert.deepEqual(auth.identification_strategies, ['email_address'])
      assert.equal(settings.attributes.email_address.required, true)
      assert.equal(settings.attributes.password.required, true)
    })

    it('reports social, phone, Web3, passkeys, second factors and captcha off', async () => {
      const { instance } = await t.newInstance()
      const { body } = await f.get('/v1/environment', { instance: instance.id })
      const { user_settings: settings, display_config: display, auth_config: auth } = body
      assert.deepEqual(settings.social, {})
      for (const attribute of ['phone_number', 'username', 'web3_wallet', 'authenticator_app', 'backup_code', 'passkey']) {
        assert.equal(settings.attributes[attribute].enabled, false, attribute)
      }
      for (const attribute of Object.keys(settings.attributes)) {
        assert.equal(settings.attributes[attribute].used_for_second_factor, false, attribute)
        assert.deepEqual(settings.attributes[attribute].second_factors, [], attribute)
      }
      assert.deepEqual(auth.second_factors, [])
      assert.equal(settings.sign_in.second_factor.required, false)
      assert.equal(settings.sign_up.captcha_enabled, false)
      assert.equal(display.captcha_public_key, null)
      assert.equal(display.captcha_public_key_invisible, null)
      assert.equal(settings.saml.enabled, false)
      assert.equal(settings.enterprise_sso.enabled, false)
      assert.equal(body.api_keys_settings.enabled, false)
      assert.equal('commerce_settings' in body, false, 'no billing')
    })

    it('the default instance answers at the root (none yet: 404), with Foyer\'s own pages where it has no URLs of its own', async () => {
      assertClerkError(await f.get('/v1/environment'), 404, 'resource_not_found')
      const { instance: defaultInstance } = await t.services.instances.create({ name: 'The default', isDefault: true })
      const res = await f.get('/v1/environment')
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.Environment', res.body)
      assert.equal(res.body.display_config.application_name, defaultInstance.name)
      assert.equal(res.body.display_config.sign_in_url, `${PUBLIC_URL}/sign-in`)
      assert.equal(res.body.display_config.home_url, `${PUBLIC_URL}/welcome`)
      assert.equal(res.body.display_config.after_sign_up_url, `${PUBLIC_URL}/welcome`)
      assert.equal(res.body.user_settings.sign_up.mode, defaultInstance.signUpMode)
    })

    it('follows the instance\'s settings as they change', async () => {
      const { instance, secretKey } = await t.newInstance('Before')
      const api = client(t.app, secretKey)
      assert.equal((await f.get('/v1/environment', { instance: instance.id })).body.user_settings.sign_up.mode, instance.signUpMode)
      for (const mode of ['public', 'waitlist', 'restricted'] as const) {
        assert.equal((await api.patch('/v1/instance', { sign_up_mode: mode, application_name: `Named ${mode}` })).status, 200)
        const { body } = await f.get('/v1/environment', { instance: instance.id })
        assert.equal(body.user_settings.sign_up.mode, mode)
        assert.equal(body.display_config.application_name, `Named ${mode}`)
      }
    })

    it('an unknown instance answers 404 resource_not_found', async () => {
      for (const path of ['/fapi/ins_doesnotexist/v1/environment', '/v1/environment?instance=ins_doesnotexist', '/v1/environment?instance=nope']) {
        assertClerkError(await f.get(path), 404, 'resource_not_found')
      }
    })
  })

  describe('PATCH /v1/environment, as clerk-js sends it with a development key', () => {
    it('POST ?_method=PATCH with an empty form body answers the same Environment', async () => {
      const { instance } = await t.newInstance('Patched')
      const res = await f.post(`/fapi/${instance.id}/v1/environment?__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0&_method=PATCH`, {},
        { form: true, origin: APP_ORIGIN })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assertMatchesFapi('Client.Environment', res.body)
      assert.equal(res.headers['access-control-allow-origin'], APP_ORIGIN)
      assert.deepEqual(res.body, (await f.get('/v1/environment', { instance: instance.id })).body)
    })

    it('an origin the instance does not allow gets 403 origin_invalid and no CORS headers', async () => {
      const { instance } = await t.newInstance()
      const res = await f.post('/v1/environment?_method=PATCH', {}, { form: true, origin: 'https://evil.example.net', instance: instance.id })
      assertClerkError(res, 403, 'origin_invalid')
      assert.equal(res.headers['access-control-allow-origin'], undefined)
    })
  })
})
