/**
 * Every role against every section and action of the dashboard: the routes below are all of
 * them, section by section (a new section's routes belong here too).
 */
import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import { declareAccess } from '../../src/dashboard/authorization.js'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf, type Browser } from '../pages/page-client.js'
import { startSmtpSink, type SmtpSink } from '../email/smtp-sink.js'
import { csrfOf, dashboardApp, type Dashboard } from './dashboard-client.js'
import { acceptInvitation, invite, newMember } from './team-client.js'

/** Every page (GET) of an instance, by section. */
const PAGES = ['/invitations', '/links', '/users', '/organizations', '/templates', '/templates/invitation', '/webhooks', '/settings', '/overview']

/** Every action (POST) of an instance but the keys, by section; the ids need not exist (refusals come first). */
const ACTIONS = [
  '/invitations', '/invitations/inv_x/revoke', '/invitations/inv_x/resend', '/invitations/inv_x/delete',
  '/links', '/links/invlink_x/revoke',
  '/users/user_x/sessions/sess_x/revoke', '/users/user_x/delete',
  '/organizations', '/organizations/org_x/members/user_x/role', '/organizations/org_x/members/user_x/remove', '/organizations/org_x/invitations',
  '/organizations/org_x/invitations/orginv_x/revoke', '/organizations/org_x/domains', '/organizations/org_x/domains/orgdmn_x/delete',
  '/templates/invitation/preview.json', '/templates/invitation/preview', '/templates/invitation', '/templates/invitation/reset',
  '/webhooks', '/webhooks/ep_x', '/webhooks/ep_x/secret', '/webhooks/ep_x/rotate', '/webhooks/ep_x/enable', '/webhooks/ep_x/disable',
  '/webhooks/ep_x/deliveries/msg_x/retry', '/webhooks/ep_x/delete',
  '/settings', '/settings/allowlist', '/settings/blocklist', '/settings/allowlist/alid_x/delete', '/settings/blocklist/blid_x/delete',
]
/** The keys: owners' alone. */
const KEY_ACTIONS = ['/settings/keys/key_x/reveal', '/settings/keys/roll', '/settings/keys/key_x/delete', '/settings/signing-key/rotate']
/** Outside instances: owners' alone. */
const OWNER_PAGES = ['/dashboard/operators', '/dashboard/operators/op_x/remove', '/dashboard/instances/new']
const OWNER_ACTIONS = ['/dashboard/instances', '/dashboard/operators/invitations', '/dashboard/operators/op_x/access', '/dashboard/operators/op_x/remove', '/dashboard/operators/invitations/opinv_x/revoke']

const NO_INSTANCE = /No such instance exists\./

