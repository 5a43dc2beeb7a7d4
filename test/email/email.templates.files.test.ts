import { it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { forEachDatabase } from '../helpers/databases.js'
import { textOf } from '../pages/page-client.js'
import { dashboardApp, formFields } from '../dashboard/dashboard-client.js'

forEachDatabase('email templates read no files', (engine) => {
  // @see issue 12
  it('refuses include, render and layout in every form and part, through PUT, the dashboard save and both previews, with 422 naming the part; no file shows', async (t) => {
    const d = await dashboardApp(engine)
    // Real files with a marker where a template could look: the working folder and the data folder.
    const marker = `FOYER-SECRET-${randomBytes(8).toString('hex')}`
    const name = `template-probe-${randomBytes(4).toString('hex')}`
    const dataDir = d.t.config.dataDir
    const madeDataDir = !existsSync(dataDir)
    mkdirSync(dataDir, { recursive: true })
    const inCwd = join(process.cwd(), name)
    const inData = join(dataDir, name)
    for (const file of [inCwd, inData, `${inCwd}.liquid`]) writeFileSync(file, `${marker} {{ app_name }}`)
    t.after(async () => {
      for (const file of [inCwd, inData, `${inCwd}.liquid`]) rmSync(file, { force: true })
      if (madeDataDir) rmSync(dataDir, { recursive: true, force: true })
      await d.t.close()
    })

    const forms: [string, RegExp][] = [
      [`{% include '${name}' %}`, /include tag is not allowed/],
      [`{% include "${name}" with app_name %}`, /include tag is not allowed/],
      [`{% render "${inCwd}" %}`, /render tag is not allowed/],
      [`{% render '${name}' for email_address as x %}`, /render tag is not allowed/],
      [`{% layout '../${basename(process.cwd())}/${name}' %}`, /layout tag is not allowed/],
      [`{% layout '${inData}' %}{% block b %}x{% endblock %}`, /layout tag is not allowed/],
      [`{% liquid include '${name}' %}`, /include tag is not allowed/],
      [`{% liquid\n  assign f = '${name}'\n  render f\n%}`, /render tag is not allowed/],
      [`{% assign f = '${name}' %}{% include f %}`, /include tag is not allowed/],
      [`{% capture f %}${name}{% endcapture %}{% include {{ f }} %}`, /include tag is not allowed/],
      [`{% include email_address %}`, /include tag is not allowed/],
      [`{% if false %}{% include '${name}' %}{% endif %}`, /include tag is not allowed/],
    ]
    const editor = `/dashboard/${d.instanceId}/templates/invitation`
    const put = (body: Record<string, string>) => d.t.app.inject({
      method: 'PUT', url: '/v1/email_templates/invitation', payload: body,
      headers: { authorization: `Bearer ${d.secretKey}` },
    })
    const fields = formFields((await d.op.get(editor)).body, editor)

    for (const [form, why] of forms) {
      for (const part of ['subject', 'html', 'text'] as const) {
        const source = { [part]: `Hello ${form}` }
        const label = `${part}: ${form}`

        const clean = <T extends { body: string }>(res: T) => {
          assert.ok(!res.body.includes(marker), `the file was read: ${label}`)
          return res
        }

        const live = clean(await d.op.post(`${editor}/preview.json`, { ...fields, ...source }))
        assert.equal(live.statusCode, 422, label)
        assert.equal(JSON.parse(live.body).error.param, part, label)
        assert.match(JSON.parse(live.body).error.message, why, label)

        const previewed = clean(await d.op.post(`${editor}/preview`, { ...fields, ...source }))
        assert.equal(previewed.statusCode, 422, label)
        assert.match(textOf(previewed.body), why, label)

        const saved = clean(await d.submit(editor, editor, source))
        assert.equal(saved.statusCode, 422, label)
        assert.match(textOf(saved.body), new RegExp(`The ${part} template cannot be used: .*${why.source}`), label)

        const api = clean(await put(source))
        assert.equal(api.statusCode, 422, `${label}\n${api.body}`)
        const [error] = api.json().errors
        assert.equal(error.code, 'form_param_format_invalid')
        assert.equal(error.meta.param_name, part, label)
        assert.match(error.long_message, new RegExp(`^The ${part} template cannot be used: .*${why.source}`), label)
      }
    }
    const stored = await d.t.db.query('select 1 from email_templates where instance_id = $1', [d.instanceId])
    assert.equal(stored.length, 0, 'nothing was saved')
    // The built-in template still renders: the refusal is of those tags, not of templates.
    const page = await d.op.get(editor)
    assert.equal(page.statusCode, 200)
    assert.match(page.body, /You are invited to join Sample app/)
    assert.ok(!page.body.includes(marker))
  })
})
