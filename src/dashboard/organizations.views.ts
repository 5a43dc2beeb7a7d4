import { html, raw, type SafeHtml } from '../platform/html.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { OrganizationView } from '../organizations/organizations.service.js'
import type { MembershipDetails } from '../organizations/memberships.schemas.js'
import type { OrgInvitationView } from '../organizations/org-invitations.schemas.js'
import { ENROLLMENT_MODES, type ClerkOrganizationDomain } from '../organizations/domains.schemas.js'
import { csrfInput, errorBox, instancePath, invalidIf, noticeBox, when, type FormError } from './dashboard.views.js'
import { fullName, usersPath } from './users.views.js'
import { emailHistory } from './invitations.views.js'
import type { ClerkEmailDelivery } from '../email/email.schemas.js'

export const orgsPath = (instance: Instance, rest = '') => instancePath(instance.id, `organizations${rest}`)
export const orgDetailPath = (instance: Instance, id: string, rest = '') => orgsPath(instance, `/${encodeURIComponent(id)}${rest}`)

export interface OrgListState {
  q: string
  offset: number
  limit: number
}

export function orgListUrl(instance: Instance, state: OrgListState, changes: Partial<OrgListState> = {}): string {
  const s = { ...state, ...changes }
  const params = new URLSearchParams()
  if (s.q) params.set('q', s.q)
  if (s.offset > 0) params.set('offset', String(s.offset))
  const query = params.toString()
  return orgsPath(instance) + (query ? `?${query}` : '')
}

/** The create form as typed, kept to fill it again when something is refused. */
export interface CreateOrgValues {
  name: string
  slug: string
  maxMembers: string
}
export const EMPTY_CREATE_ORG: CreateOrgValues = { name: '', slug: '', maxMembers: '' }

export interface RoleOption {
  key: string
  name: string
}

function createForm(instance: Instance, csrf: string, values: CreateOrgValues, error: FormError | null, open: boolean): SafeHtml {
  return html`<details class="card" id="create-organization"${open && raw(' open')}>
<summary><strong>Create organization</strong></summary>
<form method="post" action="${orgsPath(instance)}">
${csrfInput(csrf)}
${errorBox(error)}
<div class="field">
<label for="org-name">Name</label>
<input id="org-name" name="name" maxlength="256" required value="${values.name}"${invalidIf(error, 'name')}>
</div>
<div class="row">
<div class="field">
<label for="org-slug">Slug <span class="hint">Optional: lower-case letters, digits and dashes; made from the name when blank.</span></label>
<input id="org-slug" name="slug" maxlength="256" pattern="[a-z0-9\\-]+" value="${values.slug}"${invalidIf(error, 'slug')}>
</div>
<div class="field">
<label for="org-max">Max members <span class="hint">Optional: members plus pending invitations; blank or 0 for no limit.</span></label>
<input id="org-max" name="max_allowed_memberships" type="number" min="0" value="${values.maxMembers}"${invalidIf(error, 'max_allowed_memberships')}>
</div>
</div>
<button type="submit">Create organization</button>
</form>
</details>`
}

export function orgsListBody(p: {
  instance: Instance; csrf: string; state: OrgListState; rows: OrganizationView[]; total: number; notice: string | null
  create: { values: CreateOrgValues; error: FormError | null; open: boolean }
}): SafeHtml {
  const { instance, state } = p
  const first = p.rows.length > 0 ? state.offset + 1 : 0
  const last = state.offset + p.rows.length
  const table = p.rows.length === 0
    ? html`<p class="empty">${state.q ? 'No organizations match this search.' : 'No organizations yet.'}</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Organization</th><th scope="col">Slug</th><th scope="col">Members</th><th scope="col">Pending invitations</th><th scope="col">Max members</th><th scope="col">Created</th></tr></thead>
<tbody>
${p.rows.map(({ row, extras }) => html`<tr data-organization="${row.id}">
<td><a href="${orgDetailPath(instance, row.id)}">${row.name}</a><div class="mono muted">${row.id}</div></td>
<td class="mono">${row.slug}</td>
<td>${extras.membersCount ?? '—'}</td>
<td>${extras.pendingInvitationsCount ?? '—'}</td>
<td>${row.max_allowed_memberships > 0 ? row.max_allowed_memberships : 'no limit'}</td>
<td>${when(row.created_at)}</td>
</tr>
`)}</tbody>
</table></div>`
  return html`${noticeBox(p.notice)}
${createForm(instance, p.csrf, p.create.values, p.create.error, p.create.open)}
<form class="toolbar" method="get" action="${orgsPath(instance)}" role="search">
<label for="q" class="sr-only">Search organizations</label>
<input id="q" name="q" type="search" maxlength="256" placeholder="Search by name, slug or organization id" value="${state.q}">
<button type="submit" class="secondary">Search</button>
${state.q && html`<a href="${orgListUrl(instance, state, { q: '', offset: 0 })}">Clear</a>`}
</form>
${table}
<nav class="pager" aria-label="Pages">
${state.offset > 0 && html`<a href="${orgListUrl(instance, state, { offset: Math.max(0, state.offset - state.limit) })}" rel="prev">Previous</a>`}
<span class="muted">${first}–${last} of ${p.total.toLocaleString('en-US')}</span>
${last < p.total && html`<a href="${orgListUrl(instance, state, { offset: state.offset + state.limit })}" rel="next">Next</a>`}
</nav>`
}