forEachDatabase('dashboard authorization', (engine) => {
  let sink: SmtpSink
  let d: Dashboard
  let beta: string
  const who: Record<'admin' | 'viewer' | 'limitedAdmin' | 'limitedViewer', Browser> = {} as never
  before(async () => {
    sink = await startSmtpSink()
    d = await dashboardApp(engine, { env: { SMTP_URL: `smtp://127.0.0.1:${sink.port}` } })
    beta = (await d.t.newInstance('Beta Hidden Project')).instance.id
    const tag = `${engine}.${Date.now()}`
    who.admin = (await newMember(d, sink, `admin.${tag}@example.com`, { role: 'admin' })).b
    who.viewer = (await newMember(d, sink, `viewer.${tag}@example.com`, { role: 'viewer' })).b
    who.limitedAdmin = (await newMember(d, sink, `ladmin.${tag}@example.com`, { role: 'admin', instanceIds: [d.instanceId] })).b
    who.limitedViewer = (await newMember(d, sink, `lviewer.${tag}@example.com`, { role: 'viewer', instanceIds: [d.instanceId] })).b
  })
  after(async () => {
    await d?.t.close()
    await sink?.stop()
  })

  // Every operator here reaches the first instance; its pages carry the token (the sign-out form's).
  const csrf = async (b: Browser) => csrfOf((await b.get(`/dashboard/${d.instanceId}/overview`)).body)
  const post = async (b: Browser, url: string, fields: Record<string, string> = {}) => b.post(url, { _csrf: await csrf(b), ...fields })
  const inA = (path: string) => `/dashboard/${d.instanceId}${path}`
  const invitationCount = async () => Number((await d.t.db.query<{ n: number }>('select count(*)::int as n from invitations')).at(0)!.n)

  it('a viewer reads every section but every POST in every section is refused with 403, and its forms are hidden', async () => {
    for (const path of PAGES) {
      const res = await who.viewer.get(inA(path))
      assert.equal(res.statusCode, 200, path)
      assert.match(res.body, /<body class="read-only">/, path)
      assert.match(textOf(res.body), /You have read-only access/, path)
    }
    const before = await invitationCount()
    for (const path of [...ACTIONS, ...KEY_ACTIONS]) {
      const res = await post(who.viewer, inA(path), { emails: 'x@example.com', email_address: 'x@example.com', name: 'X', url: 'https://example.com/hook', identifier: 'x@example.com', password: 'whatever it is' })
      assert.equal(res.statusCode, 403, path)
      assert.match(res.body, /Back to invitations/, 'shown inside its instance')
      assert.match(textOf(res.body), path.includes('/keys/') || path.includes('signing-key') ? /Only owners manage operators, instances and keys, so nothing was done/ : /Your role lets you read this instance but not change it, so nothing was done\. You are a viewer/, path)
    }
    assert.equal(await invitationCount(), before, 'nothing was created')
  })

  it('an admin changes everything in an instance but the keys; the keys are refused with 403', async () => {
    const created = await post(who.admin, inA('/invitations'), { emails: `made.by.admin.${engine}@example.com`, notify: 'off' })
    assert.equal(created.statusCode, 303, created.body)
    for (const path of ACTIONS) {
      const res = await post(who.admin, inA(path))
      assert.notEqual(res.statusCode, 403, `${path}: ${res.body}`)
      assert.ok(res.statusCode < 500, `${path}: ${res.statusCode}`)
    }
    for (const path of KEY_ACTIONS) {
      const res = await post(who.admin, inA(path), { password: 'a long member password', grace_period: '0' })
      assert.equal(res.statusCode, 403, path)
      assert.match(textOf(res.body), /Only owners manage operators, instances and keys, so nothing was done\. You are an admin/)
    }
    const settings = await who.admin.get(inA('/settings'))
    assert.match(settings.body, /<body>/, 'neither read-only nor owner: key forms are hidden by the stylesheet')
  })

  it('an owner may use the keys; an admin or viewer gets 403 from the Operators page, new instances and the keys, and no link to them', async () => {
    const roll = await post(d.op, inA('/settings/keys/roll'), { grace_period: '0' })
    assert.equal(roll.statusCode, 303)
    assert.match(String(roll.headers.location), /notice=key-rolled/)
    const rotate = await post(d.op, inA('/settings/signing-key/rotate'))
    assert.equal(rotate.statusCode, 303)
    const instances = (await d.t.db.query('select id from instances')).length
    for (const b of [who.admin, who.viewer, who.limitedAdmin]) {
      const page = await b.get(inA('/invitations'))
      assert.doesNotMatch(page.body, /href="\/dashboard\/operators"|href="\/dashboard\/instances\/new"/)
      for (const path of OWNER_PAGES) {
        const res = await b.get(path)
        assert.equal(res.statusCode, 403, path)
        assert.match(textOf(res.body), /Only owners manage operators, instances and keys/)
      }
      for (const path of OWNER_ACTIONS) assert.equal((await post(b, path, { name: 'Sneaky', email_address: 'sneaky@example.com', role: 'owner', scope: 'all' })).statusCode, 403, path)
    }
    assert.equal((await d.t.db.query('select id from instances')).length, instances, 'no instance was created')
    assert.equal((await d.t.db.query("select 1 from operator_invitations where email_address = 'sneaky@example.com'")).length, 0)
    // Their own account is every operator's; the rule for every operator is an owner's.
    const account = await who.viewer.get('/dashboard/account')
    assert.equal(account.statusCode, 200)
    assert.doesNotMatch(account.body, /class="read-only"/)
    assert.equal((await post(who.viewer, '/dashboard/account/sessions/end-others')).statusCode, 303)
    assert.equal((await post(who.viewer, '/dashboard/account/totp/start')).statusCode, 200)
    assert.equal((await post(who.admin, '/dashboard/account/require-totp', { require_totp: 'on' })).statusCode, 403)
    const own = await d.op.get(inA('/invitations'))
    assert.match(own.body, /href="\/dashboard\/operators"/)
    assert.match(own.body, /<body class="owner">/)
  })

  it('an operator limited to one instance gets 404 on another (pages, switch, POSTs), as for an instance that does not exist, and never sees its name', async () => {
    for (const b of [who.limitedAdmin, who.limitedViewer]) {
      const home = await b.get('/dashboard')
      assert.equal(home.headers.location, inA('/invitations'))
      const own = await b.get(inA('/invitations'))
      assert.equal(own.statusCode, 200)
      assert.doesNotMatch(own.body, new RegExp(`Beta Hidden Project|${beta}`))
      for (const instance of [beta, 'ins_doesnotexist']) {
        for (const path of ['', ...PAGES]) {
          const res = await b.get(`/dashboard/${instance}${path}`)
          assert.equal(res.statusCode, 404, `${instance}${path}`)
          assert.match(textOf(res.body), NO_INSTANCE)
          assert.doesNotMatch(res.body, /Beta Hidden Project/)
        }
        const switched = await b.get(`/dashboard/switch?instance=${instance}`)
        assert.equal(switched.statusCode, 404)
        assert.match(textOf(switched.body), NO_INSTANCE)
        for (const path of [...ACTIONS, ...KEY_ACTIONS]) {
          const res = await post(b, `/dashboard/${instance}${path}`, { emails: 'x@example.com' })
          assert.equal(res.statusCode, 404, `${instance}${path}`)
          assert.match(textOf(res.body), NO_INSTANCE)
        }
      }
    }
    // Those reaching every instance see both.
    for (const b of [who.admin, who.viewer, d.op]) {
      assert.equal((await b.get(`/dashboard/${beta}/invitations`)).statusCode, 200)
      assert.match((await b.get(inA('/invitations'))).body, /Beta Hidden Project/)
    }
  })
})

