import { it } from 'node:test'
import assert from 'node:assert/strict'
import { buildTestApp, client, uniqueEmail } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { textOf } from '../pages/page-client.js'
import { dashboardApp, formFields } from '../dashboard/dashboard-client.js'
import type { FastifyInstance } from 'fastify'
import type { OutboxRow } from '../../src/platform/outbox/outbox.store.js'

const putTemplate = (app: FastifyInstance, secretKey: string, slug: string, body: Record<string, string>) => app.inject({
  method: 'PUT', url: `/v1/email_templates/${slug}`, payload: body, headers: { authorization: `Bearer ${secretKey}` },
})

forEachDatabase('email template variables', (engine) => {
  // @see issue 12
  it('PUT /v1/email_templates/{slug} refuses a variable the template does not provide, in any branch, with 422 naming the part and the variable', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const refused: [string, string, Record<string, string>, string][] = [
      // The sample data does not take the branch: rendering alone would let it through.
      ['invitation', 'text', { text: '{% if email_address == "x" %}{{ typo }}{% endif %}' }, 'typo'],
      ['invitation', 'html', { html: '{% unless app_name %}{{ user.name }}{% endunless %}' }, 'user'],
      ['invitation', 'subject', { subject: 'Hi {% case email_address %}{% when "a" %}{{ inviter_name }}{% endcase %}' }, 'inviter_name'],
      ['verification_code', 'html', { html: '{% for x in (1..2) %}{% if x > 5 %}{{ domain }}{% endif %}{% endfor %}' }, 'domain'],
    ]
    for (const [slug, part, body, variable] of refused) {
      const res = await putTemplate(d.t.app, d.secretKey, slug, body)
      assert.equal(res.statusCode, 422, `${slug} ${JSON.stringify(body)}: ${res.body}`)
      const [error] = res.json().errors
      assert.equal(error.code, 'form_param_format_invalid')
      assert.equal(error.meta.param_name, part)
      assert.match(error.long_message, new RegExp(`^The ${part} template cannot be used: it uses "${variable}", which the ${slug} template does not provide`))
    }
    assert.equal((await d.t.db.query('select 1 from email_templates where instance_id = $1', [d.instanceId])).length, 0, 'nothing saved')

    // The same through the dashboard's save and live preview.
    const editor = `/dashboard/${d.instanceId}/templates/invitation`
    const typo = { text: '{% if email_address == "x" %}{{ typo }}{% endif %}' }
    const saved = await d.submit(editor, editor, typo)
    assert.equal(saved.statusCode, 422)
    assert.match(textOf(saved.body), /The text template cannot be used: it uses "typo", which the invitation template does not provide/)
    const live = await d.op.post(`${editor}/preview.json`, { ...formFields((await d.op.get(editor)).body, editor), ...typo })
    assert.equal(live.statusCode, 422)
    assert.equal(JSON.parse(live.body).error.param, 'text')
    assert.match(JSON.parse(live.body).error.message, /"typo"/)

    // Names the template declares itself, and every variable the slug provides, are fine.
    const fine = await putTemplate(d.t.app, d.secretKey, 'organization_invitation', {
      subject: '{{ inviter_name }} invites you to {{ organization_name }}',
      text: [
        '{% assign greeting = "Hello" %}{% capture who %}{{ email_address | downcase }}{% endcapture %}',
        '{{ greeting }} {{ who }}, {% for n in (1..2) %}{{ forloop.index }}{{ n }}{% endfor %}{% increment count %}',
        '{% if email_address == "x" %}{{ app_name }} {{ url }} {{ expires_at }} {{ expires_at_iso }}{% endif %}',
        '{% tablerow c in (1..2) %}{{ tablerowloop.col }}{% endtablerow %}{% liquid\n  assign y = app_name | upcase\n  echo y\n%}',
      ].join('\n'),
    })
    assert.equal(fine.statusCode, 200, fine.body)
  })

  // @see issue 12
  it('fails an email at once, without retries, when its template does not render with that email\'s data; others still go out', async (t) => {
    const app = await buildTestApp({ engine })
    t.after(() => app.close())
    const { secretKey } = await app.newInstance('Acme')
    const api = client(app.app, secretKey)
    // Saved: the sample address does not take the branch, and email_address is provided.
    const put = await putTemplate(app.app, secretKey, 'invitation', {
      html: '<p>{% if email_address contains "doomed" %}{{ email_address.first_name }}{% endif %}Join {{ app_name }}</p>',
    })
    assert.equal(put.statusCode, 200, put.body)
    const doomed = (await api.post('/v1/invitations', { email_address: uniqueEmail('doomed') })).body
    const fine = (await api.post('/v1/invitations', { email_address: uniqueEmail('fine') })).body
    await app.outboxWorker.drain()

    const [failed] = (await api.get(`/v1/invitations/${doomed.id}/emails`)).body.data
    assert.equal(failed.status, 'failed')
    assert.equal(failed.attempts, 1)
    assert.equal(failed.next_attempt_at, null)
    assert.match(failed.last_error, /^The html template cannot be rendered: .*email_address\.first_name/)
    assert.equal((await api.get(`/v1/invitations/${fine.id}/emails`)).body.data[0].status, 'sent')

    // Nothing comes back later: the whole retry schedule passes with no new attempt.
    app.clock.advance(24 * 60 * 60 * 1000)
    assert.equal(await app.outboxWorker.drain(), 0)
    const [row] = await app.db.query<OutboxRow>(`select * from outbox where kind = 'email' and subject_id = $1`, [doomed.id])
    assert.equal(row!.status, 'failed')
    assert.equal(row!.attempts, 1)
    const sent = await app.services.email.devMessages(100)
    assert.ok(!sent.some((m) => m.to_address === doomed.email_address), 'no email went to the doomed address')
    assert.ok(sent.some((m) => m.to_address === fine.email_address))
  })
})
