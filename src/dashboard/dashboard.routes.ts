import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { formError, text } from './forms.js'
import csrf from '@fastify/csrf-protection'
import { ApiError } from '../platform/errors.js'
import { toApiError } from '../platform/http.js'
import { setAuditActor } from '../platform/audit/audit.js'
import { html, type SafeHtml } from '../platform/html.js'
import type { Instance } from '../instance/instance.schemas.js'
import { createSignInThrottle, memoryCounter, redisCounter } from '../accept/sign-in-throttle.js'
import { ASSETS, DASHBOARD_CSP } from './dashboard.assets.js'
import type { DashboardContext, DashboardDeps, DashboardSection } from './dashboard.context.js'
import { createDashboardService, type Operator } from './dashboard.service.js'
import { operatorOf, operatorSessionCookie, operatorSignIn, safeNext } from './operator-session.js'
import {
  dashboardPage, instanceCreatedBody, instancePath, messageBody, newInstanceBody, plainPage, setupPage, signInPage,
} from './dashboard.views.js'
import { invitationsSection } from './invitations.page.js'
import { usersSection } from './users.page.js'
import { organizationsSection } from './organizations.page.js'
import { templatesSection } from './templates.page.js'
import { webhooksSection } from './webhooks.page.js'
import { settingsSection } from './settings.page.js'
import { overviewSection } from './overview.page.js'
import { linksSection } from './links.page.js'
import { createOperatorSecurityService } from './operator-security.service.js'
import { accountRoutes, isEnrolmentPath, pendingSignInCookie, publicSecurityRoutes } from './account.page.js'
import { TOTP_PATH } from './account.views.js'
import {
  authorize, declareAccess, hasRole, instanceNotFound, isReadOnly, reaches, withPrefix, type AccessDeclaration, type OperatorAccess,
} from './authorization.js'
import { acceptRoutes, operatorsRoutes, type OperatorPagesContext } from './operators.page.js'
import { auditSection, teamAuditRoutes } from './audit.page.js'

export type { DashboardDeps } from './dashboard.context.js'

/** The dashboard's sections, in nav order. A new page is a module exporting a section, added here. */
const SECTIONS: readonly DashboardSection[] = [
  invitationsSection, linksSection, usersSection, organizationsSection, templatesSection, webhooksSection, settingsSection, overviewSection,
  auditSection,
]
const NAV = SECTIONS.map(({ key, label, path }) => ({ key, label, path }))
/** Outside instances everything needs an owner (authorization.ts) but these, which every operator uses. */
const OUTSIDE_INSTANCES: AccessDeclaration = {
  'GET /': 'viewer', 'GET /switch': 'viewer', 'POST /sign-out': 'viewer',
  // Each operator's own account: their sessions and one-time codes.
  'GET /account': 'viewer', 'POST /account/sessions/end-others': 'viewer', 'POST /account/sessions/:session_id/end': 'viewer',
  'GET /account/totp': 'viewer', 'POST /account/totp/start': 'viewer', 'POST /account/totp/confirm': 'viewer', 'POST /account/totp/disable': 'viewer',
  // A rule for every operator, hence an owner's.
  'POST /account/require-totp': 'owner',
}

const CSRF_ERRORS = new Set(['FST_CSRF_MISSING_SECRET', 'FST_CSRF_INVALID_TOKEN'])
const SAFE_METHODS = new Set(['GET', 'HEAD'])

/**
 * The operator's dashboard under /dashboard: setup of the first operator, sign-in, the
 * instance switcher and each section's pages. Server-rendered; every answer carries a strict
 * CSP, every POST is CSRF-checked, and everything but setup, sign-in and the static assets
 * needs an operator session (pages redirect to sign-in, other requests get 401).
 */
