import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { formError, text } from './forms.js'
import { ApiError } from '../platform/errors.js'
import type { SafeHtml } from '../platform/html.js'
import type { DashboardContext } from './dashboard.context.js'
import { messageBody, plainPage, type FormError } from './dashboard.views.js'
import { operatorSessionCookie, safeNext } from './operator-session.js'
import { canManageSecurity, SIGN_IN_CHALLENGE_TTL_MS, type OperatorSecurityService } from './operator-security.service.js'
import type { PasswordResets } from './password-reset.js'
import {
  ACCOUNT_PATH, TOTP_PATH, accountBody, forgotPasswordPage, recoveryCodesBody, resetPasswordPage, signInCodePage, totpEnrolBody, totpIntroBody,
} from './account.views.js'

/**
 * The cookie between a correct password and a correct code. Its token opens only the code
 * form (it is no session), lives minutes, and is stored hashed like a session's.
 */
export function pendingSignInCookie(publicUrl: string) {
  const secure = new URL(publicUrl).protocol === 'https:'
  const name = secure ? '__Host-foyer_operator_pending' : '__foyer_operator_pending'
  const options = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure }
  return {
    read: (req: FastifyRequest): string | null => req.cookies?.[name] ?? null,
    set: (reply: FastifyReply, token: string) => reply.setCookie(name, token, { ...options, maxAge: SIGN_IN_CHALLENGE_TTL_MS / 1000 }),
    clear: (reply: FastifyReply) => reply.clearCookie(name, options),
  }
}

/** Where an operator who must set up one-time codes may still go: the set-up itself, and signing out. */
export const isEnrolmentPath = (url: string) => {
  const path = url.split('?')[0]!
  return path === TOTP_PATH || path === `${TOTP_PATH}/start` || path === `${TOTP_PATH}/confirm` || path === '/dashboard/sign-out'
}

export interface SecurityPages {
  ctx: DashboardContext
  security: OperatorSecurityService
  resets: PasswordResets
  send(reply: FastifyReply, status: number, page: SafeHtml): FastifyReply
}

const userAgentOf = (req: FastifyRequest) => {
  const ua = req.headers['user-agent']
  return typeof ua === 'string' && ua ? ua : null
}

/**
 * Pages open without a session: the code step of signing in, asking for a password reset
 * link, and using one.
 */
export const publicSecurityRoutes = ({ ctx, security, resets, send }: SecurityPages): FastifyPluginAsync => async (app) => {
  const { dashboard } = ctx
  const session = operatorSessionCookie(ctx.deps.config.publicUrl)
  const pending = pendingSignInCookie(ctx.deps.config.publicUrl)
  const expired = (reply: FastifyReply) => send(reply, 401, plainPage('Sign in again', messageBody(
    'This sign-in took too long or had too many wrong codes. Sign in with your password again.', [['/dashboard/sign-in', 'Sign in']])))

  app.get('/sign-in/code', { schema: { hide: true } }, async (req, reply) => {
    const next = safeNext((req.query as { next?: string }).next)
    if (!await security.challenge(pending.read(req))) return expired(reply)
    return send(reply, 200, signInCodePage({ csrf: ctx.csrf(reply), next, error: null }))
  })

  app.post('/sign-in/code', { schema: { hide: true } }, async (req, reply) => {
    const next = safeNext(text(req, 'next'))
    try {
      const { sessionToken } = await security.completeSignIn(pending.read(req), text(req, 'code'), { ip: req.ip, userAgent: userAgentOf(req) })
      // A new token on every sign-in: a session planted before it (fixation) is not carried over.
      await dashboard.signOut(session.read(req))
      pending.clear(reply)
      session.set(reply, sessionToken)
      return reply.redirect(next ?? '/dashboard', 303)
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        pending.clear(reply)
        return expired(reply)
      }
      const isThrottled = err instanceof ApiError && err.status === 429
      const error = isThrottled ? { status: 429, message: err.longMessage } : formError(err)
      if (isThrottled) reply.headers(err.headers)
      // A challenge killed by this wrong code says so on the next try, not with a form that cannot work.
      if (!await security.challenge(pending.read(req))) {
        pending.clear(reply)
        return expired(reply)
      }
      return send(reply, error.status, signInCodePage({ csrf: ctx.csrf(reply), next, error }))
    }
  })

  app.get('/forgot-password', { schema: { hide: true } }, async (_req, reply) =>
    send(reply, 200, forgotPasswordPage({ csrf: ctx.csrf(reply), email: null, error: null, sent: false })))

  app.post('/forgot-password', { schema: { hide: true } }, async (req, reply) => {
    const email = text(req, 'email_address')
    try {
      await resets.request({ emailAddress: email, ip: req.ip })
      // Redirected, so that reloading the answer does not send another email.
      return reply.redirect('/dashboard/forgot-password/sent', 303)
    } catch (err) {
      const isThrottled = err instanceof ApiError && err.status === 429
      const error = isThrottled ? { status: 429, message: err.longMessage } : formError(err)
      if (isThrottled) reply.headers(err.headers)
      return send(reply, error.status, forgotPasswordPage({ csrf: ctx.csrf(reply), email, error, sent: false }))
    }
  })

  app.get('/forgot-password/sent', { schema: { hide: true } }, async (_req, reply) =>
    send(reply, 200, forgotPasswordPage({ csrf: ctx.csrf(reply), email: null, error: null, sent: true })))

  const linkInvalid = (reply: FastifyReply) => send(reply, 404, plainPage('This reset link is not valid', messageBody(
    'It was used already, it expired, or a newer reset replaced it.', [['/dashboard/forgot-password', 'Ask for a new link'], ['/dashboard/sign-in', 'Sign in']])))

  app.get('/reset-password', { schema: { hide: true } }, async (req, reply) => {
    const token = (req.query as { token?: unknown }).token
    if (typeof token !== 'string' || !await resets.usable(token)) return linkInvalid(reply)
    return send(reply, 200, resetPasswordPage({ csrf: ctx.csrf(reply), token, error: null }))
  })

  app.post('/reset-password', { schema: { hide: true } }, async (req, reply) => {
    const token = text(req, 'token')
    try {
      await resets.reset(token, text(req, 'password'))
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return linkInvalid(reply)
      const error = formError(err)
      return send(reply, error.status, resetPasswordPage({ csrf: ctx.csrf(reply), token, error }))
    }
    // Whoever reset it signs in afresh (with a code too, if the account has them on).
    session.clear(reply)
    return send(reply, 200, plainPage('Your password was changed', messageBody(
      'Every session of your account has ended. Sign in with your new password.', [['/dashboard/sign-in', 'Sign in']])))
  })
}

