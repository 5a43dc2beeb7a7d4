import { html, type SafeHtml } from '../platform/html.js'
import type { Instance } from '../instance/instance.schemas.js'
import { instancePath } from './dashboard.views.js'
import type { OverviewDay } from './overview.store.js'

type Series = 'created' | 'accepted' | 'expired' | 'revoked'

// Colours as SVG presentation attributes, not style: the CSP allows no inline style, and the
// stylesheet is shared. Each line also has its own marker shape, so colour is not the only cue.
const SERIES: { key: Series; label: string; colour: string }[] = [
  { key: 'created', label: 'Created', colour: '#54aeff' },
  { key: 'accepted', label: 'Accepted', colour: '#1a7f37' },
  { key: 'expired', label: 'Expired', colour: '#cf222e' },
  { key: 'revoked', label: 'Revoked', colour: '#6e7781' },
]

export interface OverviewTotals {
  created: number
  accepted: number
  expired: number
  revoked: number
  /** Of the invitations created in the period, how many are accepted by now. */
  createdAccepted: number
  /** createdAccepted ÷ created, or null when nothing was created. */
  acceptanceRate: number | null
}

export function totalsOf(days: readonly OverviewDay[]): OverviewTotals {
  const sum = (key: keyof OverviewDay) => days.reduce((n, d) => n + d[key], 0)
  const created = sum('created')
  const createdAccepted = sum('createdAccepted')
  return {
    created, accepted: sum('accepted'), expired: sum('expired'), revoked: sum('revoked'), createdAccepted,
    acceptanceRate: created > 0 ? createdAccepted / created : null,
  }
}

export const percent = (rate: number | null) => (rate === null ? '—' : `${(Math.round(rate * 1000) / 10).toLocaleString('en-US')}%`)
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10)

/** A whole-number axis: a "nice" step (1, 2 or 5 times a power of ten) giving at most five intervals. */
function axisOf(dataMax: number): { max: number; ticks: number[] } {
  let step = 1
  for (let power = 1; step * 5 < dataMax; power *= 10) {
    step = [1, 2, 5, 10].map((m) => m * power).find((s) => s * 5 >= dataMax) ?? 10 * power
  }
  const max = Math.max(step, Math.ceil(dataMax / step) * step)
  return { max, ticks: Array.from({ length: max / step + 1 }, (_, i) => i * step) }
}

const W = 760
const H = 260
const LEFT = 44
const RIGHT = 12
const TOP = 12
const BOTTOM = 34

const marker = (key: Series, x: number, y: number, colour: string): SafeHtml => {
  const r = 3.2
  if (key === 'expired') return html`<rect x="${(x - r).toFixed(1)}" y="${(y - r).toFixed(1)}" width="${(2 * r).toFixed(1)}" height="${(2 * r).toFixed(1)}" fill="${colour}"/>`
  if (key === 'revoked') return html`<path d="M${(x).toFixed(1)} ${(y - r - 0.8).toFixed(1)}L${(x + r + 0.8).toFixed(1)} ${(y + r).toFixed(1)}L${(x - r - 0.8).toFixed(1)} ${(y + r).toFixed(1)}Z" fill="${colour}"/>`
  return html`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r}" fill="${colour}"/>`
}

/**
 * Invitations per day as a server-drawn SVG: created as bars, accepted, expired and revoked
 * as lines over them. No script and no style; the same numbers are in the table below it.
 */
