import { it } from 'node:test'
import assert from 'node:assert/strict'
import { createTemplateRenderer } from '../../src/email/template-renderer.js'
import { sampleVariables } from '../../src/email/email.templates.js'

const HOSTILE = '{% for a in (1..3000) %}{% for b in (1..3000) %}{% endfor %}{% endfor %}'

it('the template renderer stops a job past its timeout, replaces the worker, and fails everything once closed', async (t) => {
  const renderer = createTemplateRenderer({ workers: 1, timeoutMs: 300 })
  t.after(() => renderer.close())
  // Liquid's own limit (500 ms) comes later than this renderer's timeout.
  assert.deepEqual(await renderer.check('invitation', { text: HOSTILE }), { part: 'text', reason: 'it takes too long to render' })
  const rendered = await renderer.render({ subject: 'Hi {{ app_name }}', html: '<p>{{ email_address }}</p>', text: '{{ url }}' }, sampleVariables('invitation'))
  assert.deepEqual(rendered, { subject: 'Hi Sample app', html: '<p>someone@example.com</p>', text: 'https://foyer.example.com/v1/tickets/accept?ticket=sample' })
  await renderer.close()
  await assert.rejects(renderer.render(rendered, sampleVariables('invitation')), /the template renderer is closed/)
})
