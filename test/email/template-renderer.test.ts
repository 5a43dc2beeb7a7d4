import { it } from 'node:test'
import assert from 'node:assert/strict'
import { createTemplateRenderer, RendererBusyError } from '../../src/email/template-renderer.js'
import { sampleVariables } from '../../src/email/email.templates.js'

const HOSTILE = '{% for a in (1..3000) %}{% for b in (1..3000) %}{% endfor %}{% endfor %}'
const PLAIN = { subject: 'Hi {{ app_name }}', html: '<p>{{ email_address }}</p>', text: '{{ url }}' }

it('the template renderer stops a job past its timeout, replaces the worker, and fails everything once closed', async (t) => {
  const renderer = createTemplateRenderer({ workers: 1, timeoutMs: 300 })
  t.after(() => renderer.close())
  // Liquid's own limit (500 ms) comes later than this renderer's timeout.
  assert.deepEqual(await renderer.check('ins_a', 'invitation', { text: HOSTILE }), { part: 'text', reason: 'it takes too long to render' })
  const rendered = await renderer.render('ins_a', PLAIN, sampleVariables('invitation'))
  assert.deepEqual(rendered, { subject: 'Hi Sample app', html: '<p>someone@example.com</p>', text: 'https://foyer.example.com/v1/tickets/accept?ticket=sample' })
  await renderer.close()
  await assert.rejects(renderer.render('ins_a', rendered, sampleVariables('invitation')), /the template renderer is closed/)
})

// @see issue 12
it('one instance\'s slow templates hold one worker at most: another instance\'s email is rendered before them', async (t) => {
  const renderer = createTemplateRenderer({ workers: 2 })
  t.after(() => renderer.close())
  const finished: string[] = []
  const slow = Array.from({ length: 4 }, (_, i) =>
    renderer.check('ins_hostile', 'invitation', { text: HOSTILE }).then(() => { finished.push(`hostile ${i}`) }))
  const victim = renderer.render('ins_victim', PLAIN, sampleVariables('invitation')).then(() => { finished.push('victim') })
  await Promise.all([...slow, victim])
  // First come, first served, the victim would wait for all four; it waits for none.
  assert.equal(finished[0], 'victim', finished.join(', '))
})

// @see issue 12
it('refuses checks past the few one instance may have waiting, and no other instance\'s', async (t) => {
  const renderer = createTemplateRenderer({ workers: 1, maxQueuedChecksPerKey: 2 })
  t.after(() => renderer.close())
  const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => renderer.check('ins_hostile', 'invitation', { text: HOSTILE })))
  const busy = outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof RendererBusyError).length
  assert.ok(busy >= 3, `expected at least 3 of 6 refused, got ${busy}`)
  assert.equal(outcomes.filter((o) => o.status === 'rejected' && !(o.reason instanceof RendererBusyError)).length, 0)
  assert.equal(await renderer.check('ins_other', 'invitation', { text: '{{ url }}' }), null)
})
