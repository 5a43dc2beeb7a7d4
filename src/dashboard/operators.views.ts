import { html, raw, type SafeHtml } from '../platform/html.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../users/passwords.js'
import type { Instance } from '../instance/instance.schemas.js'
import { csrfInput, errorBox, invalidIf, noticeBox, plainPage, when, type FormError } from './dashboard.views.js'
import type { OperatorInvitation, TeamOperator } from './operators.service.js'
import type { OperatorRole } from './operators.store.js'

export const OPERATORS_PATH = '/dashboard/operators'

const ROLE_LABELS: Record<OperatorRole, string> = { owner: 'Owner', admin: 'Admin', viewer: 'Viewer' }
const ROLE_HINTS: Record<OperatorRole, string> = {
  owner: 'everything, including operators, instances and keys; always every instance',
  admin: 'everything in its instances except keys',
  viewer: 'reads its instances, changes nothing',
}

/** The invitation form as typed, kept to fill it again when something is refused. */
export interface InviteValues {
  emailAddress: string
  role: string
  scope: string
  instanceIds: readonly string[]
}
export const EMPTY_INVITE: InviteValues = { emailAddress: '', role: 'admin', scope: 'all', instanceIds: [] }

function reach(p: { role: OperatorRole; allInstances: boolean; instanceIds: readonly string[] }, instances: readonly Instance[]): SafeHtml {
  if (p.role === 'owner' || p.allInstances) return html`All instances`
  const names = new Map(instances.map((i) => [i.id, i.name]))
  return html`${p.instanceIds.map((id, i) => html`${i > 0 && ', '}${names.get(id) ?? id}`)}`
}

/**
 * Role and reach fields, for inviting and for changing an operator. `idPrefix` keeps the ids
 * of several forms on one page apart.
 */
function accessFields(idPrefix: string, values: { role: string; scope: string; instanceIds: readonly string[] }, instances: readonly Instance[], error: FormError | null): SafeHtml {
  return html`<div class="field">
<label for="${idPrefix}-role">Role</label>
<select id="${idPrefix}-role" name="role"${invalidIf(error, 'role')}>
${(['owner', 'admin', 'viewer'] as const).map((role) => html`<option value="${role}"${values.role === role && raw(' selected')}>${ROLE_LABELS[role]}: ${ROLE_HINTS[role]}</option>\n`)}</select>
</div>
<fieldset class="field">
<legend>Instances <span class="hint">An owner always reaches every instance.</span></legend>
<label class="check"><input type="radio" name="scope" value="all"${values.scope !== 'some' && raw(' checked')}> All instances, present and future</label>
<label class="check"><input type="radio" name="scope" value="some"${values.scope === 'some' && raw(' checked')}> Only these:</label>
${instances.map((i) => html`<label class="check"><input type="checkbox" name="instance_ids" value="${i.id}"${values.instanceIds.includes(i.id) && raw(' checked')}${invalidIf(error, 'instance_ids')}> ${i.name} <span class="muted mono">${i.id}</span></label>\n`)}</fieldset>`
}

export interface OperatorsPageProps {
  me: string
  csrf: string
  operators: readonly TeamOperator[]
  invitations: readonly OperatorInvitation[]
  instances: readonly Instance[]
  now: number
  invite: InviteValues
  /** A refusal, shown by the form it is about: the invitation form, or one operator's or invitation's row. */
  error: (FormError & { target: string }) | null
  notice: string | null
}

