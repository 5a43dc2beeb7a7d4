import type { FastifyInstance } from 'fastify'
import type { DashboardContext, DashboardSection } from './dashboard.context.js'
import { createOverviewStore } from './overview.store.js'
import { overviewBody, totalsOf } from './overview.views.js'

/**
 * The instance at a glance: invitations created, accepted, expired and revoked per day over
 * the last 30 days, and the acceptance rate, as a chart drawn on the server and a table.
 */
export const overviewSection: DashboardSection = {
  key: 'overview',
  label: 'Overview',
  path: 'overview',
  routes: (ctx: DashboardContext) => async (app: FastifyInstance) => {
    const { db, clock } = ctx.deps
    const store = createOverviewStore()

    app.get('/overview', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      // The instance's own clock: with FOYER_TESTING its test clock moves "today" too.
      const days = await store.perDay(db, instance.id, clock.now(instance))
      return ctx.render(req, reply, { title: 'Overview', section: 'overview', body: overviewBody({ instance, days, totals: totalsOf(days) }) })
    })
  },
}