/** Which form of the detail page a refusal belongs to: it is shown inside that form's card. */
export type OrgForm = 'members' | 'invite' | 'domains'

export interface OrgFormValues {
  inviteEmail: string
  inviteRole: string
  domainName: string
  domainMode: string
}
export const EMPTY_ORG_VALUES: OrgFormValues = { inviteEmail: '', inviteRole: '', domainName: '', domainMode: 'manual_invitation' }

export interface OrgDetailProps {
  instance: Instance
  csrf: string
  org: OrganizationView
  members: MembershipDetails[]
  membersTotal: number
  roles: RoleOption[]
  invitations: OrgInvitationView[]
  invitationsTotal: number
  domains: ClerkOrganizationDomain[]
  notice: string | null
  error: { form: OrgForm; error: FormError } | null
  values: OrgFormValues
}

/** The instance's roles as a select named `role`; `srLabel` labels it for screen readers where no visible label does. */
function roleSelect(id: string, roles: readonly RoleOption[], selected: string, srLabel: string | null, error?: FormError | null): SafeHtml {
  const options = roles.some((r) => r.key === selected) || !selected ? roles : [...roles, { key: selected, name: selected }]
  return html`${srLabel !== null && html`<label for="${id}" class="sr-only">${srLabel}</label>`}<select id="${id}" name="role"${invalidIf(error, 'role')}>
${options.map((r) => html`<option value="${r.key}"${r.key === selected && raw(' selected')}>${r.name} (${r.key})</option>\n`)}</select>`
}