/** The signed-in operator's Account page: one-time codes, sessions, and the dashboard-wide rule. */
export const accountRoutes = ({ ctx, security }: SecurityPages): FastifyPluginAsync => async (app) => {
  const session = operatorSessionCookie(ctx.deps.config.publicUrl)

  async function account(req: FastifyRequest, reply: FastifyReply, extra: { status?: number; notice?: string | null; error?: FormError | null } = {}) {
    const [status, sessions] = await Promise.all([security.status(req.operator), security.listSessions(req.operator, session.read(req))])
    return ctx.render(req, reply, {
      status: extra.status ?? 200, title: 'Account', section: null,
      body: accountBody({
        csrf: ctx.csrf(reply), notice: extra.notice ?? null, error: extra.error ?? null, sessions, ...status, canManageSecurity: canManageSecurity(req.operator),
      }),
    })
  }

  const NOTICES: Record<string, string> = {
    ended: 'The session was ended.',
    others: 'Every other session was ended.',
    totp_off: 'One-time codes are off.',
    required: 'Every operator must now use one-time codes.',
    not_required: 'One-time codes are no longer required of every operator.',
  }

  app.get('/account', { schema: { hide: true } }, async (req, reply) => {
    const done = (req.query as { done?: string }).done
    return account(req, reply, { notice: (done && NOTICES[done]) ?? null })
  })

  app.post('/account/sessions/end-others', { schema: { hide: true } }, async (req, reply) => {
    await security.endOtherSessions(req.operator, session.read(req))
    return reply.redirect(`${ACCOUNT_PATH}?done=others`, 303)
  })

  app.post('/account/sessions/:session_id/end', { schema: { hide: true } }, async (req, reply) => {
    const { wasCurrent } = await security.endSession(req.operator, (req.params as { session_id: string }).session_id, session.read(req))
    if (wasCurrent) {
      session.clear(reply)
      return reply.redirect('/dashboard/sign-in?signed_out=1', 303)
    }
    return reply.redirect(`${ACCOUNT_PATH}?done=ended`, 303)
  })

  app.post('/account/require-totp', { schema: { hide: true } }, async (req, reply) => {
    const value = text(req, 'require_totp') === 'on'
    try {
      await security.setRequireTotp(req.operator, value)
    } catch (err) {
      const error = formError(err)
      return account(req, reply, { status: error.status, error })
    }
    return reply.redirect(`${ACCOUNT_PATH}?done=${value ? 'required' : 'not_required'}`, 303)
  })

  app.get('/account/totp', { schema: { hide: true } }, async (req, reply) => {
    const status = await security.status(req.operator)
    if (status.totpEnabled) return reply.redirect(ACCOUNT_PATH, 303)
    return ctx.render(req, reply, { title: 'Set up one-time codes', section: null, body: totpIntroBody({ csrf: ctx.csrf(reply), required: status.requireTotp }) })
  })

  // Answered here rather than redirected: the secret is shown on this answer and beside a refused code only.
  app.post('/account/totp/start', { schema: { hide: true } }, async (req, reply) => {
    const { secret, uri } = await security.startEnrolment(req.operator)
    return ctx.render(req, reply, { title: 'Set up one-time codes', section: null, body: totpEnrolBody({ csrf: ctx.csrf(reply), secret, uri, error: null }) })
  })

  app.post('/account/totp/confirm', { schema: { hide: true } }, async (req, reply) => {
    try {
      const { recoveryCodes } = await security.confirmEnrolment(req.operator, text(req, 'code'), req.ip)
      return ctx.render(req, reply, { title: 'One-time codes are on', section: null, body: recoveryCodesBody({ codes: recoveryCodes }) })
    } catch (err) {
      if (err instanceof ApiError && err.status === 429) throw err
      const error = formError(err)
      const enrolment = await security.pendingEnrolment(req.operator)
      if (!enrolment) throw err
      return ctx.render(req, reply, { status: error.status, title: 'Set up one-time codes', section: null, body: totpEnrolBody({ csrf: ctx.csrf(reply), ...enrolment, error }) })
    }
  })

  app.post('/account/totp/disable', { schema: { hide: true } }, async (req, reply) => {
    try {
      await security.disable(req.operator, { password: text(req, 'password'), code: text(req, 'code'), ip: req.ip })
    } catch (err) {
      const error = formError(err)
      return account(req, reply, { status: error.status, error })
    }
    return reply.redirect(`${ACCOUNT_PATH}?done=totp_off`, 303)
  })
}
