import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { formError } from './forms.js'
import { ApiError } from '../platform/errors.js'
import { messageBody, plainPage } from './dashboard.views.js'
import type { DashboardContext } from './dashboard.context.js'
import type { OperatorTeam } from './operators.service.js'
import { acceptPage, EMPTY_INVITE, operatorsBody, OPERATORS_PATH, removeBody, type InviteValues, type OperatorsPageProps } from './operators.views.js'

type FormBody = Record<string, string | string[] | undefined> | undefined
const field = (req: FastifyRequest, name: string): string => {
  const value = (req.body as FormBody)?.[name]
  return typeof value === 'string' ? value : ''
}
/** A field sent once or several times (checkboxes), as a list. */
const fields = (req: FastifyRequest, name: string): string[] => {
  const value = (req.body as FormBody)?.[name]
  return Array.isArray(value) ? value.filter((v) => typeof v === 'string') : typeof value === 'string' ? [value] : []
}

const NOTICES: Record<string, string> = {
  invited: 'The invitation was sent: its email is on its way.',
  changed: 'The role was saved; it applies from their next click.',
  removed: 'The operator was removed and signed out everywhere.',
  revoked: 'The invitation was revoked: its link no longer works.',
}

export interface OperatorPagesContext extends DashboardContext {
  team: OperatorTeam
  /** Sends a page outside the layout (for someone not signed in). */
  sendPlain(reply: FastifyReply, status: number, page: ReturnType<typeof plainPage>): FastifyReply
  /** The operator's session cookie. */
  session: { read(req: FastifyRequest): string | null; set(reply: FastifyReply, token: string): unknown }
}

/**
 * The Operators page, outside every instance: operators with their role and reach, pending
 * invitations; invite, change role and reach, remove, revoke. Registered behind the operator
 * session, where everything outside instances needs an owner (see authorization.ts).
 */
export const operatorsRoutes = (ctx: OperatorPagesContext) => async (app: FastifyInstance) => {
  const page = async (req: FastifyRequest, reply: FastifyReply, p: Partial<Pick<OperatorsPageProps, 'invite' | 'error' | 'notice'>> & { status?: number } = {}) => {
    const [{ operators, invitations }, instances] = await Promise.all([ctx.team.list(), ctx.dashboard.listInstances()])
    return ctx.render(req, reply, {
      status: p.status ?? 200, title: 'Operators', section: null,
      body: operatorsBody({
        me: req.operator.id, csrf: ctx.csrf(reply), operators, invitations, instances, now: ctx.deps.clock.now(),
        invite: p.invite ?? EMPTY_INVITE, error: p.error ?? null, notice: p.notice ?? null,
      }),
    })
  }
  const done = (reply: FastifyReply, notice: keyof typeof NOTICES) => reply.redirect(`${OPERATORS_PATH}?notice=${notice}`, 303)
  const access = (req: FastifyRequest) => ({ role: field(req, 'role'), scope: field(req, 'scope'), instanceIds: fields(req, 'instance_ids') })

  app.get('/operators', { schema: { hide: true } }, async (req, reply) =>
    page(req, reply, { notice: NOTICES[(req.query as { notice?: string }).notice ?? ''] ?? null }))

  app.post('/operators/invitations', { schema: { hide: true } }, async (req, reply) => {
    const invite: InviteValues = { emailAddress: field(req, 'email_address'), ...access(req) }
    try {
      await ctx.team.invite(req.operator, { ...invite })
      return done(reply, 'invited')
    } catch (err) {
      const error = formError(err)
      return page(req, reply, { status: error.status, invite, error: { ...error, target: 'invite' } })
    }
  })

  app.post('/operators/invitations/:invitation_id/revoke', { schema: { hide: true } }, async (req, reply) => {
    await ctx.team.revokeInvitation(req.operator, (req.params as { invitation_id: string }).invitation_id)
    return done(reply, 'revoked')
  })

  app.post('/operators/:operator_id/access', { schema: { hide: true } }, async (req, reply) => {
    const id = (req.params as { operator_id: string }).operator_id
    try {
      await ctx.team.changeAccess(req.operator, id, access(req))
      return done(reply, 'changed')
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) throw err
      const error = formError(err)
      return page(req, reply, { status: error.status, error: { ...error, target: id } })
    }
  })

  app.get('/operators/:operator_id/remove', { schema: { hide: true } }, async (req, reply) => {
    const id = (req.params as { operator_id: string }).operator_id
    const operator = (await ctx.team.list()).operators.find((o) => o.id === id)
    if (!operator) throw new ApiError(404, 'resource_not_found', 'not found', 'No such operator exists.')
    return ctx.render(req, reply, { title: 'Remove operator', section: null, body: removeBody({ csrf: ctx.csrf(reply), operator, isSelf: id === req.operator.id }) })
  })

  app.post('/operators/:operator_id/remove', { schema: { hide: true } }, async (req, reply) => {
    const id = (req.params as { operator_id: string }).operator_id
    try {
      await ctx.team.remove(req.operator, id)
      return done(reply, 'removed')
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) throw err
      const error = formError(err)
      return page(req, reply, { status: error.status, error: { ...error, target: id } })
    }
  })
}

const invalidLink = () => plainPage('This invitation link is not valid', messageBody(
  'It was already used, it expired, or it was revoked. Ask an owner to invite you again, or sign in if you have an account.',
  [['/dashboard/sign-in', 'Sign in']]))

/**
 * The page an operator invitation's link opens, outside the operator session: choose a
 * password, and be signed in as the new operator.
 */
export const acceptRoutes = (ctx: OperatorPagesContext) => async (app: FastifyInstance) => {
  app.get('/invitations/accept', { schema: { hide: true } }, async (req, reply) => {
    const token = (req.query as { token?: unknown }).token
    const invitation = typeof token === 'string' ? await ctx.team.invitationForToken(token) : null
    if (!invitation || typeof token !== 'string') return ctx.sendPlain(reply, 404, invalidLink())
    return ctx.sendPlain(reply, 200, acceptPage({ token, csrf: ctx.csrf(reply), invitation, error: null }))
  })

  app.post('/invitations/accept', { schema: { hide: true } }, async (req, reply) => {
    const token = field(req, 'token')
    try {
      const { sessionToken } = await ctx.team.accept(token, { password: field(req, 'password'), ip: req.ip, userAgent: req.headers['user-agent'] ?? null })
      // Whoever was signed in on this browser before is signed out: the new session replaces theirs.
      await ctx.dashboard.signOut(ctx.session.read(req))
      ctx.session.set(reply, sessionToken)
      return reply.redirect('/dashboard', 303)
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return ctx.sendPlain(reply, 404, invalidLink())
      const error = formError(err)
      const invitation = await ctx.team.invitationForToken(token)
      if (!invitation) return ctx.sendPlain(reply, 404, invalidLink())
      return ctx.sendPlain(reply, error.status, acceptPage({ token, csrf: ctx.csrf(reply), invitation, error }))
    }
  })
}