export function orgDetailBody(p: OrgDetailProps): SafeHtml {
  const { instance, csrf, values } = p
  const { row, extras } = p.org
  const errorFor = (form: OrgForm) => (p.error?.form === form ? p.error.error : null)
  const membersError = errorFor('members')
  const inviteError = errorFor('invite')
  const domainsError = errorFor('domains')

  const members = p.members.length === 0
    ? html`<p class="muted">No members yet.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Member</th><th scope="col">Role</th><th scope="col">Since</th><th scope="col">Actions</th></tr></thead>
<tbody>
${p.members.map((m) => {
    const base = orgDetailPath(instance, row.id, `/members/${encodeURIComponent(m.user_id)}`)
    return html`<tr data-member="${m.user_id}">
<td class="email"><a href="${usersPath(instance, `/${encodeURIComponent(m.user_id)}`)}">${fullName(m.user) || m.user.identifier || m.user_id}</a>${fullName(m.user) && m.user.identifier && html`<div class="muted">${m.user.identifier}</div>`}</td>
<td>${m.role_name ?? m.role}</td>
<td>${when(m.created_at)}</td>
<td class="actions"><form method="post" action="${`${base}/role`}">${csrfInput(csrf)}${roleSelect(`role-${m.user_id}`, p.roles, m.role, `Role of ${m.user.identifier ?? m.user_id}`)} <button type="submit" class="secondary small">Change role</button></form><form method="post" action="${`${base}/remove`}">${csrfInput(csrf)}<button type="submit" class="secondary small">Remove</button></form></td>
</tr>
`
  })}</tbody></table></div>${p.membersTotal > p.members.length && html`<p class="muted">Showing ${p.members.length} of ${p.membersTotal} members.</p>`}`

  const invitations = p.invitations.length === 0
    ? html`<p class="muted">No pending invitations.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Sent</th><th scope="col">Expires</th><th scope="col">Actions</th></tr></thead>
<tbody>
${p.invitations.map((inv) => html`<tr data-org-invitation="${inv.id}">
<td class="email"><a href="${orgDetailPath(instance, row.id, `/invitations/${encodeURIComponent(inv.id)}`)}">${inv.email_address}</a><div class="mono muted">${inv.id}</div></td>
<td>${inv.role_name ?? inv.role}</td>
<td>${when(inv.created_at)}</td>
<td>${when(inv.expires_at)}</td>
<td class="actions"><form method="post" action="${orgDetailPath(instance, row.id, `/invitations/${encodeURIComponent(inv.id)}/revoke`)}">${csrfInput(csrf)}<button type="submit" class="secondary small">Revoke</button></form></td>
</tr>
`)}</tbody></table></div>${p.invitationsTotal > p.invitations.length && html`<p class="muted">Showing ${p.invitations.length} of ${p.invitationsTotal} pending invitations.</p>`}`

  const domains = p.domains.length === 0
    ? html`<p class="muted">No domains.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Domain</th><th scope="col">Verification</th><th scope="col">Enrollment</th><th scope="col">Added</th><th scope="col">Actions</th></tr></thead>
<tbody>
${p.domains.map((d) => html`<tr data-domain="${d.id}">
<td class="mono">${d.name}</td>
<td>${d.verification?.status === 'verified'
    ? html`<span class="status status-accepted">verified</span> <span class="muted">(${d.verification.strategy})</span>`
    : html`<span class="status status-pending">unverified</span>`}</td>
<td>${d.enrollment_mode.replaceAll('_', ' ')}</td>
<td>${when(d.created_at)}</td>
<td class="actions"><form method="post" action="${orgDetailPath(instance, row.id, `/domains/${encodeURIComponent(d.id)}/delete`)}">${csrfInput(csrf)}<button type="submit" class="secondary small">Delete</button></form></td>
</tr>
`)}</tbody></table></div>`

  return html`${noticeBox(p.notice)}
<div class="card">
<dl class="facts">
<dt>Name</dt><dd>${row.name}</dd>
<dt>Slug</dt><dd class="mono">${row.slug}</dd>
<dt>Id</dt><dd class="mono">${row.id}</dd>
<dt>Members</dt><dd>${extras.membersCount ?? p.membersTotal}${row.max_allowed_memberships > 0 ? ` of at most ${row.max_allowed_memberships} (pending invitations count too)` : ''}</dd>
<dt>Created</dt><dd>${when(row.created_at)}</dd>
<dt>Public metadata</dt><dd><pre>${JSON.stringify(row.public_metadata ?? {}, null, 2)}</pre></dd>
</dl>
</div>
<div class="card" id="members">
<h2>Members</h2>
${errorBox(membersError)}
${members}
</div>
<div class="card" id="invitations">
<h2>Pending invitations</h2>
${invitations}
<h3>Invite someone</h3>
<form method="post" action="${orgDetailPath(instance, row.id, '/invitations')}">
${csrfInput(csrf)}
${errorBox(inviteError)}
<div class="row">
<div class="field">
<label for="invite-email">Email address</label>
<input id="invite-email" name="email_address" type="email" maxlength="320" required value="${values.inviteEmail}"${invalidIf(inviteError, 'email_address')}>
</div>
<div class="field">
<label for="invite-role">Role</label>
${roleSelect('invite-role', p.roles, values.inviteRole || (p.roles.find((r) => r.key === 'org:member') ?? p.roles[0])?.key || '', null, inviteError)}
</div>
</div>
<div class="field"><label class="check"><input type="checkbox" name="notify" value="1" checked> Send the invitation email</label></div>
<button type="submit">Invite</button>
</form>
</div>
<div class="card" id="domains">
<h2>Verified domains</h2>
<p class="muted">People who sign up with an address at a verified domain are invited to this organization, or have it suggested, as its enrollment mode says. Domains added here are verified on your word.</p>
${domains}
<h3>Add a domain</h3>
<form method="post" action="${orgDetailPath(instance, row.id, '/domains')}">
${csrfInput(csrf)}
${errorBox(domainsError)}
<div class="row">
<div class="field">
<label for="domain-name">Domain</label>
<input id="domain-name" name="name" maxlength="253" required placeholder="example.com" value="${values.domainName}"${invalidIf(domainsError, 'name')}>
</div>
<div class="field">
<label for="domain-mode">Enrollment mode</label>
<select id="domain-mode" name="enrollment_mode"${invalidIf(domainsError, 'enrollment_mode')}>
${ENROLLMENT_MODES.map((mode) => html`<option value="${mode}"${mode === values.domainMode && raw(' selected')}>${mode.replaceAll('_', ' ')}</option>\n`)}</select>
</div>
</div>
<button type="submit">Add domain</button>
</form>
</div>
<p><a href="${orgsPath(instance)}">Back to organizations</a></p>`
}

/** One invitation of the organization: what it is, and every email queued for it (the invitation, its reminder). */
export function orgInvitationBody(p: { instance: Instance; org: { id: string; name: string }; invitation: OrgInvitationView; status: string; emails: readonly ClerkEmailDelivery[] }): SafeHtml {
  const inv = p.invitation
  return html`<div class="card">
<dl class="facts">
<dt>Email</dt><dd>${inv.email_address}</dd>
<dt>Organization</dt><dd><a href="${orgDetailPath(p.instance, p.org.id)}">${p.org.name}</a></dd>
<dt>Role</dt><dd>${inv.role_name ?? inv.role}</dd>
<dt>Status</dt><dd>${p.status}</dd>
<dt>Id</dt><dd class="mono">${inv.id}</dd>
<dt>Created</dt><dd>${when(inv.created_at)}</dd>
<dt>Expires</dt><dd>${when(inv.expires_at)}</dd>
<dt>Send email</dt><dd>${inv.notify ? 'yes' : 'no'}</dd>
</dl>
</div>
<div class="card">
<h2>Email delivery</h2>
${emailHistory(p.emails, inv.notify)}
</div>
<p><a href="${orgDetailPath(p.instance, p.org.id)}#invitations">Back to ${p.org.name}</a></p>`
}
