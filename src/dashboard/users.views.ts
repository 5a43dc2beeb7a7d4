import { html, type SafeHtml } from '../platform/html.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { UserWithActivity } from '../users/users.store.js'
import type { MembershipDetails } from '../organizations/memberships.schemas.js'
import type { SessionView } from '../sessions/sessions.service.js'
import { toClerkSession } from '../sessions/sessions.schemas.js'
import { csrfInput, instancePath, noticeBox, when } from './dashboard.views.js'

export const usersPath = (instance: Instance, rest = '') => instancePath(instance.id, `users${rest}`)
export const orgPath = (instance: Instance, organizationId: string) => instancePath(instance.id, `organizations/${encodeURIComponent(organizationId)}`)

export interface UserListState {
  q: string
  offset: number
  limit: number
}

export function userListUrl(instance: Instance, state: UserListState, changes: Partial<UserListState> = {}): string {
  const s = { ...state, ...changes }
  const params = new URLSearchParams()
  if (s.q) params.set('q', s.q)
  if (s.offset > 0) params.set('offset', String(s.offset))
  const query = params.toString()
  return usersPath(instance) + (query ? `?${query}` : '')
}

type User = UserWithActivity

export const fullName = (u: { first_name: string | null; last_name: string | null }) =>
  [u.first_name, u.last_name].filter((part) => part && part.trim()).join(' ')

export const primaryEmail = (u: User) =>
  (u.email_addresses.find((e) => e.id === u.primary_email_address_id) ?? u.email_addresses[0]) ?? null

/** Verified (by which means) or not, as a badge. */
export function verificationBadge(e: { verified_at: number | null; verification_strategy: string | null }): SafeHtml {
  return e.verified_at !== null
    ? html`<span class="status status-accepted" title="${`verified ${when(e.verified_at)}`}">verified</span>${e.verification_strategy && html` <span class="muted">(${e.verification_strategy})</span>`}`
    : html`<span class="status status-pending">unverified</span>`
}

export function usersListBody(p: { instance: Instance; state: UserListState; rows: User[]; total: number | null; notice: string | null }): SafeHtml {
  const { instance, state } = p
  const first = p.rows.length > 0 ? state.offset + 1 : 0
  const last = state.offset + p.rows.length
  const hasNext = p.total !== null ? last < p.total : p.rows.length === state.limit
  const table = p.rows.length === 0
    ? html`<p class="empty">${state.q ? 'No users match this search.' : 'No users yet.'}</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">User</th><th scope="col">Email</th><th scope="col">Created</th><th scope="col">Last sign-in</th></tr></thead>
<tbody>
${p.rows.map((u) => {
    const email = primaryEmail(u)
    return html`<tr data-user="${u.id}">
<td><a href="${usersPath(instance, `/${encodeURIComponent(u.id)}`)}">${fullName(u) || email?.email_address || u.id}</a><div class="mono muted">${u.id}</div></td>
<td class="email">${email ? html`${email.email_address} ${verificationBadge(email)}` : '—'}</td>
<td>${when(u.created_at)}</td>
<td>${when(u.last_sign_in_at)}</td>
</tr>
`
  })}</tbody>
</table></div>`
  return html`${noticeBox(p.notice)}
<form class="toolbar" method="get" action="${usersPath(instance)}" role="search">
<label for="q" class="sr-only">Search users</label>
<input id="q" name="q" type="search" maxlength="320" placeholder="Search by email, name or user id" value="${state.q}">
<button type="submit" class="secondary">Search</button>
${state.q && html`<a href="${userListUrl(instance, state, { q: '', offset: 0 })}">Clear</a>`}
</form>
${table}
<nav class="pager" aria-label="Pages">
${state.offset > 0 && html`<a href="${userListUrl(instance, state, { offset: Math.max(0, state.offset - state.limit) })}" rel="prev">Previous</a>`}
<span class="muted">${first}–${last}${p.total !== null && html` of ${p.total.toLocaleString('en-US')}`}</span>
${hasNext && html`<a href="${userListUrl(instance, state, { offset: state.offset + state.limit })}" rel="next">Next</a>`}
</nav>`
}

const json = (value: unknown) => JSON.stringify(value ?? {}, null, 2)

