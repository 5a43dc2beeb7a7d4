import type { FastifyInstance } from 'fastify'
import { DAY_MS } from '../platform/clock.js'
import { createAuditStore, type AuditFilter } from '../platform/audit/audit.store.js'
import type { DashboardContext, DashboardSection } from './dashboard.context.js'
import { AUDIT_CSV_HEADER, auditCsvRow, auditListBody, type AuditListState } from './audit.views.js'
import { csvLine } from '../cli/csv.js'

const PAGE_SIZE = 50
// Far beyond any page a person clicks to; it keeps OFFSET from being used to make the database walk.
const MAX_OFFSET = 100_000
/** Records in one CSV export: the newest that match. Narrow the filters (the dates) for older ones. */
export const AUDIT_EXPORT_LIMIT = 10_000

type Query = Record<string, string | undefined>

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
/** Midnight UTC of a YYYY-MM-DD day, or null for anything else (ignored, as an empty field). */
function dayStart(text: string): number | null {
  const m = DATE.exec(text)
  if (!m) return null
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))
  return Number.isNaN(ms) ? null : ms
}

const field = (query: Query, name: string, max = 200) => (query[name] ?? '').trim().slice(0, max)

function listState(query: Query): AuditListState {
  const offset = /^\d{1,9}$/.test(query.offset ?? '') ? Math.min(Number(query.offset), MAX_OFFSET) : 0
  const day = (name: string) => (dayStart(field(query, name, 10)) === null ? '' : field(query, name, 10))
  return { actor: field(query, 'actor'), action: field(query, 'action'), target: field(query, 'target'), from: day('from'), to: day('to'), offset, limit: PAGE_SIZE }
}

function filterOf(state: AuditListState): AuditFilter {
  const from = dayStart(state.from)
  const to = dayStart(state.to)
  return {
    ...(state.actor ? { actorId: state.actor } : {}),
    ...(state.action ? { action: state.action } : {}),
    ...(state.target ? { targetId: state.target } : {}),
    ...(from !== null ? { createdAfter: from } : {}),
    // The "to" day is included: records before the next midnight.
    ...(to !== null ? { createdBefore: to + DAY_MS } : {}),
  }
}

/**
 * The instance's audit log: filters by actor, action, target and dates (UTC days), pages of
 * 50, newest first, and the same records as CSV. Read-only: the log has no verb that changes it.
 */
export const auditSection: DashboardSection = {
  key: 'audit',
  label: 'Audit',
  path: 'audit',
  routes: (ctx: DashboardContext) => async (app: FastifyInstance) => {
    const store = createAuditStore()
    const { db } = ctx.deps

    app.get('/audit', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const state = listState(req.query as Query)
      const { rows, total } = await store.list(db, instance.id, filterOf(state), state.limit, state.offset)
      return ctx.render(req, reply, { title: 'Audit log', section: 'audit', body: auditListBody({ instance, state, rows, total, exportLimit: AUDIT_EXPORT_LIMIT }) })
    })

    app.get('/audit.csv', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const state = listState(req.query as Query)
      const { rows } = await store.list(db, instance.id, filterOf(state), AUDIT_EXPORT_LIMIT, 0)
      const stamp = new Date(ctx.deps.clock.now()).toISOString().slice(0, 10)
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="foyer-audit-${instance.id}-${stamp}.csv"`)
        .send(csvLine(AUDIT_CSV_HEADER) + rows.map(auditCsvRow).join(''))
    })
  },
}
