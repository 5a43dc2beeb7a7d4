import { html, raw, type HtmlValue, type SafeHtml } from '../platform/html.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { InvitationRow, InvitationStatus } from '../invitations/invitations.schemas.js'
import type { ClerkEmailDelivery } from '../email/email.schemas.js'
import { csrfInput, errorBox, instancePath, invalidIf, noticeBox, when, type FormError } from './dashboard.views.js'
import { MAX_EMAILS, type InviteValues } from './invitations.form.js'

export const TABS = ['pending', 'accepted', 'revoked', 'expired', 'all'] as const
export type Tab = (typeof TABS)[number]
const TAB_LABELS: Record<Tab, string> = { pending: 'Pending', accepted: 'Accepted', revoked: 'Revoked', expired: 'Expired', all: 'All' }

export const SORTS = ['created_at', 'email_address', 'expires_at'] as const
export type SortColumn = (typeof SORTS)[number]

export interface ListState {
  tab: Tab
  q: string
  sort: SortColumn
  descending: boolean
  offset: number
  limit: number
}

export interface ListedInvitation {
  id: string
  emailAddress: string
  status: InvitationStatus
  createdAt: number
  expiresAt: number
  /** The working link, for a pending invitation only. */
  url: string | null
}

export const invitationsPath = (instance: Instance, rest = '') => instancePath(instance.id, `invitations${rest}`)

/** The list's URL for `state`, changed by `changes`; defaults are left out so URLs stay short. */
export function listUrl(instance: Instance, state: ListState, changes: Partial<ListState> = {}): string {
  const s = { ...state, ...changes }
  const params = new URLSearchParams()
  if (s.tab !== 'pending') params.set('status', s.tab)
  if (s.q) params.set('q', s.q)
  if (s.sort !== 'created_at' || !s.descending) params.set('order_by', `${s.descending ? '-' : '+'}${s.sort}`)
  if (s.offset > 0) params.set('offset', String(s.offset))
  const query = params.toString()
  return invitationsPath(instance) + (query ? `?${query}` : '')
}

const statusBadge = (status: string) => html`<span class="status status-${status}">${status}</span>`

/** A link in a readonly input: selectable and copyable without script; the Copy button needs it. */
export function linkBox(id: string, url: string): SafeHtml {
  return html`<div class="link-box">
<label for="link-${id}" class="sr-only">Invitation link</label>
<input id="link-${id}" class="mono" readonly value="${url}">
<button type="button" class="secondary small" data-copy="link-${id}" hidden>Copy</button>
</div>`
}

/** The actions a status allows, as small forms; `back` is where to return afterwards. */
export function rowActions(instance: Instance, inv: { id: string; status: InvitationStatus }, csrf: string, back: string, detail = false): SafeHtml {
  const post = (action: string, label: string, variant = 'secondary') => html`<form method="post" action="${invitationsPath(instance, `/${inv.id}/${action}`)}">
${csrfInput(csrf)}<input type="hidden" name="back" value="${back}"><button type="submit" class="${variant} small">${label}</button></form>`
  return html`${inv.status === 'pending' && post('resend', 'Resend')}${inv.status === 'expired' && post('resend', 'Re-issue')}${inv.status === 'pending' && post('revoke', 'Revoke')}<a class="button secondary small" href="${invitationsPath(instance, `/${inv.id}/delete`)}?back=${encodeURIComponent(back)}">Delete</a>${!detail && html` <a href="${invitationsPath(instance, `/${inv.id}`)}">Details</a>`}`
}