export function overviewChart(days: readonly OverviewDay[], totals: OverviewTotals): SafeHtml {
  const { max, ticks } = axisOf(Math.max(0, ...days.flatMap((d) => [d.created, d.accepted, d.expired, d.revoked])))
  const plotW = W - LEFT - RIGHT
  const plotH = H - TOP - BOTTOM
  const slot = plotW / Math.max(1, days.length)
  const xOf = (i: number) => LEFT + slot * i + slot / 2
  const yOf = (n: number) => TOP + plotH - (n / max) * plotH
  const first = days[0]
  const last = days[days.length - 1]
  const range = first && last ? `${isoDay(first.day)} to ${isoDay(last.day)}` : ''
  const lines = SERIES.filter((s) => s.key !== 'created').map((s) => {
    const points = days.map((d, i) => `${xOf(i).toFixed(1)},${yOf(d[s.key]).toFixed(1)}`).join(' ')
    return html`<g class="series-${s.key}"><polyline points="${points}" fill="none" stroke="${s.colour}" stroke-width="2" stroke-linejoin="round"/>
${days.map((d, i) => d[s.key] > 0 && marker(s.key, xOf(i), yOf(d[s.key]), s.colour))}</g>`
  })
  const barW = Math.max(2, slot * 0.6)
  return html`<figure class="card chart">
<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">
<title id="chart-title">Invitations per day, ${range} (UTC)</title>
<desc id="chart-desc">Bars: invitations created each day. Lines: accepted, expired and revoked each day. Over the period ${totals.created} were created, ${totals.accepted} accepted, ${totals.expired} expired and ${totals.revoked} revoked; acceptance rate ${percent(totals.acceptanceRate)}. The table below lists every day.</desc>
${ticks.map((v) => html`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${yOf(v).toFixed(1)}" y2="${yOf(v).toFixed(1)}" stroke="${v === 0 ? '#8c959f' : '#d8dee4'}" stroke-width="1"/>
<text x="${LEFT - 6}" y="${(yOf(v) + 4).toFixed(1)}" text-anchor="end" fill="#57606a">${v}</text>
`)}
<g class="series-created">${days.map((d, i) => d.created > 0 && html`<rect x="${(xOf(i) - barW / 2).toFixed(1)}" y="${yOf(d.created).toFixed(1)}" width="${barW.toFixed(1)}" height="${(TOP + plotH - yOf(d.created)).toFixed(1)}" fill="${SERIES[0]!.colour}" rx="1.5"><title>${isoDay(d.day)}: ${d.created} created</title></rect>`)}</g>
${lines}
${days.map((d, i) => (i % 5 === 4 || i === 0) && html`<text x="${xOf(i).toFixed(1)}" y="${H - BOTTOM + 16}" text-anchor="middle" fill="#57606a">${isoDay(d.day).slice(5)}</text>`)}
</svg>
<figcaption>
<p class="toolbar legend">
${SERIES.map((s) => html`<span><svg width="14" height="14" viewBox="0 0 14 14" aria-hidden="true" focusable="false">${s.key === 'created' ? html`<rect x="2" y="2" width="10" height="10" rx="1.5" fill="${s.colour}"/>` : html`<line x1="0" x2="14" y1="7" y2="7" stroke="${s.colour}" stroke-width="2"/>${marker(s.key, 7, 7, s.colour)}`}</svg> ${s.label}\u2003</span>`)}
</ul>
</figcaption>
</figure>`
}

export function overviewBody(p: { instance: Instance; days: readonly OverviewDay[]; totals: OverviewTotals }): SafeHtml {
  const { totals, days } = p
  return html`<div class="card">
<h2>Last ${days.length} days</h2>
<dl class="facts" id="overview-totals">
<dt>Created</dt><dd data-total="created">${totals.created}</dd>
<dt>Accepted</dt><dd data-total="accepted">${totals.accepted}</dd>
<dt>Expired</dt><dd data-total="expired">${totals.expired}</dd>
<dt>Revoked</dt><dd data-total="revoked">${totals.revoked}</dd>
<dt>Acceptance rate</dt><dd data-total="acceptance-rate">${percent(totals.acceptanceRate)} <span class="muted">(${totals.createdAccepted} of the ${totals.created} invitations created in these days are accepted)</span></dd>
</dl>
</div>
${overviewChart(days, totals)}
<div class="card">
<div class="table-wrap"><table id="overview-table">
<caption class="sr-only">Invitations per day (UTC), oldest first</caption>
<thead><tr><th scope="col">Day (UTC)</th><th scope="col">Created</th><th scope="col">Accepted</th><th scope="col">Expired</th><th scope="col">Revoked</th></tr></thead>
<tbody>
${days.map((d) => html`<tr data-day="${isoDay(d.day)}"><th scope="row">${isoDay(d.day)}</th><td>${d.created}</td><td>${d.accepted}</td><td>${d.expired}</td><td>${d.revoked}</td></tr>
`)}</tbody>
<tfoot><tr><th scope="row">Total</th><td>${totals.created}</td><td>${totals.accepted}</td><td>${totals.expired}</td><td>${totals.revoked}</td></tr></tfoot>
</table></div>
<p class="muted">Accepted and revoked are counted on the day of the change, expired on the day the link stopped working; acceptance rate is the share of the period's new invitations accepted so far. <a href="${instancePath(p.instance.id, 'invitations')}">See the invitations</a>.</p>
</div>`
}
