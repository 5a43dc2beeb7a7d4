import { it } from 'node:test'
import assert from 'node:assert/strict'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { textOf } from '../pages/page-client.js'
import { dashboardApp, formFields } from '../dashboard/dashboard-client.js'

// Nine million loop turns: runs into Liquid's render-time limit, whatever the machine.
const HOSTILE = '{% for a in (1..3000) %}{% for b in (1..3000) %}{% endfor %}{% endfor %}'

const inject = (app: FastifyInstance, secretKey: string, method: 'PUT' | 'DELETE', body?: Record<string, string>) => app.inject({
  method, url: '/v1/email_templates/invitation', headers: { authorization: `Bearer ${secretKey}` }, ...(body ? { payload: body } : {}),
})

forEachDatabase('email templates and other instances', (engine) => {
  // @see issue 12
  it('renders off the request thread: /v1/health answers while four hostile saves render, and each save is refused with 422 and a reason', async (t) => {
    const app = await buildTestApp({ engine })
    t.after(() => app.close())
    const { secretKey } = await app.newInstance('Hostile')
    const order: string[] = []
    const saves = [1, 2, 3, 4].map((n) => inject(app.app, secretKey, 'PUT', { html: `${n}${HOSTILE}` }).then((res) => {
      order.push(`save ${n}`)
      return res
    }))
    // Health over a real socket: a connection is served only when the event loop is free,
    // which a render on this thread would not let it be.
    await app.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.app.server.address() as { port: number }
    const health = fetch(`http://127.0.0.1:${port}/v1/health`).then((res) => {
      order.push('health')
      return { statusCode: res.status }
    })
    const [healthRes, ...saved] = await Promise.all([health, ...saves])
    assert.equal(healthRes!.statusCode, 200)
    assert.equal(order[0], 'health', `answered in the order ${order.join(', ')}`)
    for (const res of saved) {
      assert.equal(res.statusCode, 422, res.body)
      const [error] = res.json().errors
      assert.equal(error.meta.param_name, 'html')
      assert.match(error.long_message, /^The html template cannot be used: .*(render limit exceeded|takes too long to render)/)
    }
  })

  // @see issue 12
  it('an instance flooding saves of slow templates gets 429 past the few it may have waiting, and another instance is answered before its backlog', async (t) => {
    const app = await buildTestApp({ engine })
    t.after(() => app.close())
    const hostile = await app.newInstance('Hostile')
    const victim = await app.newInstance('Victim')
    const order: string[] = []
    const floods = Array.from({ length: 16 }, (_, n) => inject(app.app, hostile.secretKey, 'PUT', { text: `${n}${HOSTILE}` }).then((res) => {
      order.push(`hostile ${res.statusCode}`)
      return res
    }))
    const mine = inject(app.app, victim.secretKey, 'PUT', { subject: 'Welcome to {{ app_name }}' }).then((res) => {
      order.push(`victim ${res.statusCode}`)
      return res
    })
    const [victimRes, ...flooded] = await Promise.all([mine, ...floods])
    assert.equal(victimRes!.statusCode, 200, victimRes!.body)
    const busy = flooded.filter((res) => res.statusCode === 429)
    assert.ok(busy.length >= 6, `expected most of the flood refused, got ${order.join(', ')}`)
    for (const res of busy) {
      assert.equal(res.json().errors[0].code, 'too_many_requests')
      assert.ok(Number(res.headers['retry-after']) > 0)
    }
    assert.ok(flooded.every((res) => res.statusCode === 422 || res.statusCode === 429), order.join(', '))
    const served = order.filter((o) => !o.endsWith('429'))
    assert.ok(served.indexOf('victim 200') <= 1, `the victim waited behind the flood: ${served.join(', ')}`)
  })

  // @see issue 12
  it('refuses a part with more Liquid statements than a template may hold, naming the part', async (t) => {
    const app = await buildTestApp({ engine })
    t.after(() => app.close())
    const { secretKey } = await app.newInstance()
    const res = await inject(app.app, secretKey, 'PUT', { html: '<p>{{ app_name }}</p>'.repeat(501) })
    assert.equal(res.statusCode, 422, res.body)
    assert.equal(res.json().errors[0].meta.param_name, 'html')
    assert.match(res.json().errors[0].long_message, /501 Liquid statements .* at most 500/)
    assert.equal((await inject(app.app, secretKey, 'PUT', { html: '<p>{{ app_name }}</p>'.repeat(100) })).statusCode, 200)
  })

  // @see issue 12
  it('PUT and DELETE /v1/email_templates/{slug} allow 60 changes a minute per instance, then 429 with Retry-After in Clerk\'s shape', async (t) => {
    const app = await buildTestApp({ engine })
    t.after(() => app.close())
    const { secretKey } = await app.newInstance('Busy')
    for (let i = 0; i < 59; i++) assert.equal((await inject(app.app, secretKey, 'DELETE')).statusCode, 200)
    assert.equal((await inject(app.app, secretKey, 'PUT', { subject: 'Hi {{ app_name }}' })).statusCode, 200)
    for (const res of [await inject(app.app, secretKey, 'PUT', { subject: 'Again {{ app_name }}' }), await inject(app.app, secretKey, 'DELETE')]) {
      assert.equal(res.statusCode, 429)
      assert.ok(Number(res.headers['retry-after']) > 0 && Number(res.headers['retry-after']) <= 60, String(res.headers['retry-after']))
      const [error] = res.json().errors
      assert.equal(error.code, 'too_many_requests')
      assert.match(error.long_message, /60 changes per minute for this instance\. Retry after \d+ seconds\./)
    }
    const get = await app.app.inject({ method: 'GET', url: '/v1/email_templates/invitation', headers: { authorization: `Bearer ${secretKey}` } })
    assert.equal(get.json().subject, 'Hi {{ app_name }}', 'the refused change was not made')
    // Another instance has its own budget.
    const other = await app.newInstance('Other')
    assert.equal((await inject(app.app, other.secretKey, 'PUT', { subject: 'Ours {{ app_name }}' })).statusCode, 200)
  })

  // @see issue 12
  it('the dashboard allows 120 template saves and previews a minute per instance, then answers 429 with a readable message', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const editor = `/dashboard/${d.instanceId}/templates/invitation`
    const fields = formFields((await d.op.get(editor)).body, editor)
    for (let i = 0; i < 119; i++) assert.equal((await d.op.post(`${editor}/preview.json`, { ...fields, subject: `Try ${i}` })).statusCode, 200)
    assert.equal((await d.submit(editor, editor, { subject: 'Saved {{ app_name }}' })).statusCode, 303)

    const live = await d.op.post(`${editor}/preview.json`, fields)
    assert.equal(live.statusCode, 429)
    assert.ok(Number(live.headers['retry-after']) > 0)
    assert.match(JSON.parse(live.body).error.message, /^Templates of this instance were saved or previewed 120 times in the last minute, the most allowed\. Wait \d+ seconds, then try again\.$/)
    for (const res of [await d.op.post(`${editor}/preview`, fields), await d.submit(editor, editor, { subject: 'Refused {{ app_name }}' })]) {
      assert.equal(res.statusCode, 429)
      assert.ok(Number(res.headers['retry-after']) > 0)
      assert.match(textOf(res.body), /saved or previewed 120 times in the last minute, the most allowed\. Wait \d+ seconds, then try again\./)
    }
    const stored = await d.t.db.query<{ subject: string }>('select subject from email_templates where instance_id = $1', [d.instanceId])
    assert.equal(stored[0]!.subject, 'Saved {{ app_name }}')
    // Another instance has its own budget.
    const other = await d.t.newInstance('Other')
    const theirs = `/dashboard/${other.instance.id}/templates/invitation`
    assert.equal((await d.op.post(`${theirs}/preview.json`, formFields((await d.op.get(theirs)).body, theirs))).statusCode, 200)
  })
})
