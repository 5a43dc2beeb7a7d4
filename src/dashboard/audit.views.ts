import { html, type SafeHtml } from '../platform/html.js'
import type { AuditLogRow } from '../platform/audit/audit.store.js'
import { csvLine } from '../cli/csv.js'
import { when } from './dashboard.views.js'

/** Where an audit page lives: an instance's section (`/dashboard/<id>/audit`) or the team's (`/dashboard/audit`). */
export interface AuditPage {
  path: string
  /** What the page holds, in one sentence. */
  intro: string
}

/** The filters as typed (kept in the form and in every page and export link). */
export interface AuditListState {
  actor: string
  action: string
  target: string
  /** YYYY-MM-DD (UTC), or '' */
  from: string
  /** YYYY-MM-DD (UTC), inclusive, or '' */
  to: string
  offset: number
  limit: number
}

function query(state: AuditListState, changes: Partial<AuditListState> = {}): string {
  const s = { ...state, ...changes }
  const params = new URLSearchParams()
  for (const key of ['actor', 'action', 'target', 'from', 'to'] as const) if (s[key]) params.set(key, s[key])
  if (s.offset > 0) params.set('offset', String(s.offset))
  const text = params.toString()
  return text ? `?${text}` : ''
}

export const auditListUrl = (page: AuditPage, state: AuditListState, changes: Partial<AuditListState> = {}) => page.path + query(state, changes)
export const auditCsvUrl = (page: AuditPage, state: AuditListState) => `${page.path}.csv${query(state, { offset: 0 })}`

const actorText = (row: AuditLogRow) => row.actor_label ?? row.actor_id ?? (row.actor_type === 'anonymous' ? 'anonymous' : row.actor_type)
const listed = (keys: string[] | null) => (keys && keys.length > 0 ? keys.join(', ') : '')

export function auditListBody(p: { page: AuditPage; state: AuditListState; rows: AuditLogRow[]; total: number; exportLimit: number }): SafeHtml {
  const { page, state } = p
  const table = p.rows.length === 0
    ? html`<p class="empty">No changes match.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">From</th></tr></thead>
<tbody>
${p.rows.map((r) => html`<tr data-audit="${r.id}">
<td>${when(r.created_at)}</td>
<td><a href="${auditListUrl(page, state, { actor: r.actor_id ?? '', offset: 0 })}">${actorText(r)}</a><div class="mono muted">${r.actor_type}${r.actor_id && r.actor_label ? html` · ${r.actor_id}` : ''}</div></td>
<td class="mono"><a href="${auditListUrl(page, state, { action: r.action, offset: 0 })}">${r.action}</a>${r.changed_keys && r.changed_keys.length > 0 && html`<div class="muted">changed: ${listed(r.changed_keys)}</div>`}</td>
<td>${r.target_id ? html`<a href="${auditListUrl(page, state, { target: r.target_id, offset: 0 })}">${r.target_label ?? r.target_id}</a><div class="mono muted">${r.target_type ?? ''} · ${r.target_id}</div>` : '—'}</td>
<td class="mono muted">${r.client_ip ?? '—'}${r.trace_id && html`<div title="trace id">${r.trace_id}</div>`}</td>
</tr>
`)}</tbody>
</table></div>`
  const first = p.rows.length === 0 ? 0 : state.offset + 1
  const last = state.offset + p.rows.length
  const filtered = state.actor || state.action || state.target || state.from || state.to
  return html`<p class="muted">${page.intro} Records cannot be edited or deleted.</p>
<form class="toolbar" method="get" action="${page.path}" role="search">
<label for="actor" class="sr-only">Actor id</label><input id="actor" name="actor" maxlength="200" placeholder="Actor id (key_…, user_…, operator)" value="${state.actor}">
<label for="action" class="sr-only">Action</label><input id="action" name="action" maxlength="200" placeholder="Action (invitation.revoked)" value="${state.action}">
<label for="target" class="sr-only">Target id</label><input id="target" name="target" maxlength="200" placeholder="Target id" value="${state.target}">
<label for="from">From</label><input id="from" name="from" type="date" value="${state.from}">
<label for="to">to</label><input id="to" name="to" type="date" value="${state.to}">
<button type="submit" class="secondary">Filter</button>
${filtered && html`<a href="${page.path}">Clear</a>`}
<a class="button secondary small" href="${auditCsvUrl(page, state)}" download>Export CSV</a>
</form>
<p class="hint">Dates are UTC. The export holds the newest ${p.exportLimit.toLocaleString('en-US')} matching records at most.</p>
${table}
<nav class="pager" aria-label="Pages">
${state.offset > 0 && html`<a href="${auditListUrl(page, state, { offset: Math.max(0, state.offset - state.limit) })}" rel="prev">Previous</a>`}
<span class="muted">${first}–${last} of ${p.total.toLocaleString('en-US')}</span>
${last < p.total && html`<a href="${auditListUrl(page, state, { offset: last })}" rel="next">Next</a>`}
</nav>`
}

/**
 * A cell a spreadsheet would not run as a formula: one starting with =, +, -, @ (or a tab or
 * carriage return, which some read past) is prefixed with a quote. Labels and metadata keys
 * come from API callers and sign-ups, so a cell may be anyone's text.
 */
export const csvSafe = (value: string | number | null): string | number | null =>
  typeof value === 'string' && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value

export const AUDIT_CSV_HEADER = ['id', 'created_at', 'created_at_iso', 'actor_type', 'actor_id', 'actor_label', 'action', 'target_type', 'target_id', 'target_label', 'changed_keys', 'client_ip', 'trace_id']

export const auditCsvRow = (r: AuditLogRow) => csvLine([
  r.id, r.created_at, new Date(r.created_at).toISOString(), r.actor_type, r.actor_id, r.actor_label, r.action,
  r.target_type, r.target_id, r.target_label, listed(r.changed_keys), r.client_ip, r.trace_id,
].map(csvSafe))
