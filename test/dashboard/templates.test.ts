import { it } from 'node:test'
import assert from 'node:assert/strict'
import { client } from '../helpers/build-app.js'
import { forEachDatabase } from '../helpers/databases.js'
import { browser, textOf } from '../pages/page-client.js'
import { DEFAULT_TEMPLATES } from '../../src/email/email.templates.js'
import { csrfOf, dashboardApp, formFields, type Dashboard } from './dashboard-client.js'

const templatesOf = (d: Dashboard, rest = '') => `/dashboard/${d.instanceId}/templates${rest}`

const unescape = (text: string) =>
  text.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': '\'' }[e]!))

/** The preview frame's srcdoc, decoded as the browser would; and the frame's attributes. */
function frameOf(body: string): { srcdoc: string; tag: string } {
  const tag = /<iframe [^>]*>/.exec(body)?.[0]
  assert.ok(tag, `no preview frame in:\n${body}`)
  return { tag, srcdoc: unescape(/\ssrcdoc="([^"]*)"/.exec(tag)![1]!) }
}

/** The page with the frame taken out: what renders as the dashboard itself. */
const outsideFrame = (body: string) => body.replace(/<iframe [^>]*><\/iframe>/g, '')

/** Types into the editor and presses Preview (a button posting the edit form to …/preview). */
async function preview(d: Dashboard, editor: string, changes: Record<string, string>) {
  const page = await d.op.get(editor)
  assert.match(page.body, new RegExp(`formaction="${editor}/preview"`))
  return d.op.post(`${editor}/preview`, { ...formFields(page.body, editor), ...changes })
}

const overrideOf = async (d: Dashboard, slug: string) =>
  (await d.t.db.query<{ subject: string | null; html: string | null; text: string | null }>(
    'select subject, html, text from email_templates where instance_id = $1 and slug = $2', [d.instanceId, slug]))[0] ?? null