/** The user's sessions, newest first, each active one with a Revoke button. */
function sessionsTable(instance: Instance, user: User, csrf: string, sessions: SessionView[], total: number): SafeHtml {
  if (sessions.length === 0) return html`<p class="muted">No sessions: this user has never signed in.</p>`
  const revoke = (id: string) => html`<form method="post" action="${usersPath(instance, `/${encodeURIComponent(user.id)}/sessions/${encodeURIComponent(id)}/revoke`)}">
${csrfInput(csrf)}<button type="submit" class="secondary small">Revoke</button></form>`
  return html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Session</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col">Last active</th><th scope="col">Expires</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
<tbody>
${sessions.map(({ row, now }) => {
    const status = toClerkSession(row, now).status
    return html`<tr data-session="${row.id}">
<td class="mono">${row.id}</td>
<td><span class="status status-${status}">${status}</span></td>
<td>${when(row.created_at)}</td>
<td>${when(row.last_active_at)}</td>
<td>${when(row.expires_at)}</td>
<td class="actions">${status === 'active' && revoke(row.id)}</td>
</tr>
`
  })}</tbody></table></div>${total > sessions.length && html`<p class="muted">Showing the newest ${sessions.length} of ${total} sessions.</p>`}`
}

export function userDetailBody(p: {
  instance: Instance; csrf: string; user: User; memberships: MembershipDetails[]; membershipsTotal: number
  sessions: SessionView[]; sessionsTotal: number; notice: string | null
}): SafeHtml {
  const { instance, user } = p
  const emails = user.email_addresses.length === 0
    ? html`<p class="muted">This user has no email address.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Address</th><th scope="col">Verification</th><th scope="col">Added</th></tr></thead>
<tbody>
${user.email_addresses.map((e) => html`<tr>
<td class="email">${e.email_address}${e.id === user.primary_email_address_id && html` <span class="muted">(primary)</span>`}</td>
<td>${verificationBadge(e)}${e.verified_at !== null && html`<div class="muted">${when(e.verified_at)}</div>`}</td>
<td>${when(e.created_at)}</td>
</tr>
`)}</tbody></table></div>`
  const memberships = p.memberships.length === 0
    ? html`<p class="muted">Not a member of any organization.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Organization</th><th scope="col">Role</th><th scope="col">Member since</th></tr></thead>
<tbody>
${p.memberships.map((m) => html`<tr>
<td><a href="${orgPath(instance, m.organization.id)}">${m.organization.name}</a><div class="mono muted">${m.organization.slug}</div></td>
<td>${m.role_name ?? m.role} <span class="mono muted">${m.role}</span></td>
<td>${when(m.created_at)}</td>
</tr>
`)}</tbody></table></div>${p.membershipsTotal > p.memberships.length && html`<p class="muted">Showing ${p.memberships.length} of ${p.membershipsTotal} memberships.</p>`}`
  return html`${noticeBox(p.notice)}<div class="card">
<dl class="facts">
<dt>Name</dt><dd>${fullName(user) || '—'}</dd>
<dt>Id</dt><dd class="mono">${user.id}</dd>
<dt>Created</dt><dd>${when(user.created_at)}</dd>
<dt>Updated</dt><dd>${when(user.updated_at)}</dd>
<dt>Last sign-in</dt><dd>${when(user.last_sign_in_at)}</dd>
<dt>Last active</dt><dd>${when(user.last_active_at)}</dd>
<dt>Password</dt><dd>${user.password_hash ? 'set' : 'none'}</dd>
</dl>
<p class="toolbar"><a class="button secondary small" href="${usersPath(instance, `/${encodeURIComponent(user.id)}/delete`)}">Delete user</a></p>
</div>
<div class="card">
<h2>Email addresses</h2>
${emails}
</div>
<div class="card">
<h2>Organization memberships</h2>
${memberships}
</div>
<div class="card">
<h2>Sessions</h2>
${sessionsTable(instance, user, p.csrf, p.sessions, p.sessionsTotal)}
</div>
<div class="card">
<h2>Metadata</h2>
<dl class="facts">
<dt>Public</dt><dd><pre>${json(user.public_metadata)}</pre></dd>
<dt>Private</dt><dd><pre>${json(user.private_metadata)}</pre></dd>
<dt>Unsafe</dt><dd><pre>${json(user.unsafe_metadata)}</pre></dd>
</dl>
</div>
<p><a href="${usersPath(instance)}">Back to users</a></p>`
}

export function userDeleteConfirmBody(p: { instance: Instance; csrf: string; user: User }): SafeHtml {
  const email = primaryEmail(p.user)
  const who = fullName(p.user) || email?.email_address || p.user.id
  const detail = usersPath(p.instance, `/${encodeURIComponent(p.user.id)}`)
  return html`<div class="card">
<p>Delete the user <strong>${who}</strong>${email && fullName(p.user) && html` (${email.email_address})`}? Their email addresses, sessions and organization memberships are deleted with them and they can no longer sign in. Invitations sent to them stay. This cannot be undone.</p>
<form method="post" action="${`${detail}/delete`}">
${csrfInput(p.csrf)}
<p class="toolbar"><button type="submit" class="danger">Delete user</button> <a href="${detail}">Cancel</a></p>
</form>
</div>`
}