function inviteForm(instance: Instance, csrf: string, values: InviteValues, error: FormError | null, open: boolean): SafeHtml {
  return html`<details class="card" id="invite"${open && raw(' open')}>
<summary><strong>Invite people</strong></summary>
<form method="post" action="${invitationsPath(instance)}">
${csrfInput(csrf)}
${errorBox(error)}
<div class="field">
<label for="emails">Email addresses <span class="hint">One per line, up to ${MAX_EMAILS}.</span></label>
<textarea id="emails" name="emails" rows="3" required${invalidIf(error, 'emails')}>${values.emails}</textarea>
</div>
<div class="row">
<div class="field">
<label for="expires_in_days">Expires in (days)</label>
<input id="expires_in_days" name="expires_in_days" type="number" min="1" max="365" value="${values.expiresInDays}"${invalidIf(error, 'expires_in_days')}>
</div>
<div class="field">
<label for="expires_on">Or expires on <span class="hint">Overrides the days when set.</span></label>
<input id="expires_on" name="expires_on" type="date" value="${values.expiresOn}"${invalidIf(error, 'expires_on')}>
</div>
</div>
<div class="field">
<label for="redirect_url">Redirect URL <span class="hint">Optional: where the link leads, on an allowed origin.</span></label>
<input id="redirect_url" name="redirect_url" type="url" maxlength="2048" value="${values.redirectUrl}"${invalidIf(error, 'redirect_url')}>
</div>
<div class="field">
<label for="public_metadata">Public metadata <span class="hint">Optional JSON object, copied to the user on sign-up.</span></label>
<textarea id="public_metadata" name="public_metadata" rows="3" data-json-object${invalidIf(error, 'public_metadata')}>${values.publicMetadata}</textarea>
<p class="js-status" id="public_metadata-status" aria-live="polite"></p>
</div>
<div class="field"><label class="check"><input type="checkbox" name="notify" value="1"${values.notify && raw(' checked')}> Send the invitation email</label></div>
<button type="submit">Invite</button>
</form>
</details>`
}

export interface ListPageProps {
  instance: Instance
  csrf: string
  state: ListState
  rows: ListedInvitation[]
  total: number | null
  notice: string | null
  invite: { values: InviteValues; error: FormError | null; open: boolean }
}

export function invitationsListBody(p: ListPageProps): SafeHtml {
  const { instance, state } = p
  const here = listUrl(instance, state)
  const sortLink = (column: SortColumn, label: string) => {
    const isCurrent = state.sort === column
    const descending = isCurrent ? !state.descending : column !== 'email_address'
    const arrow = isCurrent ? (state.descending ? ' ↓' : ' ↑') : ''
    return html`<a href="${listUrl(instance, state, { sort: column, descending, offset: 0 })}"${isCurrent && html` aria-sort="${state.descending ? 'descending' : 'ascending'}"`}>${label}${arrow}</a>`
  }
  const first = p.rows.length > 0 ? state.offset + 1 : 0
  const last = state.offset + p.rows.length
  const hasNext = p.total !== null ? last < p.total : p.rows.length === state.limit
  const table = p.rows.length === 0
    ? html`<p class="empty">${state.q ? 'No invitations match this search.' : `No ${state.tab === 'all' ? '' : `${TAB_LABELS[state.tab].toLowerCase()} `}invitations.`}</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">${sortLink('email_address', 'Email')}</th><th scope="col">Status</th><th scope="col">${sortLink('created_at', 'Created')}</th><th scope="col">${sortLink('expires_at', 'Expires')}</th><th scope="col">Actions</th></tr></thead>
<tbody>
${p.rows.map((r) => html`<tr data-invitation="${r.id}">
<td class="email"><a href="${invitationsPath(instance, `/${r.id}`)}">${r.emailAddress}</a><div class="mono muted">${r.id}</div></td>
<td>${statusBadge(r.status)}</td>
<td>${when(r.createdAt)}</td>
<td>${when(r.expiresAt)}</td>
<td class="actions">${rowActions(instance, r, p.csrf, here)}${r.url && html`<details><summary>Link</summary>${linkBox(r.id, r.url)}</details>`}</td>
</tr>
`)}</tbody>
</table></div>`
  return html`${noticeBox(p.notice)}
${inviteForm(instance, p.csrf, p.invite.values, p.invite.error, p.invite.open)}
<ul class="tabs">
${TABS.map((tab) => html`<li><a href="${listUrl(instance, state, { tab, offset: 0 })}"${tab === state.tab && raw(' aria-current="page"')}>${TAB_LABELS[tab]}</a></li>`)}
</ul>
${state.tab === 'all' && html`<p class="muted">All but revoked invitations, as the API lists them; revoked ones are under Revoked.</p>`}
<form class="toolbar" method="get" action="${invitationsPath(instance)}" role="search">
${state.tab !== 'pending' && html`<input type="hidden" name="status" value="${state.tab}">`}
<input type="hidden" name="order_by" value="${`${state.descending ? '-' : '+'}${state.sort}`}">
<label for="q" class="sr-only">Search by email or id</label>
<input id="q" name="q" type="search" maxlength="320" placeholder="Search by email or invitation id" value="${state.q}">
<button type="submit" class="secondary">Search</button>
${state.q && html`<a href="${listUrl(instance, state, { q: '', offset: 0 })}">Clear</a>`}
</form>
${table}
<nav class="pager" aria-label="Pages">
${state.offset > 0 && html`<a href="${listUrl(instance, state, { offset: Math.max(0, state.offset - state.limit) })}" rel="prev">Previous</a>`}
<span class="muted">${first}–${last}${p.total !== null && html` of ${p.total.toLocaleString('en-US')}`}</span>
${hasNext && html`<a href="${listUrl(instance, state, { offset: state.offset + state.limit })}" rel="next">Next</a>`}
</nav>`
}

