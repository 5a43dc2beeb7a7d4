import type { FastifyInstance } from 'fastify'
import { notFound } from '../platform/errors.js'
import type { DashboardContext, DashboardSection } from './dashboard.context.js'
import { fullName, primaryEmail, userDeleteConfirmBody, userDetailBody, usersListBody, usersPath, type UserListState } from './users.views.js'

const PAGE_SIZE = 20
// Far beyond any page a person clicks to; it keeps OFFSET from being used to make the database walk.
const MAX_OFFSET = 100_000
// A user's memberships and sessions shown on their page; the rest are counted.
const MEMBERSHIPS_SHOWN = 100
const SESSIONS_SHOWN = 50

// Fixed texts, chosen by a code in the redirect's query: nothing typed into a URL is echoed.
const NOTICES: Record<string, string> = {
  deleted: 'The user was deleted.',
  session_revoked: 'The session was revoked: it signs no one in any more.',
  session_inactive: 'That session was no longer active: nothing was revoked.',
}

type Query = Record<string, string | undefined>

function listState(query: Query): UserListState {
  const offset = /^\d{1,9}$/.test(query.offset ?? '') ? Math.min(Number(query.offset), MAX_OFFSET) : 0
  return { q: (query.q ?? '').trim().slice(0, 320), offset, limit: PAGE_SIZE }
}

const userIdOf = (params: unknown) => (params as { user_id: string }).user_id

/**
 * The users of the instance in the path: list with search and pages; a detail page with the
 * email addresses and their verification, the metadata, the organization memberships and the
 * sessions, which can be revoked; deleting, after a confirmation page. Everything goes through
 * the users, memberships and sessions services.
 */
export const usersSection: DashboardSection = {
  key: 'users',
  label: 'Users',
  path: 'users',
  routes: (ctx: DashboardContext) => async (app: FastifyInstance) => {
    const { users, memberships, sessions } = ctx.deps.services

    app.get('/users', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const query = req.query as Query
      const state = listState(query)
      const { data, totalCount } = await users.list(instance, {
        ...(state.q ? { query: state.q } : {}),
        order_by: '-created_at', limit: state.limit, offset: state.offset, paginated: true,
      })
      return ctx.render(req, reply, {
        title: 'Users', section: 'users',
        body: usersListBody({ instance, state, rows: data, total: totalCount, notice: NOTICES[query.notice ?? ''] ?? null }),
      })
    })

    app.get('/users/:user_id', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const user = await users.get(instance, userIdOf(req.params))
      const { data, totalCount } = await memberships.listForUser(instance, user.id, { limit: MEMBERSHIPS_SHOWN })
      const userSessions = await sessions.list(instance, { user_id: user.id, limit: SESSIONS_SHOWN, paginated: true })
      return ctx.render(req, reply, {
        title: fullName(user) || primaryEmail(user)?.email_address || user.id, section: 'users',
        body: userDetailBody({
          instance, csrf: ctx.csrf(reply), user, memberships: data, membershipsTotal: totalCount,
          sessions: userSessions.data, sessionsTotal: userSessions.totalCount ?? userSessions.data.length, notice: NOTICES[(req.query as Query).notice ?? ''] ?? null,
        }),
      })
    })

    // Through the sessions service, as the Backend API revokes: session.revoked is sent.
    app.post('/users/:user_id/sessions/:session_id/revoke', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const { user_id: userId, session_id: sessionId } = req.params as { user_id: string; session_id: string }
      const found = await sessions.get(instance, sessionId)
      // The session must be this user's: the page it was posted from showed it under them.
      if (found.row.user_id !== userId) throw notFound('session')
      // One ended, expired or revoked since the page was shown (another tab) is left as it is.
      const isActive = found.row.status === 'active' && found.row.expires_at > found.now
      const revoked = isActive && (await sessions.revoke(instance, sessionId)).row.status === 'revoked'
      const notice = revoked ? 'session_revoked' : 'session_inactive'
      return reply.redirect(`${usersPath(instance, `/${encodeURIComponent(userId)}`)}?notice=${notice}`, 303)
    })

    // Deleting asks first: a GET shows who will be deleted, only the POST from that page deletes.
    app.get('/users/:user_id/delete', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const user = await users.get(instance, userIdOf(req.params))
      return ctx.render(req, reply, { title: 'Delete user', section: 'users', body: userDeleteConfirmBody({ instance, csrf: ctx.csrf(reply), user }) })
    })

    app.post('/users/:user_id/delete', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      await users.remove(instance, userIdOf(req.params))
      return reply.redirect(`${usersPath(instance)}?notice=deleted`, 303)
    })
  },
}
