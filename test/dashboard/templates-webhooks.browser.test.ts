/**
 * The email templates and webhooks pages in a real browser (Debian's Chromium, driven by
 * playwright-core), against Foyer as a child process: editing a template with its preview in a
 * sandboxed frame (following what is typed), and adding a webhook endpoint. Screenshots go to
 * docs/screenshots/.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { api, type FoyerProcess } from '../helpers/child-server.js'
import { browserSkip as skip, SCREENSHOTS, setUpFirstOperator, useBrowserSuite } from '../helpers/browser-suite.js'

const OPERATOR = 'ops@example.com'
const PASSWORD = 'correct horse battery'

/**
 * The whole page. A full-page capture leaves the sandboxed preview frame blank in headless
 * Chromium (it is rendered apart), so the viewport is made as tall as the page instead.
 */
async function fullScreenshot(page: Page, name: string) {
  const viewport = page.viewportSize()!
  const height = await page.evaluate(() => document.documentElement.scrollHeight)
  await page.setViewportSize({ width: viewport.width, height })
  await page.waitForTimeout(300)
  await page.screenshot({ path: join(SCREENSHOTS, name) })
  await page.setViewportSize(viewport)
}

interface Template { subject: string; html: string; customized: boolean }
interface Endpoint { id: string; url: string; event_types: string[]; enabled: boolean }

