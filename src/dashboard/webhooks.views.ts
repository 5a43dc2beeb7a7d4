import { html, raw, type SafeHtml } from '../platform/html.js'
import type { Instance } from '../instance/instance.schemas.js'
import { EVENT_TYPES, type DeliveryRow, type EndpointRow } from '../webhooks/webhooks.schemas.js'
import { csrfInput, errorBox, instancePath, invalidIf, noticeBox, when, type FormError } from './dashboard.views.js'

export const webhooksPath = (instance: Instance, rest = '') => instancePath(instance.id, `webhooks${rest}`)

/** The add/edit form as typed, kept to fill the form again when something is refused. */
export interface EndpointValues {
  url: string
  eventTypes: string[]
  enabled: boolean
}

export const EMPTY_ENDPOINT: EndpointValues = { url: '', eventTypes: [], enabled: true }

const badge = (status: string, label = status) => html`<span class="status status-${status}">${label}</span>`
const enabledBadge = (enabled: boolean) => enabled ? badge('accepted', 'enabled') : badge('revoked', 'disabled')
const eventsText = (types: readonly string[]) => types.length === 0 ? 'All events' : types.join(', ')
// Delivery states, in the badge colours the stylesheet has.
const DELIVERY_BADGE: Record<string, string> = { delivered: 'sent', failed: 'failed', pending: 'queued', sending: 'pending' }

function eventFilter(values: EndpointValues, error: FormError | null, idPrefix: string): SafeHtml {
  return html`<fieldset class="field"${invalidIf(error, 'event_types')}>
<legend><strong>Events</strong> <span class="hint">None checked: every event, including types added later.</span></legend>
<div class="row">
${EVENT_TYPES.map((type) => html`<label class="check"><input type="checkbox" name="event_types" value="${type}"${values.eventTypes.includes(type) && raw(' checked')} id="${idPrefix}-${type}"> <span class="mono">${type}</span></label>\n`)}</div>
</fieldset>`
}

function addForm(instance: Instance, csrf: string, values: EndpointValues, error: FormError | null, open: boolean): SafeHtml {
  return html`<details class="card" id="add"${open && raw(' open')}>
<summary><strong>Add endpoint</strong></summary>
<form method="post" action="${webhooksPath(instance)}">
${csrfInput(csrf)}
${errorBox(error)}
<div class="field">
<label for="url">Endpoint URL <span class="hint">Receives each event as a POST, signed with the endpoint's secret (Svix headers).</span></label>
<input id="url" name="url" type="url" required maxlength="2048" placeholder="https://example.com/webhooks/foyer" value="${values.url}"${invalidIf(error, 'url')}>
</div>
${eventFilter(values, error, 'add')}
<div class="field"><label class="check"><input type="checkbox" name="enabled" value="1"${values.enabled && raw(' checked')}> Enabled</label></div>
<button type="submit">Add endpoint</button>
</form>
</details>`
}

export function webhooksListBody(p: {
  instance: Instance; csrf: string; endpoints: EndpointRow[]; total: number; offset: number; limit: number
  notice: string | null; add: { values: EndpointValues; error: FormError | null; open: boolean }
}): SafeHtml {
  const { instance } = p
  const table = p.endpoints.length === 0
    ? html`<p class="empty">No webhook endpoints yet.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Actions</th></tr></thead>
<tbody>
${p.endpoints.map((e) => html`<tr data-endpoint="${e.id}">
<td class="email"><a href="${webhooksPath(instance, `/${e.id}`)}" class="mono">${e.url}</a><div class="mono muted">${e.id}${e.from_config && ' · from FOYER_WEBHOOK_URL'}</div></td>
<td>${eventsText(e.event_types)}</td>
<td>${enabledBadge(e.enabled)}</td>
<td>${when(e.created_at)}</td>
<td class="actions"><a class="button secondary small" href="${webhooksPath(instance, `/${e.id}`)}">Deliveries</a></td>
</tr>
`)}</tbody>
</table></div>`
  const last = p.offset + p.endpoints.length
  return html`${noticeBox(p.notice)}
${addForm(instance, p.csrf, p.add.values, p.add.error, p.add.open)}
${table}
${(p.offset > 0 || last < p.total) && html`<nav class="pager" aria-label="Pages">
${p.offset > 0 && html`<a href="${webhooksPath(instance)}?offset=${Math.max(0, p.offset - p.limit)}" rel="prev">Previous</a>`}
<span class="muted">${p.offset + 1}–${last} of ${p.total}</span>
${last < p.total && html`<a href="${webhooksPath(instance)}?offset=${last}" rel="next">Next</a>`}
</nav>`}`
}

export interface ListedDelivery {
  row: DeliveryRow
  /** The event as stored, pretty-printed; null once purged (with its invitation, say). */
  payload: string | null
}

