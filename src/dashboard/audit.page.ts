import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DAY_MS } from '../platform/clock.js'
import { createAuditStore, type AuditFilter } from '../platform/audit/audit.store.js'
import type { DashboardContext, DashboardSection } from './dashboard.context.js'
import { AUDIT_CSV_HEADER, auditCsvRow, auditListBody, type AuditListState, type AuditPage } from './audit.views.js'
import { instancePath } from './dashboard.views.js'
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

const instancePage = (instanceId: string): AuditPage => ({
  path: instancePath(instanceId, 'audit'),
  intro: 'Every change to this instance, from the Backend API (by the key\'s id), this dashboard (by operator) and the hosted pages (by user), newest first.',
})
/** Changes to no instance: the team of operators (invitations, roles, removals, one-time codes, password resets). */
const TEAM_PAGE: AuditPage = {
  path: '/dashboard/audit',
  intro: 'Every change to the team of operators (invitations, roles and reach, removals) and to their sign-in security (one-time codes, password resets, ended sessions), newest first.',
}

/**
 * An audit page's two routes, registered at `path`: the list (filters by actor, action, target
 * and dates in UTC days, pages of 50, newest first) and the same records as CSV. Read-only:
 * the log has no verb that changes it.
 */
function auditRoutes(ctx: DashboardContext, app: FastifyInstance, at: { route: string; section: string | null; title: string }, scope: (req: FastifyRequest) => { instanceId: string | null; page: AuditPage; file: string }) {
  const store = createAuditStore()
  const { db } = ctx.deps

  app.get(at.route, { schema: { hide: true } }, async (req, reply) => {
    const { instanceId, page } = scope(req)
    const state = listState(req.query as Query)
    const { rows, total } = await store.list(db, instanceId, filterOf(state), state.limit, state.offset)
    return ctx.render(req, reply, { title: at.title, section: at.section, body: auditListBody({ page, state, rows, total, exportLimit: AUDIT_EXPORT_LIMIT }) })
  })

  app.get(`${at.route}.csv`, { schema: { hide: true } }, async (req, reply) => {
    const { instanceId, file } = scope(req)
    const state = listState(req.query as Query)
    const { rows } = await store.list(db, instanceId, filterOf(state), AUDIT_EXPORT_LIMIT, 0)
    const stamp = new Date(ctx.deps.clock.now()).toISOString().slice(0, 10)
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="foyer-audit-${file}-${stamp}.csv"`)
      .send(csvLine(AUDIT_CSV_HEADER) + rows.map(auditCsvRow).join(''))
  })
}

/** The instance's audit log, a section of every instance. */
export const auditSection: DashboardSection = {
  key: 'audit',
  label: 'Audit',
  path: 'audit',
  routes: (ctx: DashboardContext) => async (app: FastifyInstance) => {
    auditRoutes(ctx, app, { route: '/audit', section: 'audit', title: 'Audit log' },
      (req) => ({ instanceId: req.instance.id, page: instancePage(req.instance.id), file: req.instance.id }))
  },
}

/**
 * The team's audit log at /dashboard/audit, outside instances: operators' changes belong to
 * no instance. Owners only, by the default for routes outside instances (authorization.ts).
 */
export const teamAuditRoutes = (ctx: DashboardContext) => async (app: FastifyInstance) => {
  auditRoutes(ctx, app, { route: '/audit', section: null, title: 'Team audit log' }, () => ({ instanceId: null, page: TEAM_PAGE, file: 'team' }))
}