export function operatorsBody(p: OperatorsPageProps): SafeHtml {
  const errorFor = (target: string) => (p.error?.target === target ? p.error : null)
  const inviteError = errorFor('invite')
  const operatorRow = (o: TeamOperator) => html`<tr>
<td class="email">${o.emailAddress}${o.id === p.me && html` <span class="muted">(you)</span>`}</td>
<td>${ROLE_LABELS[o.role]}</td>
<td>${reach(o, p.instances)}</td>
<td>${when(o.createdAt)}</td>
<td class="actions">
${errorBox(errorFor(o.id))}
<details${errorFor(o.id) && raw(' open')}><summary>Change</summary>
<form method="post" action="${OPERATORS_PATH}/${o.id}/access">
${csrfInput(p.csrf)}
${accessFields(`op-${o.id}`, { role: o.role, scope: o.allInstances ? 'all' : 'some', instanceIds: o.instanceIds }, p.instances, errorFor(o.id))}
<button type="submit" class="small">Save role</button>
</form>
</details>
<a class="button small secondary" href="${OPERATORS_PATH}/${o.id}/remove">Remove</a>
</td>
</tr>`
  const invitationRow = (i: OperatorInvitation) => html`<tr>
<td class="email">${i.emailAddress}</td>
<td>${ROLE_LABELS[i.role]}</td>
<td>${reach(i, p.instances)}</td>
<td>${i.invitedBy ?? '—'}</td>
<td>${i.expiresAt <= p.now ? html`<span class="status status-expired">expired</span>` : when(i.expiresAt)}</td>
<td class="actions">${errorBox(errorFor(i.id))}<form method="post" action="${OPERATORS_PATH}/invitations/${i.id}/revoke">${csrfInput(p.csrf)}<button type="submit" class="small secondary">Revoke</button></form></td>
</tr>`
  return html`${noticeBox(p.notice)}
<details class="card" id="invite-operator"${inviteError && raw(' open')}>
<summary><strong>Invite an operator</strong></summary>
<p>They get an email with a link to choose a password; the link works once, for 7 days.</p>
${errorBox(inviteError)}
<form method="post" action="${OPERATORS_PATH}/invitations">
${csrfInput(p.csrf)}
<div class="field">
<label for="invite-email">Email address</label>
<input id="invite-email" name="email_address" type="email" required maxlength="320" value="${p.invite.emailAddress}"${invalidIf(inviteError, 'email_address')}>
</div>
${accessFields('invite', p.invite, p.instances, inviteError)}
<button type="submit">Send invitation</button>
</form>
</details>
<div class="card table-wrap">
<h2>Operators</h2>
<table>
<thead><tr><th>Email address</th><th>Role</th><th>Instances</th><th>Joined</th><th>Actions</th></tr></thead>
<tbody>
${p.operators.map(operatorRow)}
</tbody>
</table>
</div>
<div class="card table-wrap">
<h2>Pending invitations</h2>
${p.invitations.length === 0 ? html`<p class="empty">No pending invitations.</p>` : html`<table>
<thead><tr><th>Email address</th><th>Role</th><th>Instances</th><th>Invited by</th><th>Expires</th><th>Actions</th></tr></thead>
<tbody>
${p.invitations.map(invitationRow)}
</tbody>
</table>`}
</div>`
}

/** The page an invitation's link opens: the address it is for, and a password to choose. */
export function acceptPage(p: { token: string; csrf: string; invitation: OperatorInvitation; error: FormError | null }): SafeHtml {
  return plainPage('Join the Foyer dashboard', html`<p>You were invited as ${ROLE_LABELS[p.invitation.role].toLowerCase()} (${ROLE_HINTS[p.invitation.role]}). Choose a password to sign in with.</p>
${errorBox(p.error)}
<form method="post" action="/dashboard/invitations/accept">
${csrfInput(p.csrf)}
<input type="hidden" name="token" value="${p.token}">
<div class="field">
<label for="email_address">Email address</label>
<input id="email_address" name="email_address" type="email" autocomplete="username" readonly value="${p.invitation.emailAddress}">
</div>
<div class="field">
<label for="password">Password</label>
<span class="hint">At least ${PASSWORD_MIN_LENGTH} characters.</span>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="${PASSWORD_MIN_LENGTH}" maxlength="${PASSWORD_MAX_LENGTH}"${invalidIf(p.error, 'password')}>
</div>
<button type="submit">Join</button>
</form>`)
}

/** Asked before removing: it cannot be undone, and it signs them out everywhere. */
export function removeBody(p: { csrf: string; operator: TeamOperator; isSelf: boolean }): SafeHtml {
  return html`<div class="card">
<p>Remove ${p.isSelf ? 'yourself' : p.operator.emailAddress} (${ROLE_LABELS[p.operator.role].toLowerCase()})? ${p.isSelf ? 'You are' : 'They are'} signed out at once and can no longer sign in; an owner can invite the address again.</p>
<form method="post" action="${OPERATORS_PATH}/${p.operator.id}/remove">
${csrfInput(p.csrf)}
<button type="submit" class="danger">Remove operator</button>
<a href="${OPERATORS_PATH}">Cancel</a>
</form>
</div>`
}