function deliveryLog(p: EndpointPageProps): SafeHtml {
  const { instance, endpoint } = p
  if (p.deliveries.length === 0) return html`<p class="muted">Nothing was sent to this endpoint yet.</p>`
  const base = webhooksPath(instance, `/${endpoint.id}`)
  const last = p.offset + p.deliveries.length
  return html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col">Attempts</th><th scope="col">Last response</th><th scope="col">Actions</th></tr></thead>
<tbody>
${p.deliveries.map(({ row: d, payload }) => {
  const lastAttempt = d.attempts.at(-1)
  return html`<tr data-delivery="${d.id}">
<td><span class="mono">${d.event_type}</span><div class="mono muted">${d.event_id}</div>
<details><summary>Payload</summary>${payload === null ? html`<p class="muted">No longer stored.</p>` : html`<pre>${payload}</pre>`}</details></td>
<td>${badge(DELIVERY_BADGE[d.status] ?? 'queued', d.status)}${d.status === 'pending' && html`<div class="muted">next attempt ${when(d.next_attempt_at)}</div>`}${d.delivered_at && html`<div class="muted">delivered ${when(d.delivered_at)}</div>`}</td>
<td>${when(d.created_at)}</td>
<td>${d.attempts.length}${d.attempts.length > 0 && html`<details><summary>History</summary><ul>${d.attempts.map((a) => html`<li>${when(a.attempted_at)}: ${a.status_code ?? 'no response'}${a.error && html` — <span class="mono">${a.error}</span>`} (${a.duration_ms} ms)</li>`)}</ul></details>`}</td>
<td class="mono">${lastAttempt ? html`${lastAttempt.status_code ?? '—'}${lastAttempt.error && html` ${lastAttempt.error}`}` : d.last_error ?? '—'}</td>
<td class="actions">${d.status !== 'sending' && html`<form method="post" action="${base}/deliveries/${d.id}/retry">${csrfInput(p.csrf)}<button type="submit" class="secondary small">${d.status === 'delivered' ? 'Send again' : 'Retry now'}</button></form>`}</td>
</tr>
`
})}</tbody></table></div>
${(p.offset > 0 || last < p.total) && html`<nav class="pager" aria-label="Pages">
${p.offset > 0 && html`<a href="${base}?offset=${Math.max(0, p.offset - p.limit)}" rel="prev">Newer</a>`}
<span class="muted">${p.offset + 1}–${last} of ${p.total}</span>
${last < p.total && html`<a href="${base}?offset=${last}" rel="next">Older</a>`}
</nav>`}`
}

export interface EndpointPageProps {
  instance: Instance
  csrf: string
  endpoint: EndpointRow
  /** Shown only when asked for (or just rotated): the answer that shows it is never cached. */
  secret: string | null
  deliveries: ListedDelivery[]
  total: number
  offset: number
  limit: number
  notice: string | null
  edit: { values: EndpointValues; error: FormError | null }
}

export function endpointBody(p: EndpointPageProps): SafeHtml {
  const { instance, endpoint: e } = p
  const base = webhooksPath(instance, `/${e.id}`)
  const post = (action: string, label: string, variant = 'secondary') => html`<form method="post" action="${base}/${action}">${csrfInput(p.csrf)}<button type="submit" class="${variant} small">${label}</button></form>`
  return html`${noticeBox(p.notice)}
<div class="card">
<dl class="facts">
<dt>URL</dt><dd class="mono">${e.url}</dd>
<dt>Id</dt><dd class="mono">${e.id}</dd>
<dt>State</dt><dd>${enabledBadge(e.enabled)}</dd>
<dt>Events</dt><dd>${eventsText(e.event_types)}</dd>
<dt>Created</dt><dd>${when(e.created_at)}</dd>
<dt>Updated</dt><dd>${when(e.updated_at)}</dd>
${e.from_config && html`<dt>Source</dt><dd>FOYER_WEBHOOK_URL; a restart sets it back to the configuration.</dd>`}
</dl>
</div>
<div class="card">
<h2>Signing secret</h2>
${p.secret === null
    ? html`<p class="muted">Receivers check each request's signature with this secret.</p><div class="toolbar">${post('secret', 'Reveal secret')}${post('rotate', 'Rotate secret', 'danger')}</div>`
    : html`<div class="link-box">
<label for="endpoint-secret" class="sr-only">Signing secret</label>
<input id="endpoint-secret" class="secret" readonly value="${p.secret}">
<button type="button" class="secondary" data-copy="endpoint-secret" hidden>Copy</button>
</div>
<div class="toolbar"><a href="${base}">Hide</a>${post('rotate', 'Rotate secret', 'danger')}</div>`}
<p class="muted">Rotating makes a new secret at once: requests are signed with it from then on, so update the receiver right away.</p>
</div>
<div class="card">
<h2>Settings</h2>
<div class="toolbar">${e.enabled ? post('disable', 'Disable') : post('enable', 'Enable')} <a class="button secondary small" href="${base}/delete">Delete</a></div>
<form method="post" action="${base}">
${csrfInput(p.csrf)}
${errorBox(p.edit.error)}
<div class="field">
<label for="url">Endpoint URL</label>
<input id="url" name="url" type="url" required maxlength="2048" value="${p.edit.values.url}"${invalidIf(p.edit.error, 'url')}>
</div>
${eventFilter(p.edit.values, p.edit.error, 'edit')}
<button type="submit">Save changes</button>
</form>
</div>
<div class="card">
<h2>Deliveries</h2>
${deliveryLog(p)}
</div>
<p><a href="${webhooksPath(instance)}">Back to webhooks</a></p>`
}

export function deleteEndpointBody(p: { instance: Instance; csrf: string; endpoint: EndpointRow }): SafeHtml {
  const base = webhooksPath(p.instance, `/${p.endpoint.id}`)
  return html`<div class="card">
<p>Delete the endpoint <strong class="mono">${p.endpoint.url}</strong>? It receives nothing more, and its delivery log and whatever was still to be sent to it are deleted. This cannot be undone.</p>
${p.endpoint.from_config && html`<p class="muted">It comes from FOYER_WEBHOOK_URL: it is created again at the next start unless the configuration changes.</p>`}
<form method="post" action="${base}/delete">
${csrfInput(p.csrf)}
<p class="toolbar"><button type="submit" class="danger">Delete endpoint</button> <a href="${base}">Cancel</a></p>
</form>
</div>`
}