/** An invitation's emails (the invitation, resends, its reminder), oldest first, with their delivery. */
export function emailHistory(emails: readonly ClerkEmailDelivery[], notify: boolean): SafeHtml {
  if (emails.length === 0) return html`<p class="muted">No email was queued for this invitation${notify ? '' : ' (it was created without sending one)'}.</p>`
  return html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Queued</th><th scope="col">Template</th><th scope="col">To</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Sent</th><th scope="col">Details</th></tr></thead>
<tbody>
${emails.map((e) => html`<tr>
<td>${when(e.created_at)}</td><td class="mono">${e.template_slug}</td><td class="email">${e.to_email_address}</td><td>${statusBadge(e.status)}</td>
<td>${e.attempts}</td><td>${when(e.sent_at)}</td>
<td class="mono">${e.last_error ?? e.skipped_reason ?? e.smtp_message_id ?? ''}${e.status === 'queued' && e.next_attempt_at && html`<div class="muted">next attempt ${when(e.next_attempt_at)}</div>`}</td>
</tr>
`)}</tbody></table></div>`
}

export function invitationDetailBody(p: { instance: Instance; csrf: string; invitation: InvitationRow; status: InvitationStatus; url: string | null; emails: ClerkEmailDelivery[]; notice: string | null }): SafeHtml {
  const inv = p.invitation
  const back = invitationsPath(p.instance, `/${inv.id}`)
  const metadata = JSON.stringify(inv.public_metadata, null, 2)
  const history = emailHistory(p.emails, inv.notify)
  return html`${noticeBox(p.notice)}
<div class="card">
<dl class="facts">
<dt>Email</dt><dd>${inv.email_address}</dd>
<dt>Status</dt><dd>${statusBadge(p.status)}</dd>
<dt>Id</dt><dd class="mono">${inv.id}</dd>
<dt>Created</dt><dd>${when(inv.created_at)}</dd>
<dt>Expires</dt><dd>${when(inv.expires_at)}</dd>
<dt>Updated</dt><dd>${when(inv.updated_at)}</dd>
<dt>Redirect URL</dt><dd class="mono">${inv.redirect_url ?? '—'}</dd>
<dt>Send email</dt><dd>${inv.notify ? 'yes' : 'no'}</dd>
<dt>Public metadata</dt><dd><pre>${metadata}</pre></dd>
</dl>
${p.url && html`<h2>Link</h2>${linkBox(inv.id, p.url)}`}
<div class="toolbar">${rowActions(p.instance, { id: inv.id, status: p.status }, p.csrf, back, true)}</div>
</div>
<div class="card">
<h2>Email delivery</h2>
${history}
</div>
<p><a href="${invitationsPath(p.instance)}">Back to invitations</a></p>`
}

export function deleteConfirmBody(p: { instance: Instance; csrf: string; invitation: InvitationRow; status: InvitationStatus; back: string }): SafeHtml {
  return html`<div class="card">
<p>Delete the ${p.status} invitation for <strong>${p.invitation.email_address}</strong>? Its link stops working and it disappears from every list, with its email history. This cannot be undone.</p>
<form method="post" action="${invitationsPath(p.instance, `/${p.invitation.id}/delete`)}">
${csrfInput(p.csrf)}
<input type="hidden" name="back" value="${p.back}">
<p class="toolbar"><button type="submit" class="danger">Delete invitation</button> <a href="${p.back}">Cancel</a></p>
</form>
</div>`
}