describe('dashboard email templates and webhooks in Chromium', { skip }, () => {
  // The endpoint added below points at 127.0.0.1.
  const suite = useBrowserSuite('templates-webhooks', () => ({ FOYER_WEBHOOK_ALLOW_PRIVATE: '1' }))
  const { secretKey } = suite
  let foyer: FoyerProcess
  let page: Page
  let base: string
  const dialogs: string[] = []

  before(async () => {
    foyer = suite.foyer
    await api(foyer, secretKey, 'PATCH', '/v1/instance', { application_name: 'Acme Rockets' })
    page = await suite.newPage()
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message())
      void dialog.dismiss()
    })
    base = await setUpFirstOperator(page, foyer, OPERATOR, PASSWORD)
  })

  after(() => assert.deepEqual(dialogs, [], 'no script of a template ran'))

  it('the template preview follows what is typed, without a click or a page load, and saves nothing', async () => {
    await page.goto(`${base}/templates/invitation`)
    const editorUrl = page.url()
    const frame = page.frameLocator('#preview-html')
    assert.equal(await page.locator('[data-live-hint]').isVisible(), true)
    await page.getByLabel('Subject').fill('Live {{ app_name }}')
    await page.locator('#preview-subject', { hasText: /^Live Sample app$/ }).waitFor()
    await page.getByLabel('HTML', { exact: false }).first().fill('<h1 style="color: #1a7f37">Typed for {{ email_address }}</h1><script>alert("live preview script ran")</script>')
    await frame.locator('h1', { hasText: 'Typed for someone@example.com' }).waitFor()
    await page.locator('#preview-text').waitFor()
    assert.match(await page.locator('#preview-status').innerText(), /Your changes, not saved yet, rendered with sample data/)

    // A template that does not render says why, in place; fixing it brings the preview back.
    await page.getByLabel('Text', { exact: false }).first().fill('{% if %}')
    await page.locator('#preview-status', { hasText: /No preview: The text template cannot be used/ }).waitFor()
    assert.equal(await page.locator('#preview-body').isVisible(), false)
    await page.getByLabel('Text', { exact: false }).first().fill('Join: {{ url }}')
    await page.locator('#preview-text', { hasText: 'Join: https://' }).waitFor()
    assert.equal(await page.locator('#preview-body').isVisible(), true)
    await frame.locator('h1', { hasText: 'Typed for someone@example.com' }).waitFor()
    assert.equal(page.url(), editorUrl, 'no navigation happened')
    await fullScreenshot(page, 'dashboard-template-live.png')
    assert.equal((await api<Template>(foyer, secretKey, 'GET', '/v1/email_templates/invitation')).customized, false, 'typing saves nothing')
  })

  it('edits a template: preview in a sandboxed frame without saving, a broken one refused inline, save, reset', async () => {
    await page.goto(base)
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Email templates' }).click()
    await page.waitForURL(/\/templates$/)
    await page.locator('tr', { hasText: 'Sent when someone is invited to the application' }).getByRole('link', { name: 'Edit' }).click()
    await page.waitForURL(/\/templates\/invitation$/)

    // The built-in template, rendered with sample data, styled inline, in the frame.
    const frame = page.frameLocator('#preview-html')
    assert.equal(await frame.locator('h1').textContent(), 'You are invited to join Sample app')
    assert.equal(await frame.getByRole('link', { name: 'Accept invitation' }).evaluate((a) => getComputedStyle(a).backgroundColor), 'rgb(47, 111, 235)')
    const sandbox = await page.locator('#preview-html').getAttribute('sandbox')
    assert.doesNotMatch(sandbox ?? 'missing', /allow-scripts|allow-same-origin/)

    // Preview what is typed (a script included: it does not run), without saving.
    await page.getByLabel('Subject').fill('Welcome aboard {{ app_name }}')
    await page.getByLabel('HTML', { exact: false }).first().fill(`<div style="font-family: Georgia, serif; padding: 24px; border-top: 4px solid #fd8c73">
<h1 style="font-size: 22px">Welcome aboard, {{ email_address }}</h1>
<p>{{ app_name }} is waiting for you. The link works until {{ expires_at }}.</p>
<p><a href="{{ url }}" style="display: inline-block; background: #1a7f37; color: #fff; padding: 10px 18px; border-radius: 6px; text-decoration: none">Join {{ app_name }}</a></p>
<script>alert('template script ran'); parent.document.title = 'pwned'</script>
</div>`)
    await Promise.all([page.waitForURL(/\/templates\/invitation\/preview$/), page.getByRole('button', { name: 'Preview' }).click()])
    assert.equal(await frame.locator('h1').textContent(), 'Welcome aboard, someone@example.com')
    assert.match(await page.locator('#preview-subject').textContent() ?? '', /^Welcome aboard Sample app$/)
    assert.match(await page.locator('#preview').innerText(), /not saved yet/)
    assert.equal((await api<Template>(foyer, secretKey, 'GET', '/v1/email_templates/invitation')).customized, false, 'preview saves nothing')
    assert.doesNotMatch(await page.title(), /pwned/)

    // A broken template is refused inline, keeping what was typed.
    await page.getByLabel('Subject').fill('Hi {{ no_such_name }}')
    await page.getByRole('button', { name: 'Save' }).click()
    assert.match(await page.getByRole('alert').textContent() ?? '', /The subject template cannot be used: .*no_such_name/)
    assert.equal(await page.getByLabel('Subject').inputValue(), 'Hi {{ no_such_name }}')
    assert.equal((await api<Template>(foyer, secretKey, 'GET', '/v1/email_templates/invitation')).customized, false)

    await page.getByLabel('Subject').fill('Welcome aboard {{ app_name }}')
    const htmlField = page.getByLabel('HTML', { exact: false }).first()
    await htmlField.fill((await htmlField.inputValue()).replace(/<script>.*<\/script>\n/, ''))
    await Promise.all([page.waitForURL(/notice=saved/), page.getByRole('button', { name: 'Save' }).click()])
    assert.match(await page.getByRole('status').textContent() ?? '', /The template was saved/)
    assert.equal((await api<Template>(foyer, secretKey, 'GET', '/v1/email_templates/invitation')).subject, 'Welcome aboard {{ app_name }}')
    assert.equal(await frame.locator('h1').textContent(), 'Welcome aboard, someone@example.com')
    await fullScreenshot(page, 'dashboard-templates.png')

    await Promise.all([page.waitForURL(/notice=reset/), page.getByRole('button', { name: 'Reset to default' }).click()])
    const reset = await api<Template>(foyer, secretKey, 'GET', '/v1/email_templates/invitation')
    assert.equal(reset.customized, false)
    assert.equal(await frame.locator('h1').textContent(), 'You are invited to join Sample app')
  })

  it('adds a webhook endpoint with an event filter, reveals its secret, and shows its delivery log', async () => {
    await page.goto(base)
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Webhooks' }).click()
    await page.waitForURL(/\/webhooks$/)
    await page.getByText('Add endpoint', { exact: true }).first().click()
    // Nothing listens there: the delivery fails and waits for its next attempt.
    await page.getByLabel('Endpoint URL').fill('http://127.0.0.1:9/hooks/foyer')
    await page.getByLabel('invitation.created', { exact: true }).check()
    await page.getByLabel('invitation.accepted', { exact: true }).check()
    await Promise.all([page.waitForURL(/\/webhooks\/ep_\w+\?notice=created$/), page.getByRole('button', { name: 'Add endpoint' }).click()])
    const [endpoint] = await api<Endpoint[]>(foyer, secretKey, 'GET', '/v1/webhooks/endpoints')
    assert.ok(endpoint)
    assert.deepEqual(endpoint.event_types, ['invitation.created', 'invitation.accepted'])
    assert.equal(endpoint.enabled, true)

    await page.getByRole('button', { name: 'Reveal secret' }).click()
    assert.match(await page.getByLabel('Signing secret').inputValue(), /^whsec_/)

    await api(foyer, secretKey, 'POST', '/v1/invitations', { email_address: 'grace@example.com', notify: false, public_metadata: { team: 'launch' } })
    const deadline = Date.now() + 20_000
    for (;;) {
      await page.goto(`${base}/webhooks/${endpoint.id}`)
      if (await page.locator('tr[data-delivery]').count() > 0 && /next attempt|failed|delivered/.test(await page.locator('tr[data-delivery]').first().innerText())) break
      assert.ok(Date.now() < deadline, 'the delivery shows up in the log')
      await page.waitForTimeout(300)
    }
    const delivery = page.locator('tr[data-delivery]').first()
    assert.match(await delivery.innerText(), /invitation\.created/)
    await delivery.getByText('Payload').click()
    assert.match(await delivery.locator('pre').innerText(), /"email_address": "grace@example.com"/)
    await page.getByRole('button', { name: 'Reveal secret' }).click()
    await page.locator('tr[data-delivery]').first().getByText('Payload').click()
    await fullScreenshot(page, 'dashboard-webhooks.png')

    await Promise.all([page.waitForURL(/notice=retried/), page.locator('tr[data-delivery]').first().getByRole('button', { name: /Retry now|Send again/ }).click()])
    assert.match(await page.getByRole('status').textContent() ?? '', /The delivery is due now/)
  })
})