forEachDatabase('dashboard email templates', (engine) => {
  it('lists every template, default or customized', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const res = await d.op.get(templatesOf(d))
    assert.equal(res.statusCode, 200, res.body)
    for (const slug of Object.keys(DEFAULT_TEMPLATES)) assert.match(res.body, new RegExp(`href="${templatesOf(d, `/${slug}`)}"`))
    assert.match(textOf(res.body), /invitation Sent when someone is invited to the application\. You are invited to join \{\{ app_name \}\} default/)
    assert.match(res.body, /aria-current="page">Email templates</)
  })

  it('edits a template: preview without saving, save, then reset to default', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const editor = templatesOf(d, '/invitation')
    const page = await d.op.get(editor)
    assert.equal(page.statusCode, 200, page.body)
    // The saved (built-in) template, rendered with sample data in a sandboxed frame.
    const frame = frameOf(page.body)
    assert.match(frame.tag, /sandbox="allow-popups allow-popups-to-escape-sandbox"/)
    assert.doesNotMatch(frame.tag, /allow-scripts|allow-same-origin/)
    assert.match(frame.srcdoc, /You are invited to join Sample app/)
    assert.match(frame.srcdoc, /href="https:\/\/foyer\.example\.com\/v1\/tickets\/accept\?ticket=sample"/)
    assert.match(textOf(page.body), /Subject You are invited to join Sample app/)
    // The frame inherits the page's policy: inline style allowed for the email, script still not.
    const csp = String(page.headers['content-security-policy'])
    assert.match(csp, /style-src 'self' 'unsafe-inline'/)
    assert.match(csp, /script-src 'self'(;|$)/)
    assert.match(csp, /default-src 'none'/)

    // Preview renders what was typed, and saves nothing.
    const typed = { subject: 'Welcome to {{ app_name }}, {{ email_address }}', html: '<h1>Hello {{ email_address }}</h1><p><a href="{{ url }}">Join</a></p>', text: 'Hello {{ email_address }}: {{ url }}' }
    const previewed = await d.op.post(`${editor}/preview`, { ...formFields(page.body, editor), ...typed })
    assert.equal(previewed.statusCode, 200, previewed.body)
    assert.match(frameOf(previewed.body).srcdoc, /<h1>Hello someone@example\.com<\/h1>/)
    assert.match(textOf(previewed.body), /Subject Welcome to Sample app, someone@example\.com/)
    assert.match(previewed.body, /Hello someone@example\.com: https:\/\/foyer\.example\.com/)
    assert.match(textOf(previewed.body), /not saved yet/)
    assert.match(previewed.body, /value="Welcome to \{\{ app_name \}\}, \{\{ email_address \}\}"/, 'the form keeps what was typed')
    assert.equal(await overrideOf(d, 'invitation'), null)

    // Save; the text left as the built-in one is stored as "built-in".
    const saved = await d.submit(editor, editor, { subject: typed.subject, html: typed.html })
    assert.equal(saved.statusCode, 303, saved.body)
    assert.equal(saved.headers.location, `${editor}?notice=saved`)
    assert.deepEqual(await overrideOf(d, 'invitation'), { subject: typed.subject, html: typed.html, text: null })
    const after = await d.op.follow(saved)
    assert.match(textOf(after.body), /The template was saved/)
    assert.match(frameOf(after.body).srcdoc, /<h1>Hello someone@example\.com<\/h1>/)
    const api = await client(d.t.app, d.secretKey).get('/v1/email_templates/invitation')
    assert.equal(api.status, 200)
    assert.equal(api.body.subject, typed.subject)
    assert.match(textOf((await d.op.get(templatesOf(d))).body), /Welcome to \{\{ app_name \}\}, \{\{ email_address \}\} customized/)

    // Reset goes back to the built-in template.
    const reset = await d.submit(editor, `${editor}/reset`)
    assert.equal(reset.statusCode, 303, reset.body)
    assert.equal(await overrideOf(d, 'invitation'), null)
    const resetPage = await d.op.follow(reset)
    assert.match(textOf(resetPage.body), /The template was reset/)
    assert.match(resetPage.body, /value="You are invited to join \{\{ app_name \}\}"/)
    assert.doesNotMatch(resetPage.body, /Reset to default/, 'nothing left to reset')
  })

  it('refuses a broken template inline with 422, keeping what was typed, and saves nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const editor = templatesOf(d, '/invitation')
    for (const [changes, message] of [
      [{ html: '<p>{{ no_such_variable }}</p>' }, /The html template cannot be used: .*no_such_variable/],
      [{ subject: '{% if %}' }, /The subject template cannot be used/],
      [{ text: '{{ url | no_such_filter }}' }, /The text template cannot be used: .*no_such_filter/],
      [{ subject: '   ' }, /The subject template cannot be used: renders to an empty subject/],
    ] as const) {
      const res = await d.submit(editor, editor, changes)
      assert.equal(res.statusCode, 422, res.body)
      assert.match(textOf(res.body), message)
      assert.match(res.body, /role="alert"/)
      assert.match(res.body, /aria-invalid="true"/)
      assert.match(textOf(res.body), /No preview: the template does not render/)
      const [part, value] = Object.entries(changes)[0]!
      assert.ok(res.body.includes(part === 'subject' ? `value="${value.replace(/"/g, '&quot;')}"` : `>${value.replace(/</g, '&lt;').replace(/>/g, '&gt;')}</textarea>`), 'the form keeps what was typed')
      // Preview says the same, without saving.
      const previewed = await preview(d, editor, changes)
      assert.equal(previewed.statusCode, 422)
      assert.match(textOf(previewed.body), message)
    }
    assert.equal(await overrideOf(d, 'invitation'), null)
  })

  it('renders hostile templates inert: the email\'s markup only inside the sandboxed frame', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const editor = templatesOf(d, '/invitation')
    const hostile = {
      subject: '</title><script>alert(1)</script>{{ app_name }}',
      html: '</textarea></iframe><script>alert(2)</script><img src=x onerror=alert(3)><p>{{ email_address }}</p>',
      text: '</pre><script>alert(4)</script>{{ url }}',
    }
    // Saved through the API too, as an API user could.
    const saved = await d.submit(editor, editor, hostile)
    assert.equal(saved.statusCode, 303, saved.body)
    for (const page of [await d.op.get(editor), await preview(d, editor, hostile), await d.op.get(templatesOf(d))]) {
      const outside = outsideFrame(page.body)
      assert.doesNotMatch(outside, /<script>alert|<img src=x|<\/textarea><\/iframe>/i, outside)
      assert.equal([...outside.matchAll(/<script\b/g)].length, 1, 'only the dashboard\'s own script tag')
      assert.ok([...page.body.matchAll(/<iframe\b/g)].length <= 1, 'one frame at most: the preview')
    }
    const frame = frameOf((await d.op.get(editor)).body)
    // Inside the frame the template's own markup is there (the sandbox keeps it from running).
    assert.match(frame.srcdoc, /<script>alert\(2\)<\/script>/)
    assert.doesNotMatch(frame.tag, /allow-scripts|allow-same-origin/)
  })

  it('refuses every POST without a valid CSRF token with 403, changing nothing; needs a session', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const editor = templatesOf(d, '/invitation')
    const stranger = browser(d.t.app)
    const foreign = csrfOf((await stranger.get('/dashboard/sign-in')).body)
    for (const path of [editor, `${editor}/preview`, `${editor}/preview.json`, `${editor}/reset`]) {
      for (const token of [undefined, '', foreign, 'garbage']) {
        const fields = { subject: 'Pwned {{ app_name }}' }
        const res = await d.op.post(path, token === undefined ? fields : { ...fields, _csrf: token })
        assert.equal(res.statusCode, 403, `${path} with ${token === undefined ? 'no' : JSON.stringify(token)} token`)
        assert.match(res.body, /This form has expired or was not sent from this site/)
      }
    }
    assert.equal(await overrideOf(d, 'invitation'), null)
    const signedOut = await stranger.get(editor)
    assert.equal(signedOut.statusCode, 303)
    assert.match(String(signedOut.headers.location), /^\/dashboard\/sign-in\?next=/)
  })

  it('answers 404 for an unknown template and for an unknown instance', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    assert.equal((await d.op.get(templatesOf(d, '/no_such_template'))).statusCode, 404)
    const csrf = csrfOf((await d.op.get(templatesOf(d))).body)
    for (const action of ['', '/preview', '/preview.json', '/reset']) {
      assert.equal((await d.op.post(templatesOf(d, `/no_such_template${action}`), { _csrf: csrf, subject: 'x' })).statusCode, 404, action)
    }
    assert.equal((await d.op.get('/dashboard/ins_nosuchinstance/templates/invitation')).statusCode, 404)
    // Another instance's template is its own: saving here leaves it untouched.
    const other = await d.t.newInstance('Other')
    assert.equal((await d.submit(templatesOf(d, '/invitation'), templatesOf(d, '/invitation'), { subject: 'Ours {{ app_name }}' })).statusCode, 303)
    const theirs = await d.t.db.query('select 1 from email_templates where instance_id = $1', [other.instance.id])
    assert.equal(theirs.length, 0)
  })

  it('POST …/preview.json renders what is typed as JSON for the live preview, or says why it does not render (422); it saves nothing', async (t) => {
    const d = await dashboardApp(engine)
    t.after(() => d.t.close())
    const editor = templatesOf(d, '/invitation')
    const page = await d.op.get(editor)
    assert.match(page.body, new RegExp(`<form method="post" action="${editor}" data-live-preview="${editor}/preview.json">`))
    // The editor's script fetches from this origin: its page allows exactly that.
    assert.match(String(page.headers['content-security-policy']), /connect-src 'self'/)
    assert.match(page.body, /<p class="js-status" id="preview-status" aria-live="polite">/)
    const fields = formFields(page.body, editor)
    const typed = { subject: 'Hi {{ email_address }}', html: '<p>{{ app_name }} &amp; {{ email_address }}</p><script>x</script>', text: 'Go: {{ url }}' }
    const res = await d.op.post(`${editor}/preview.json`, { ...fields, ...typed })
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(res.headers['content-type'], 'application/json')
    assert.deepEqual(JSON.parse(res.body), {
      subject: 'Hi someone@example.com',
      html: '<p>Sample app &amp; someone@example.com</p><script>x</script>',
      text: 'Go: https://foyer.example.com/v1/tickets/accept?ticket=sample',
    })
    const broken = await d.op.post(`${editor}/preview.json`, { ...fields, html: '{% if %}' })
    assert.equal(broken.statusCode, 422)
    const { error } = JSON.parse(broken.body)
    assert.equal(error.param, 'html')
    assert.match(error.message, /^The html template cannot be used: /)
    assert.equal(await overrideOf(d, 'invitation'), null, 'nothing saved')
    // Without a session: 401, as for every POST.
    assert.equal((await browser(d.t.app).post(`${editor}/preview.json`, { ...fields, ...typed })).statusCode, 401)
  })
})
