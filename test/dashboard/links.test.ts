import { after, before, it } from 'node:test'
import assert from 'node:assert/strict'
import { client, type Client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf } from '../pages/page-client.js'
import { dashboardApp, formFields, type Dashboard } from './dashboard-client.js'

forEachDatabase('dashboard invitation links', (engine) => {
  let d: Dashboard
  let api: Client
  let orgId: string
  before(async () => {
    d = await dashboardApp(engine)
    api = client(d.t.app, d.secretKey)
    const org = await api.post('/v1/organizations', { name: 'Launch & Team' })
    assert.equal(org.status, 200, JSON.stringify(org.body))
    orgId = org.body.id
  })
  after(() => d.t.close())
  const linksOf = (rest = '') => `/dashboard/${d.instanceId}/links${rest}`

  it('is in the navigation, lists nothing at first, and offers the organizations to join', async () => {
    const page = await d.op.get(linksOf())
    assert.equal(page.statusCode, 200, page.body)
    assert.match(page.body, new RegExp(`href="${linksOf()}"`))
    assert.match(textOf(page.body), /No invitation links yet/)
    assert.match(page.body, /<option value="[^"]+">Launch &amp; Team<\/option>/, 'organization names are escaped')
  })

  it('creates an organization link from the form, shows it to copy, lists its uses, and revokes it', async () => {
    const created = await d.submit(linksOf(), linksOf(), {
      organization_id: orgId, role: 'org:member', max_uses: '3', expires_in_days: '7', allowed_domains: 'acme.com, acme.org', public_metadata: '{"team": "<b>"}',
    })
    assert.equal(created.statusCode, 303, created.body)
    const [link] = (await api.get('/v1/invitation_links')).body
    assert.equal(created.headers.location, `${linksOf(`/${link.id}`)}?notice=created`)
    assert.equal(link.organization_id, orgId)
    assert.equal(link.max_uses, 3)
    assert.deepEqual(link.allowed_domains, ['acme.com', 'acme.org'])
    assert.deepEqual(link.public_metadata, { team: '<b>' })
    assert.equal(link.expires_at, d.t.clock.now() + 7 * 86_400_000)

    const detail = await d.op.get(String(created.headers.location))
    assert.equal(detail.statusCode, 200, detail.body)
    assert.match(textOf(detail.body), /The link was created/)
    assert.ok(detail.body.includes(`value="${link.url}"`), 'the link is there to copy')
    assert.match(detail.body, /data-copy="link-/)
    assert.ok(!detail.body.includes('"<b>"'), 'metadata is escaped')
    assert.match(textOf(detail.body), /Nobody has used this link yet/)
    const list = await d.op.get(linksOf())
    assert.match(textOf(list.body), /0 \/ 3/)

    // A use, as the link page makes one.
    const links = d.t.services.invitationLinks
    const { attemptId } = await links.start(new URL(link.url).searchParams.get('token')!, 'grace@acme.com')
    const found = await links.attempt(attemptId)
    assert.equal((await links.redeem(attemptId, links.codeFor(found!.attempt))).kind, 'invitation')
    const withUse = await d.op.get(linksOf(`/${link.id}`))
    assert.match(textOf(withUse.body), /grace@acme\.com — Not yet/)
    assert.match(textOf(withUse.body), /Uses 1 \/ 3/)

    const revoked = await d.op.post(linksOf(`/${link.id}/revoke`), formFields(withUse.body, linksOf(`/${link.id}/revoke`)))
    assert.equal(revoked.statusCode, 303)
    assert.equal((await api.get(`/v1/invitation_links/${link.id}`)).body.status, 'revoked')
    const after = await d.op.get(String(revoked.headers.location))
    assert.match(textOf(after.body), /The link was revoked/)
    assert.ok(!after.body.includes(link.url), 'a revoked link is not offered to copy')
  })

  it('shows refusals on the form, and refuses a post without its CSRF token', async () => {
    const refused = await d.submit(linksOf(), linksOf(), { organization_id: orgId, role: 'org:nope' })
    assert.equal(refused.statusCode, 404)
    assert.match(textOf(refused.body), /Organization role org:nope not found/)
    const badDomain = await d.submit(linksOf(), linksOf(), { allowed_domains: 'not_a_domain' })
    assert.equal(badDomain.statusCode, 422)
    assert.match(textOf(badDomain.body), /must be a domain name/)
    const badMetadata = await d.submit(linksOf(), linksOf(), { public_metadata: '[1]' })
    assert.equal(badMetadata.statusCode, 422)
    const forged = await d.op.post(linksOf(), { max_uses: '1' })
    assert.equal(forged.statusCode, 403)
    const stranger = await browser(d.t.app).get(linksOf())
    assert.equal(stranger.statusCode, 303, 'pages need an operator')
  })
})
