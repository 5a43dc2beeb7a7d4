import { html, raw, type SafeHtml } from '../platform/html.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { ClerkInvitationLink, ClerkInvitationLinkUse } from '../invitation-links/invitation-links.schemas.js'
import { csrfInput, errorBox, instancePath, invalidIf, noticeBox, when, type FormError } from './dashboard.views.js'
import { linkBox } from './invitations.views.js'

export const linksPath = (instance: Instance, rest = '') => instancePath(instance.id, `links${rest}`)

/** The create form as typed, kept to fill the form again when something is refused. */
export interface LinkValues {
  organizationId: string
  role: string
  maxUses: string
  expiresInDays: string
  allowedDomains: string
  publicMetadata: string
}

export const EMPTY_LINK: LinkValues = { organizationId: '', role: 'org:member', maxUses: '', expiresInDays: '30', allowedDomains: '', publicMetadata: '' }

const STATUS_BADGE: Record<string, string> = { active: 'pending', revoked: 'revoked', expired: 'expired', used_up: 'accepted' }
const statusBadge = (status: string) => html`<span class="status status-${STATUS_BADGE[status] ?? status}">${status.replace('_', ' ')}</span>`
const usesText = (l: ClerkInvitationLink) => `${l.use_count} / ${l.max_uses ?? '∞'}`

export interface LinkTarget { id: string; name: string }

const into = (l: ClerkInvitationLink, organizations: Map<string, string>) => l.organization_id
  ? html`${organizations.get(l.organization_id) ?? l.organization_id} <span class="muted mono">${l.role}</span>`
  : html`Application`

function revokeForm(instance: Instance, link: ClerkInvitationLink, csrf: string): SafeHtml | false {
  return link.status === 'active' && html`<form method="post" action="${linksPath(instance, `/${link.id}/revoke`)}">
${csrfInput(csrf)}<button type="submit" class="secondary small">Revoke</button></form>`
}

function createForm(instance: Instance, csrf: string, organizations: LinkTarget[], values: LinkValues, error: FormError | null, open: boolean): SafeHtml {
  return html`<details class="card" id="create"${open && raw(' open')}>
<summary><strong>Create a link</strong></summary>
<form method="post" action="${linksPath(instance)}">
${csrfInput(csrf)}
${errorBox(error)}
<div class="field">
<label for="organization_id">Joins <span class="hint">The application, or an organization with a role.</span></label>
<select id="organization_id" name="organization_id"${invalidIf(error, 'organization_id')}>
<option value="">The application</option>
${organizations.map((o) => html`<option value="${o.id}"${values.organizationId === o.id && raw(' selected')}>${o.name}</option>\n`)}</select>
</div>
<div class="field">
<label for="role">Role <span class="hint">For an organization: the role people join with.</span></label>
<input id="role" name="role" class="mono" maxlength="200" value="${values.role}"${invalidIf(error, 'role')}>
</div>
<div class="field">
<label for="max_uses">Maximum uses <span class="hint">Blank: unlimited.</span></label>
<input id="max_uses" name="max_uses" type="number" min="1" max="1000000" value="${values.maxUses}"${invalidIf(error, 'max_uses')}>
</div>
<div class="field">
<label for="expires_in_days">Expires in days <span class="hint">Blank: never.</span></label>
<input id="expires_in_days" name="expires_in_days" type="number" min="1" max="3650" value="${values.expiresInDays}"${invalidIf(error, 'expires_at')}>
</div>
<div class="field">
<label for="allowed_domains">Allowed email domains <span class="hint">Separated by commas or spaces, such as acme.com. Blank: any.</span></label>
<input id="allowed_domains" name="allowed_domains" maxlength="4000" value="${values.allowedDomains}"${invalidIf(error, 'allowed_domains')}>
</div>
<div class="field">
<label for="public_metadata">Public metadata <span class="hint">JSON object given to everyone who joins (the membership's, for an organization).</span></label>
<textarea id="public_metadata" name="public_metadata" class="mono" rows="3" maxlength="8192"${invalidIf(error, 'public_metadata')}>${values.publicMetadata}</textarea>
</div>
<button type="submit">Create link</button>
</form>
</details>`
}

