import { html, raw, type SafeHtml } from '../platform/html.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { EmailTemplate } from '../email/email.schemas.js'
import type { RenderedEmail, TemplateSource } from '../email/email.templates.js'
import { csrfInput, errorBox, instancePath, invalidIf, noticeBox, when, type FormError } from './dashboard.views.js'

export const templatesPath = (instance: Instance, rest = '') => instancePath(instance.id, `templates${rest}`)

/** What each template is for, as an operator reads it. */
export const TEMPLATE_PURPOSES: Record<string, string> = {
  invitation: 'Sent when someone is invited to the application.',
  waitlist_invitation: 'Sent when someone on the waitlist is let in.',
  organization_invitation: 'Sent when someone is invited to an organization.',
  invitation_reminder: 'Sent once before a pending invitation to the application expires (Settings: reminder before expiry).',
  organization_invitation_reminder: 'Sent once before a pending invitation to an organization expires (Settings: reminder before expiry).',
  verification_code: 'The code that verifies an email address at sign-up.',
  affiliation_code: 'The code that verifies an organization\'s domain.',
}

const customizedBadge = (customized: boolean) => customized
  ? html`<span class="status status-pending">customized</span>`
  : html`<span class="status status-revoked">default</span>`

export function templatesListBody(p: { instance: Instance; templates: EmailTemplate[]; notice: string | null }): SafeHtml {
  return html`${noticeBox(p.notice)}
<p class="muted">Every email Foyer sends for this instance, written in Liquid. A template you have not changed follows Foyer's built-in one.</p>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Template</th><th scope="col">Subject</th><th scope="col">State</th><th scope="col">Updated</th><th scope="col">Actions</th></tr></thead>
<tbody>
${p.templates.map((t) => html`<tr data-template="${t.slug}">
<td><a href="${templatesPath(p.instance, `/${t.slug}`)}" class="mono">${t.slug}</a><div class="muted">${TEMPLATE_PURPOSES[t.slug] ?? ''}</div></td>
<td>${t.subject}</td>
<td>${customizedBadge(t.customized)}</td>
<td>${when(t.updated_at)}</td>
<td class="actions"><a class="button secondary small" href="${templatesPath(p.instance, `/${t.slug}`)}">Edit</a></td>
</tr>
`)}</tbody>
</table></div>`
}

export interface EditorProps {
  instance: Instance
  csrf: string
  template: EmailTemplate
  /** What is in the form: the saved template, or what was typed. */
  source: TemplateSource
  /** The source rendered with sample data; null when it does not render. */
  preview: RenderedEmail | null
  /** Whether the preview is of unsaved changes. */
  unsaved: boolean
  variables: Record<string, string>
  error: FormError | null
  notice: string | null
}

/**
 * The email's HTML goes only into a sandboxed frame's srcdoc (escaped into the attribute by
 * the html tag, or set as a property by the editor's script): no scripts, an opaque origin,
 * links open in a new tab. Around it, the subject and text are shown as text. The elements are
 * there even when the template does not render, for the script to fill once it does.
 */
function previewBlock(p: EditorProps): SafeHtml {
  const status = p.preview
    ? `${p.unsaved ? 'Your changes, not saved yet,' : 'The saved template,'} rendered with sample data.`
    : 'No preview: the template does not render (see the message above).'
  return html`<p class="js-status" id="preview-status" aria-live="polite">${status}</p>
<div id="preview-body"${!p.preview && raw(' hidden')}>
<dl class="facts"><dt>Subject</dt><dd id="preview-subject">${p.preview?.subject ?? ''}</dd></dl>
<h3>HTML</h3>
<iframe id="preview-html" class="preview" sandbox="allow-popups allow-popups-to-escape-sandbox" referrerpolicy="no-referrer" title="HTML preview" width="100%" height="420" srcdoc="${'<base target="_blank">' + (p.preview?.html ?? '')}"></iframe>
<h3>Text</h3>
<pre id="preview-text">${p.preview?.text ?? ''}</pre>
</div>`
}

export function templateEditorBody(p: EditorProps): SafeHtml {
  const { instance, template, source, error } = p
  const action = templatesPath(instance, `/${template.slug}`)
  return html`${noticeBox(p.notice)}
<p class="muted">${TEMPLATE_PURPOSES[template.slug] ?? ''} ${template.customized ? `Customized${template.updated_at ? `, last saved ${when(template.updated_at)}` : ''}.` : 'Foyer\'s built-in template.'}</p>
<div class="card">
<h2>Edit</h2>
${errorBox(error)}
<form method="post" action="${action}" data-live-preview="${action}/preview.json">
${csrfInput(p.csrf)}
<div class="field">
<label for="subject">Subject</label>
<input id="subject" name="subject" maxlength="1000" required value="${source.subject}"${invalidIf(error, 'subject')}>
</div>
<div class="field">
<label for="html">HTML <span class="hint">Liquid; every output is HTML-escaped.</span></label>
<textarea id="html" name="html" rows="16" spellcheck="false"${invalidIf(error, 'html')}>${source.html}</textarea>
</div>
<div class="field">
<label for="text">Text <span class="hint">Liquid; the plain-text part.</span></label>
<textarea id="text" name="text" rows="10" spellcheck="false"${invalidIf(error, 'text')}>${source.text}</textarea>
</div>
<p class="muted">Variables: ${Object.keys(p.variables).map((name, i) => html`${i > 0 && ', '}<code>{{ ${name} }}</code>`)}</p>
<p class="toolbar"><button type="submit">Save</button> <button type="submit" class="secondary" formaction="${action}/preview">Preview</button> <span class="muted" data-live-hint hidden>The preview follows as you type.</span></p>
</form>
${template.customized && html`<form method="post" action="${action}/reset">
${csrfInput(p.csrf)}
<p class="toolbar"><button type="submit" class="danger small">Reset to default</button> <span class="muted">Drops your version; Foyer's built-in template is used again.</span></p>
</form>`}
</div>
<div class="card" id="preview">
<h2>Preview</h2>
${previewBlock(p)}
</div>
<p><a href="${templatesPath(instance)}">Back to email templates</a></p>`
}