forEachDatabase('dashboard authorization: the dev mailbox', (engine) => {
  it('only owners read the dev mailbox, which holds every instance\'s links and operators\' invitations', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const email = `reader.${Date.now()}@example.com`
    assert.equal((await invite(d, email, { role: 'viewer' })).statusCode, 303)
    await d.t.outboxWorker.drain()
    const [message] = await d.t.db.query<{ text: string; template_slug: string }>('select text, template_slug from dev_mailbox_messages where to_address = $1', [email])
    assert.equal(message?.template_slug, 'operator_invitation')
    const link = /http:\/\/foyer\.test(\/dashboard\/invitations\/accept\?token=[A-Za-z0-9_-]+)/.exec(message.text)![1]!
    const viewer = await acceptInvitation(d, link)
    const refused = await viewer.get('/dev/mailbox')
    assert.equal(refused.statusCode, 403)
    assert.match(refused.body, /Only owners read the dev mailbox/)
    assert.equal((await d.op.get('/dev/mailbox')).statusCode, 200)
    assert.equal((await browser(d.t.app).get('/dev/mailbox')).statusCode, 303)
  })
})

it('a route nobody declared gets the safe default: reading any role, changing admin, and owner outside instances; a stale declaration stops start-up', async () => {
  const app = Fastify()
  const seen: Record<string, string | undefined> = {}
  const check = declareAccess(app, { instancePrefix: '/dashboard/:instance_id', declared: new Map([['POST /dashboard/:instance_id/future/keys', 'owner' as const]]) })
  app.addHook('onRoute', (route) => { seen[`${String(route.method)} ${route.url}`] = route.config?.requires })
  for (const path of ['/dashboard/:instance_id/future', '/dashboard/:instance_id/future/keys', '/dashboard/future']) {
    app.get(path, async () => '')
    app.post(path, async () => '')
  }
  check()
  assert.equal(seen['GET /dashboard/:instance_id/future'], 'viewer')
  assert.equal(seen['POST /dashboard/:instance_id/future'], 'admin')
  assert.equal(seen['POST /dashboard/:instance_id/future/keys'], 'owner')
  assert.equal(seen['GET /dashboard/future'], 'owner')
  assert.equal(seen['POST /dashboard/future'], 'owner')
  await app.close()

  const stale = Fastify()
  const checkStale = declareAccess(stale, { instancePrefix: '/dashboard/:instance_id', declared: new Map([['POST /dashboard/:instance_id/renamed', 'owner' as const]]) })
  stale.post('/dashboard/:instance_id/new-name', async () => '')
  assert.throws(checkStale, /dashboard access is declared for routes that do not exist: POST \/dashboard\/:instance_id\/renamed/)
  await stale.close()
})