export const dashboardRoutes = (deps: DashboardDeps): FastifyPluginAsync => async (root) => {
  const { redis, clock } = deps
  const dashboard = createDashboardService({
    db: deps.db, clock, instances: deps.services.instances,
    // Shared through Redis when there is one, so that guesses spread over processes still count together.
    throttle: createSignInThrottle({ counter: redis ? redisCounter(redis, memoryCounter(() => clock.now())) : memoryCounter(() => clock.now()) }),
  })
  const security = createOperatorSecurityService({
    db: deps.db, clock, serverSecret: deps.serverSecret, dashboard,
    throttle: createSignInThrottle({ counter: redis ? redisCounter(redis, memoryCounter(() => clock.now())) : memoryCounter(() => clock.now()) }),
  })
  const pending = pendingSignInCookie(deps.config.publicUrl)
  const secure = new URL(deps.config.publicUrl).protocol === 'https:'
  const session = operatorSessionCookie(deps.config.publicUrl)
  const operatorOfRequest = operatorOf(dashboard, deps.config.publicUrl)

  await root.register(async (app) => {
    // Double-submit CSRF, as on the hosted pages, with a secret of its own.
    await app.register(csrf, {
      cookieKey: secure ? '__Host-foyer_dashboard_csrf' : 'foyer_dashboard_csrf',
      cookieOpts: { path: '/', sameSite: 'lax', httpOnly: true, secure },
    })
    // One token per answer: without a secret cookie yet, each generateCsrf call would set a new
    // secret, and only the last form's token would match it.
    const tokens = new WeakMap<FastifyReply, string>()
    const csrfFor = (reply: FastifyReply) => {
      let token = tokens.get(reply)
      if (token === undefined) tokens.set(reply, token = reply.generateCsrf())
      return token
    }
    const send = (reply: FastifyReply, status: number, page: SafeHtml) => reply.code(status).type('text/html; charset=utf-8').send(page.value)

    app.decorateRequest('operator', null as unknown as Operator)
    app.decorateRequest('instance', null as unknown as Instance)
    app.decorateRequest('access', null as unknown as OperatorAccess)

    // Pages show keys and personal data: never cached, framed or referred from.
    app.addHook('onRequest', async (_req, reply) => {
      reply.headers({
        'content-security-policy': DASHBOARD_CSP,
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      })
    })
    // Every state-changing request, in every section present and future, carries a valid token.
    app.addHook('preHandler', (req, reply, done) => {
      if (SAFE_METHODS.has(req.method)) return done()
      app.csrfProtection.call(app, req, reply, done)
    })

    async function render(req: FastifyRequest, reply: FastifyReply, page: { title: string; section: string | null; body: SafeHtml | string; status?: number }) {
      // Only the instances this operator reaches: the others' names are not theirs to know.
      const instances = (await dashboard.listInstances()).filter((i) => reaches(req.access, i.id))
      return send(reply, page.status ?? 200, dashboardPage({
        title: page.title, operator: req.operator, csrf: csrfFor(reply), instances, instance: req.instance ?? null,
        nav: NAV, current: page.section, body: page.body, isOwner: hasRole(req.access, 'owner'),
        // Read-only inside instances; a viewer's own account (sessions, codes) is theirs to change.
        readOnly: isReadOnly(req.access) && Boolean(req.instance),
      }))
    }
    const ctx: DashboardContext = { deps, dashboard, csrf: csrfFor, render: (req, reply, page) => render(req, reply, { ...page, body: html`${page.body}` }) }
    const teamCtx: OperatorPagesContext = { ...ctx, team: deps.services.operators, sendPlain: send, session }

    app.setErrorHandler(async (err, req, reply) => {
      const isCsrf = CSRF_ERRORS.has((err as { code?: string }).code ?? '')
      const error = isCsrf
        ? new ApiError(403, 'not_allowed_access', 'invalid form token', 'This form has expired or was not sent from this site, so nothing was done. Go back, reload the page and try again.')
        : toApiError(err)
      if (error.status >= 500) req.log.error({ err, traceId: req.id }, 'request failed')
      const title = isCsrf ? 'Please try again' : error.status === 404 ? 'Not found' : error.status >= 500 ? 'Something went wrong' : 'This could not be done'
      const message = error.status >= 500 ? `${error.longMessage} Trace id: ${req.id}.` : error.longMessage
      reply.headers(error.headers)
      if (!req.operator) {
        const links: [string, string][] = error.status === 401 ? [['/dashboard/sign-in', 'Sign in']] : [['/dashboard', 'Dashboard']]
        return send(reply, error.status, plainPage(title, messageBody(message, links)))
      }
      // A refusal before the instance was loaded (a role too low) is still shown inside its instance.
      const instanceId = (req.params as { instance_id?: unknown } | undefined)?.instance_id
      if (!req.instance && req.access && typeof instanceId === 'string' && reaches(req.access, instanceId)) {
        const instance = await dashboard.findInstance(instanceId)
        if (instance) req.instance = instance
      }
      const back: [string, string][] = req.instance ? [[instancePath(req.instance.id, 'invitations'), 'Back to invitations']] : [['/dashboard', 'Dashboard']]
      return render(req, reply, { status: error.status, title, section: null, body: messageBody(message, back) })
    })
    app.setNotFoundHandler((req, reply) => {
      throw new ApiError(404, 'resource_not_found', 'not found', `There is no dashboard page at ${req.url.split('?')[0]}.`)
    })

    for (const asset of Object.values(ASSETS)) {
      app.get(asset.path.slice('/dashboard'.length), { schema: { hide: true } }, async (_req, reply) =>
        reply.header('cache-control', 'public, max-age=31536000, immutable').type(asset.type).send(asset.body))
    }

    // --- First operator ------------------------------------------------------------------

    app.get('/setup', { schema: { hide: true } }, async (req, reply) => {
      const token = (req.query as { token?: unknown }).token
      if (typeof token !== 'string' || !await dashboard.isSetupTokenUsable(token)) {
        return send(reply, 404, plainPage('This setup link is not valid', messageBody(
          'It was already used, it expired, or an operator account exists already. Sign in instead; while no operator exists, restarting Foyer prints a new link.',
          [['/dashboard/sign-in', 'Sign in']])))
      }
      return send(reply, 200, setupPage({ token, csrf: csrfFor(reply), email: null, error: null }))
    })

    app.post('/setup', { schema: { hide: true } }, async (req, reply) => {
      const token = text(req, 'token')
      const email = text(req, 'email_address')
      try {
        const { sessionToken } = await dashboard.setup(token, { emailAddress: email, password: text(req, 'password'), client: { ip: req.ip, userAgent: req.headers['user-agent'] ?? null } })
        session.set(reply, sessionToken)
        return reply.redirect('/dashboard', 303)
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) throw err
        const error = formError(err)
        return send(reply, error.status, setupPage({ token, csrf: csrfFor(reply), email, error }))
      }
    })

    // --- Operator invitations' links (the invitee has no session yet) --------------------

    await app.register(acceptRoutes(teamCtx))

    // --- Sign-in and sign-out ------------------------------------------------------------

    app.get('/sign-in', { schema: { hide: true } }, async (req, reply) => {
      const next = safeNext((req.query as { next?: string }).next)
      if (await dashboard.session(session.read(req))) return reply.redirect(next ?? '/dashboard', 303)
      const signedOut = (req.query as { signed_out?: string }).signed_out === '1'
      const notice = signedOut ? 'You are signed out.'
        : await dashboard.hasOperator() ? null
          : 'No operator account exists yet. Open the setup link Foyer printed when it started (restart Foyer for a new one) to create the first.'
      return send(reply, 200, signInPage({ csrf: csrfFor(reply), email: null, next, error: null, notice }))
    })

    app.post('/sign-in', { schema: { hide: true } }, async (req, reply) => {
      const email = text(req, 'email_address')
      const next = safeNext(text(req, 'next'))
      try {
        const signedIn = await dashboard.signIn({ emailAddress: email, password: text(req, 'password'), ip: req.ip, userAgent: req.headers['user-agent'] ?? null })
        if ('challengeToken' in signedIn) {
          pending.set(reply, signedIn.challengeToken)
          return reply.redirect(`/dashboard/sign-in/code${next ? `?next=${encodeURIComponent(next)}` : ''}`, 303)
        }
        const { sessionToken } = signedIn
        // A new token on every sign-in: a session planted before it (fixation) is not carried over.
        await dashboard.signOut(session.read(req))
        session.set(reply, sessionToken)
        return reply.redirect(next ?? '/dashboard', 303)
      } catch (err) {
        const isThrottled = err instanceof ApiError && err.status === 429
        const error = isThrottled ? { status: 429, message: err.longMessage } : formError(err)
        if (isThrottled) reply.headers(err.headers)
        return send(reply, error.status, signInPage({ csrf: csrfFor(reply), email, next, error, notice: null }))
      }
    })

    // The code step of signing in, and password resets by email.
    await app.register(publicSecurityRoutes({ ctx, security, resets: deps.services.operatorPasswordResets, send }))

    // --- Everything else needs an operator -----------------------------------------------

    await app.register(async (authed: FastifyInstance) => {
      // Every route below gets its requirement as it is registered: sections' declarations,
      // else the defaults (authorization.ts). Checked once all are registered.
      const checkDeclarations = declareAccess(authed, {
        instancePrefix: '/dashboard/:instance_id',
        declared: new Map([
          ...withPrefix('/dashboard', OUTSIDE_INSTANCES),
          ...SECTIONS.flatMap((section) => withPrefix('/dashboard/:instance_id', section.access)),
        ]),
      })
      authed.addHook('onRequest', async (req, reply) => {
        const operator = await operatorOfRequest(req)
        // Read on every request: a changed role or a removal applies at the next click.
        const access = operator && await deps.services.operators.accessOf(operator.id)
        if (operator && access) {
          req.operator = operator
          req.access = access
          setAuditActor(req, { type: 'operator', id: operator.id, label: operator.emailAddress })
          // Required codes come first: until they are set up, nothing else opens.
          if (!isEnrolmentPath(req.url) && await security.mustEnrol(operator)) {
            if (SAFE_METHODS.has(req.method)) return reply.redirect(TOTP_PATH, 303)
            throw new ApiError(403, 'not_allowed_access', 'one-time codes required', 'This dashboard requires one-time codes of every operator. Set yours up first.')
          }
          return authorize(req)
        }
        if (SAFE_METHODS.has(req.method)) return reply.redirect(operatorSignIn(req.url), 303)
        throw new ApiError(401, 'signed_out', 'signed out', 'You are not signed in to the dashboard (or your session ended), so nothing was done. Sign in and try again.')
      })

      await authed.register(accountRoutes({ ctx, security, resets: deps.services.operatorPasswordResets, send }))

      authed.post('/sign-out', { schema: { hide: true } }, async (req, reply) => {
        await dashboard.signOut(session.read(req))
        session.clear(reply)
        return reply.redirect('/dashboard/sign-in?signed_out=1', 303)
      })

      // The default instance first: it is the one `npm start` printed the keys of.
      authed.get('/', { schema: { hide: true } }, async (req, reply) => {
        const [first] = (await dashboard.listInstances()).filter((i) => reaches(req.access, i.id))
        if (first) return reply.redirect(instancePath(first.id, NAV[0]!.path), 303)
        if (hasRole(req.access, 'owner')) return reply.redirect('/dashboard/instances/new', 303)
        return render(req, reply, { title: 'No instance', section: null, body: messageBody('You reach no instance yet. Ask an owner to give you one.') })
      })

      authed.get('/switch', { schema: { hide: true } }, async (req, reply) => {
        const id = (req.query as { instance?: unknown }).instance
        const instance = typeof id === 'string' && reaches(req.access, id) ? await dashboard.findInstance(id) : null
        if (!instance) throw instanceNotFound()
        return reply.redirect(instancePath(instance.id, NAV[0]!.path), 303)
      })

      authed.get('/instances/new', { schema: { hide: true } }, async (req, reply) =>
        render(req, reply, { title: 'New instance', section: null, body: newInstanceBody({ csrf: csrfFor(reply), name: null, error: null }) }))

      authed.post('/instances', { schema: { hide: true } }, async (req, reply) => {
        const name = text(req, 'name')
        try {
          const created = await dashboard.createInstance({ name })
          // Answered here rather than redirected: the key exists only in this answer.
          req.instance = created.instance
          return render(req, reply, { title: 'Instance created', section: null, body: instanceCreatedBody(created) })
        } catch (err) {
          const error = formError(err)
          return render(req, reply, { status: error.status, title: 'New instance', section: null, body: newInstanceBody({ csrf: csrfFor(reply), name, error }) })
        }
      })

      await authed.register(operatorsRoutes(teamCtx))
      await authed.register(teamAuditRoutes(ctx))

      await authed.register(async (scoped: FastifyInstance) => {
        scoped.addHook('onRequest', async (req) => {
          // Reach was checked already (authorize): here, whether the instance exists at all.
          const instance = await dashboard.findInstance((req.params as { instance_id: string }).instance_id)
          if (!instance) throw instanceNotFound()
          req.instance = instance
        })
        scoped.get('/', { schema: { hide: true } }, async (req, reply) => reply.redirect(instancePath(req.instance.id, NAV[0]!.path), 303))
        for (const section of SECTIONS) await scoped.register(section.routes(ctx))
      }, { prefix: '/:instance_id' })
      checkDeclarations()
    })
  }, { prefix: '/dashboard' })
}