export function linksListBody(p: {
  instance: Instance; csrf: string; links: ClerkInvitationLink[]; total: number; offset: number; limit: number; organizations: LinkTarget[]
  notice: string | null; create: { values: LinkValues; error: FormError | null; open: boolean }
}): SafeHtml {
  const { instance } = p
  const names = new Map(p.organizations.map((o) => [o.id, o.name]))
  const table = p.links.length === 0
    ? html`<p class="empty">No invitation links yet.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Link</th><th scope="col">Joins</th><th scope="col">Uses</th><th scope="col">Expires</th><th scope="col">Status</th><th scope="col">Actions</th></tr></thead>
<tbody>
${p.links.map((l) => html`<tr data-link="${l.id}">
<td>${l.status === 'active' ? linkBox(l.id, l.url) : html`<span class="mono muted">${l.id}</span>`}</td>
<td>${into(l, names)}</td>
<td>${usesText(l)}</td>
<td>${l.expires_at === null ? 'Never' : when(l.expires_at)}</td>
<td>${statusBadge(l.status)}</td>
<td class="actions">${revokeForm(instance, l, p.csrf)} <a href="${linksPath(instance, `/${l.id}`)}">Uses</a></td>
</tr>
`)}</tbody>
</table></div>`
  const last = p.offset + p.links.length
  return html`${noticeBox(p.notice)}
<p>People who open a link give their email address, prove it with an emailed code, and then sign up (or sign in) and join. Opening a link changes nothing.</p>
${createForm(instance, p.csrf, p.organizations, p.create.values, p.create.error, p.create.open)}
${table}
${(p.offset > 0 || last < p.total) && html`<nav class="pager" aria-label="Pages">
${p.offset > 0 && html`<a href="${linksPath(instance)}?offset=${Math.max(0, p.offset - p.limit)}" rel="prev">Previous</a>`}
<span class="muted">${p.offset + 1}–${last} of ${p.total}</span>
${last < p.total && html`<a href="${linksPath(instance)}?offset=${last}" rel="next">Next</a>`}
</nav>`}`
}

export function linkDetailBody(p: {
  instance: Instance; csrf: string; link: ClerkInvitationLink; organizationName: string | null; uses: ClerkInvitationLinkUse[]; total: number; offset: number; limit: number
  notice: string | null
}): SafeHtml {
  const { instance, link } = p
  const names = new Map(link.organization_id && p.organizationName ? [[link.organization_id, p.organizationName]] : [])
  const last = p.offset + p.uses.length
  const rest = `/${link.id}`
  return html`${noticeBox(p.notice)}
<div class="card">
${link.status === 'active' ? linkBox(link.id, link.url) : html`<p class="mono muted">${link.id}</p>`}
<dl class="facts">
<dt>Status</dt><dd>${statusBadge(link.status)}</dd>
<dt>Joins</dt><dd>${into(link, names)}</dd>
<dt>Uses</dt><dd>${usesText(link)}</dd>
<dt>Expires</dt><dd>${link.expires_at === null ? 'Never' : when(link.expires_at)}</dd>
<dt>Allowed domains</dt><dd>${link.allowed_domains.length === 0 ? 'Any' : link.allowed_domains.join(', ')}</dd>
<dt>Public metadata</dt><dd><code class="mono">${JSON.stringify(link.public_metadata)}</code></dd>
<dt>Created</dt><dd>${when(link.created_at)}</dd>
</dl>
${revokeForm(instance, link, p.csrf)}
</div>
<h2>Uses</h2>
${p.uses.length === 0 ? html`<p class="empty">Nobody has used this link yet.</p>` : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Email address</th><th scope="col">User</th><th scope="col">Joined</th><th scope="col">When</th></tr></thead>
<tbody>
${p.uses.map((u) => html`<tr data-use="${u.id}">
<td class="email">${u.email_address}</td>
<td class="mono">${u.user_id ? html`<a href="${instancePath(instance.id, `users/${u.user_id}`)}">${u.user_id}</a>` : '—'}</td>
<td>${u.joined ? 'Yes' : 'Not yet'}</td>
<td>${when(u.created_at)}</td>
</tr>
`)}</tbody>
</table></div>`}
${(p.offset > 0 || last < p.total) && html`<nav class="pager" aria-label="Pages">
${p.offset > 0 && html`<a href="${linksPath(instance, rest)}?offset=${Math.max(0, p.offset - p.limit)}" rel="prev">Previous</a>`}
<span class="muted">${p.offset + 1}–${last} of ${p.total}</span>
${last < p.total && html`<a href="${linksPath(instance, rest)}?offset=${last}" rel="next">Next</a>`}
</nav>`}
<p><a href="${linksPath(instance)}">All links</a></p>`
}
