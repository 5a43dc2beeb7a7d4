import { Type, type Static } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import csrf from '@fastify/csrf-protection'
import type { RequestLimits } from '../platform/rate-limit.js'
import { ApiError } from '../platform/errors.js'
import { isInstanceId } from '../platform/ids.js'
import { isSignInToken } from '../sign-in-tokens/sign-in-tokens.service.js'
import { html } from '../platform/html.js'
import type { AcceptService, SignedIn, TicketState } from '../accept/accept.service.js'
import { sessionCookie } from '../accept/session-cookie.js'
import type { HandshakeService } from '../sessions/handshake.js'
import { redirectOriginsOf, type Instance } from '../instance/instance.schemas.js'
import type { UserRow } from '../users/users.store.js'
import { localUrl, sendPage, ticketProblem, usePageConventions } from './conventions.js'
import { contentSecurityPolicy } from './layout.js'
import {
  acceptInvitationPage, accountPage, messagePage, NAME_MAX_LENGTH, pendingInvitationsPage, signInPage, signOutPage, signUpPage, signUpWithTicketPage,
  verifyCodePage, waitlistPage, wrongAccountPage, type FormError, type InvitationChoice, type SignUpValues,
} from './pages.views.js'
import { isInvitee } from '../accept/org-accept.service.js'
import type { OrgInvitationView } from '../organizations/org-invitations.schemas.js'
import type { EmailAddressService } from '../users/email-addresses.service.js'
import type { InvitationLinkService } from '../invitation-links/invitation-links.service.js'
import { joinPageRoutes } from './invitation-links.pages.js'

export interface PagesDeps {
  /** A signed-in person's own addresses (`/account`). */
  emailAddresses: Pick<EmailAddressService, 'listOwn' | 'addOwn' | 'prepareVerification' | 'attemptVerification' | 'removeOwn'>
  /** Sends people on to the application signed in. */
  handshake: Pick<HandshakeService, 'allows' | 'back'>
  accept: AcceptService
  /** Joins an instance's waitlist; absent, waitlist-mode pages say joining is unavailable. */
  waitlist?: { join(instance: Instance, emailAddress: string): Promise<unknown> } | null
  publicUrl: string
  allowedRedirectOrigins: readonly string[]
  /** Per-IP and per-account limits, shared with the Frontend API (and between processes through Redis). */
  limits: RequestLimits
  /** Invitation links' pages (`/join`); absent, there are none. */
  links?: InvitationLinkService | null
}

type Usable = Extract<TicketState, { kind: 'usable' }>

const Text = Type.Optional(Type.String({ maxLength: 4096 }))
const PageQuery = Type.Object({ instance: Text, __clerk_ticket: Text, __clerk_status: Text, sign_up: Text, redirect_url: Text })
// Unknown fields are allowed and ignored: an `email_address` posted with a ticket changes nothing.
const FormBody = Type.Object({
  _csrf: Text, instance: Text, __clerk_ticket: Text, sign_up: Text, redirect_url: Text,
  email_address: Text, identifier: Text, password: Text, first_name: Text, last_name: Text, username: Text, code: Text,
  invitation_id: Text, suggestion_id: Text, email_address_id: Text,
})
type FormBody = Static<typeof FormBody>

// Where a sign-out may send the person back to: hosted pages and invitation links on this origin.
const RETURN_PATHS = new Set(['/sign-up', '/sign-in', '/welcome', '/accept', '/account', '/v1/tickets/accept'])

const primaryEmail = (user: UserRow) =>
  (user.email_addresses.find((e) => e.id === user.primary_email_address_id) ?? user.email_addresses[0])?.email_address ?? user.id

/** An optional name: blank is none; too long is an error on the field. */
function optionalName(value: string | undefined, param: 'first_name' | 'last_name'): string | null {
  const name = value?.trim() ?? ''
  if (name.length > NAME_MAX_LENGTH) {
    throw new ApiError(422, 'form_param_max_length_exceeded', 'is too long', `Names can be at most ${NAME_MAX_LENGTH} characters.`, { param_name: param })
  }
  return name || null
}

/** A refusal a person can fix on the same form (422 and the like), as the form shows it; anything else is thrown on. */
function formError(err: unknown): FormError & { status: number } {
  if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429 || err.code.startsWith('ticket_')) throw err
  const param = typeof err.meta.param_name === 'string' ? err.meta.param_name : undefined
  const message = err.code === 'form_param_format_invalid' && param === 'email_address' ? 'Enter a valid email address, such as name@example.com.'
    : err.code === 'form_code_incorrect' ? 'That code is not right. Check the email and try again.'
      : err.longMessage
  return { status: err.status, message, ...(param ? { param } : {}) }
}

/**
 * The hosted pages: sign-up (with an invitation, or per the instance's sign-up mode), the
 * emailed-code step, sign-in, sign-out, the waitlist and a plain "you're in" page. They call
 * the acceptance service, as the Frontend API does, never the HTTP API.
 */
export const pageRoutes = (deps: PagesDeps): FastifyPluginAsyncTypebox => async (app) => {
  const { accept } = deps
  const cookie = sessionCookie(deps.publicUrl)
  const secure = new URL(deps.publicUrl).protocol === 'https:'
  const origin = new URL(deps.publicUrl).origin

  // Double-submit CSRF: the secret sits in an httpOnly cookie, each form carries a token
  // derived from it. Over https the __Host- prefix stops a sibling subdomain from planting
  // its own secret.
  await app.register(csrf, {
    cookieKey: secure ? '__Host-foyer_csrf' : 'foyer_csrf',
    cookieOpts: { path: '/', sameSite: 'lax', httpOnly: true, secure },
  })
  usePageConventions(app, deps.allowedRedirectOrigins)
  // A form whose success redirects to the instance's application (after sign-up or sign-in,
  // an accepted invitation's redirect_url) needs the instance's own origins in form-action too.
  const formsFor = (reply: FastifyReply, instance: Instance) =>
    reply.header('content-security-policy', contentSecurityPolicy(redirectOriginsOf(instance, deps.allowedRedirectOrigins)))

  const limitSignIn = deps.limits.signIn
  const limitSignUp = deps.limits.signUp

  // One token per answer: without a secret cookie yet, each generateCsrf call would set a new
  // secret, and only the last page form's token would match it.
  const tokens = new WeakMap<FastifyReply, string>()
  const csrfFor = (reply: FastifyReply) => {
    let token = tokens.get(reply)
    if (token === undefined) tokens.set(reply, token = reply.generateCsrf())
    return token
  }

  const local = (instance: Instance, path: string, params: Record<string, string> = {}) => localUrl(accept, instance, path, params)
  const currentSession = (req: FastifyRequest) => accept.session(cookie.read(req))

  /** The instance named by `instance` (`ins_…`), else the default one; null for a name that is no instance. */
  const namedInstance = async (id: string | undefined): Promise<Instance | null> =>
    !id || isInstanceId(id) ? accept.resolveInstance(id || null) : null

  async function instanceOrNotFound(id: string | undefined): Promise<Instance> {
    const instance = await namedInstance(id)
    if (!instance) throw new ApiError(404, 'resource_not_found', 'not found', 'No application was found for this address. Check the link you followed.')
    return instance
  }

  /** A return address for sign-out: a hosted page or invitation link on this origin, else none (no open redirect). */
  function safeReturnPath(value: string | undefined): string | null {
    if (!value) return null
    try {
      const url = new URL(value, origin)
      return url.origin === origin && RETURN_PATHS.has(url.pathname) ? url.pathname + url.search : null
    } catch {
      return null
    }
  }

  /** Starts the new session in the cookie, ending the one it replaces, then leaves for `target`. */
  async function signInAndGo(req: FastifyRequest, reply: FastifyReply, signedIn: SignedIn, target: string): Promise<void> {
    const previous = cookie.read(req)
    if (previous && previous !== signedIn.session.token) await accept.signOut(previous)
    cookie.set(reply, signedIn.session.token)
    reply.redirect(await signedInTo(signedIn, target), 303)
  }

  /**
   * `target` for someone just signed in (or just made a member): a page of the application goes
   * through the handshake, so the application's very first request is signed in, whatever its
   * key and whatever its cookies said before. Foyer's own pages need no handshake.
   */
  async function signedInTo(signedIn: SignedIn, target: string): Promise<string> {
    const url = new URL(target, origin)
    if (url.origin === origin || !deps.handshake.allows(signedIn.instance, url)) return target
    return deps.handshake.back({
      instance: signedIn.instance, redirectUrl: url, session: { id: signedIn.session.id },
      // Both names: Foyer cannot know which the application's SDK reads.
      suffixed: true, devBrowser: null, format: 'nonce',
    })
  }
  const afterSignUp = async (instance: Instance) => instance.afterSignUpUrl ?? local(instance, '/welcome')
  const afterSignIn = async (instance: Instance) => instance.homeUrl ?? local(instance, '/welcome')

  const signOutForm = (reply: FastifyReply, instance: Instance | null, returnTo: string | null) =>
    ({ action: '/sign-out', csrf: csrfFor(reply), hidden: { instance: instance?.id, redirect_url: returnTo } })

  async function alreadySignedIn(reply: FastifyReply, signedIn: SignedIn, returnTo: string): Promise<void> {
    const { instance } = signedIn
    sendPage(reply, 200, messagePage({
      app: instance.name, title: 'You are already signed in',
      text: [html`You are signed in to ${instance.name} as <strong>${primaryEmail(signedIn.user)}</strong>.`],
      links: [[await afterSignIn(instance), `Continue to ${instance.name}`]],
      action: { form: signOutForm(reply, instance, returnTo), label: 'Sign out and use another account' },
    }))
  }

  /**
   * Someone already signed in follows an invitation. As the invited address, there is
   * nothing to do; as anyone else, they must sign out first. Either way the ticket stays
   * unused. True when it answered (the route must stop there), false when nobody is signed in.
   *
   * A boolean, not the reply: a FastifyReply is thenable, so an async function resolving it
   * resolves `undefined` once it is sent, and a caller testing the result would go on.
   */
  async function signedInGuard(reply: FastifyReply, signedIn: SignedIn | null, state: Usable, page: string, ticket: string): Promise<boolean> {
    if (!signedIn) return false
    if (isInvitee(signedIn, state.instance.id, state.invitation.email_address)) {
      // An organization invitation for the person signed in is answered on /accept.
      if (state.target === 'organization') reply.redirect(await local(state.instance, '/accept', { __clerk_ticket: ticket }), 303)
      else await alreadySignedIn(reply, signedIn, await local(state.instance, page, { __clerk_ticket: ticket }))
    } else {
      await wrongAccount(reply, signedIn, state, page, ticket)
    }
    return true
  }

  /** Someone else is signed in: say so, and offer to sign out and come back to `page` with the ticket (409, nothing consumed). */
  async function wrongAccount(reply: FastifyReply, signedIn: SignedIn, state: Usable, page: string, ticket: string): Promise<void> {
    const returnTo = await local(state.instance, page, { __clerk_ticket: ticket })
    sendPage(reply, 409, wrongAccountPage({
      app: state.instance.name, signedInAs: primaryEmail(signedIn.user),
      signedInApp: signedIn.instance.id === state.instance.id ? null : signedIn.instance.name,
      invitedEmail: state.invitation.email_address, signOut: signOutForm(reply, state.instance, returnTo),
    }))
  }

  /** Where a ticket's own flow starts: sign-up without an account, sign-in with one (and either accepts it). */
  const ticketFlow = (state: Usable, ticket: string) => state.existingUser
    ? local(state.instance, '/sign-in', { __clerk_ticket: ticket, __clerk_status: 'sign_in' })
    : local(state.instance, '/sign-up', { __clerk_ticket: ticket, __clerk_status: 'sign_up' })

  function ticketSignUpForm(reply: FastifyReply, status: number, state: Usable, ticket: string, values: SignUpValues, error: FormError | null, signInUrl: string) {
    return sendPage(formsFor(reply, state.instance), status, signUpWithTicketPage({
      app: state.instance.name, email: state.invitation.email_address, values, error, signInUrl, usernames: state.instance.username,
      organization: state.target === 'organization' ? state.invitation.organization_name : null,
      form: { action: '/sign-up', csrf: csrfFor(reply), hidden: { __clerk_ticket: ticket } },
    }))
  }

  /** Sign-up without an invitation, as the instance's mode allows it. */
  async function modeSignUp(reply: FastifyReply, instance: Instance, values: SignUpValues = {}, error: FormError | null = null, status = 200): Promise<void> {
    const signInUrl = await local(instance, '/sign-in')
    if (instance.signUpMode === 'restricted' && !await accept.signUpFormOpen(instance)) {
      sendPage(reply, 403, messagePage({
        app: instance.name, title: 'Sign-up is by invitation only',
        text: [`${instance.name} accepts new accounts only through an invitation. If you were invited, open the link in your invitation email.`],
        links: [[signInUrl, 'Already have an account? Sign in']],
      }))
      return
    }
    if (instance.signUpMode === 'waitlist') return waitlistForm(reply, instance, values.emailAddress ?? null, error, status)
    sendPage(formsFor(reply, instance), status, signUpPage({
      app: instance.name, values, error, signInUrl, usernames: instance.username,
      form: { action: '/sign-up', csrf: csrfFor(reply), hidden: { instance: instance.id } },
    }))
  }

  async function waitlistForm(reply: FastifyReply, instance: Instance, email: string | null, error: FormError | null, status: number): Promise<void> {
    sendPage(reply, status, waitlistPage({
      app: instance.name, email, error, signInUrl: await local(instance, '/sign-in'),
      form: { action: '/waitlist', csrf: csrfFor(reply), hidden: { instance: instance.id } },
    }))
  }

  /** The sign-in form; `returnTo` (a safe return path) is where a successful sign-in without a ticket leads. */
  async function signInForm(reply: FastifyReply, status: number, instance: Instance, p: { ticket?: string | null; email?: string | null; error?: FormError | null; notice?: string | null; returnTo?: string | null }): Promise<void> {
    const signUpUrl = instance.signUpMode === 'restricted' ? null : await local(instance, '/sign-up')
    sendPage(formsFor(reply, instance), status, signInPage({
      app: instance.name, email: p.email ?? null, error: p.error ?? null, notice: p.notice ?? null, signUpUrl, usernames: instance.username.enabled,
      form: { action: '/sign-in', csrf: csrfFor(reply), hidden: p.ticket ? { __clerk_ticket: p.ticket } : { instance: instance.id, redirect_url: p.returnTo } },
    }))
  }

  const pageSchema = { hide: true, querystring: PageQuery }
  const formSchema = { hide: true, body: FormBody }

  app.get('/sign-up', { schema: pageSchema }, async (req, reply) => {
    const { __clerk_ticket: ticket } = req.query
    const signedIn = await currentSession(req)
    if (ticket) {
      const state = await accept.resolveTicket(ticket)
      if (state.kind !== 'usable') return ticketProblem(accept, reply, state)
      if (await signedInGuard(reply, signedIn, state, '/sign-up', ticket)) return reply
      if (state.existingUser) return reply.redirect(await local(state.instance, '/sign-in', { __clerk_ticket: ticket, __clerk_status: 'sign_in' }), 303)
      return ticketSignUpForm(reply, 200, state, ticket, {}, null, await local(state.instance, '/sign-in'))
    }
    const instance = await instanceOrNotFound(req.query.instance)
    if (signedIn?.instance.id === instance.id) return alreadySignedIn(reply, signedIn, await local(instance, '/sign-up'))
    return modeSignUp(reply, instance)
  })

  app.post('/sign-up', { schema: formSchema, preHandler: app.csrfProtection }, async (req, reply) => {
    const form = req.body
    const values: SignUpValues = { emailAddress: form.email_address ?? null, username: form.username ?? null, firstName: form.first_name ?? null, lastName: form.last_name ?? null }
    const ticket = form.__clerk_ticket
    if (ticket) {
      const state = await accept.resolveTicket(ticket)
      if (state.kind !== 'usable') return ticketProblem(accept, reply, state)
      if (await signedInGuard(reply, await currentSession(req), state, '/sign-up', ticket)) return reply
      try {
        const firstName = optionalName(form.first_name, 'first_name')
        const lastName = optionalName(form.last_name, 'last_name')
        // The address comes from the ticket alone; a posted email_address is not even read.
        const done = await accept.signUpWithTicket({ ticket, password: form.password ?? '', firstName, lastName, username: form.username })
        return signInAndGo(req, reply, done, await afterSignUp(done.instance))
      } catch (err) {
        const { status, ...error } = formError(err)
        return ticketSignUpForm(reply, status, state, ticket, values, error, await local(state.instance, '/sign-in'))
      }
    }
    const instance = await instanceOrNotFound(form.instance)
    if (!await accept.signUpFormOpen(instance)) return modeSignUp(reply, instance, values)
    try {
      await limitSignUp(req)
      const firstName = optionalName(form.first_name, 'first_name')
      const lastName = optionalName(form.last_name, 'last_name')
      const { attemptId } = await accept.startSignUp({ instance, emailAddress: form.email_address ?? '', password: form.password ?? '', firstName, lastName, username: form.username })
      return reply.redirect(await local(instance, '/sign-up/verify', { sign_up: attemptId }), 303)
    } catch (err) {
      const { status, ...error } = formError(err)
      return modeSignUp(reply, instance, values, error, status)
    }
  })

  /** The sign-up attempt a code is for, with its instance: the emailed link names only the attempt. */
  async function attemptOf(id: string | undefined) {
    const attempt = id && id.length <= 100 ? await accept.findSignUpAttempt(id) : null
    const instance = attempt && await accept.resolveInstance(attempt.instance_id)
    if (!attempt || !instance) throw new ApiError(404, 'resource_not_found', 'not found', 'This sign-up was not found. Start again from the sign-up page.')
    return { attempt, instance }
  }

  async function codeForm(reply: FastifyReply, status: number, instance: Instance, attempt: { id: string; email_address: string }, error: FormError | null): Promise<void> {
    sendPage(formsFor(reply, instance), status, verifyCodePage({
      app: instance.name, email: attempt.email_address, error, restartUrl: await local(instance, '/sign-up'),
      form: { action: '/sign-up/verify', csrf: csrfFor(reply), hidden: { sign_up: attempt.id } },
    }))
  }

  async function signUpClosed(reply: FastifyReply, instance: Instance, status: number, text: string): Promise<void> {
    sendPage(reply, status, messagePage({
      app: instance.name, title: 'This sign-up can no longer be completed', text: [text],
      links: [[await local(instance, '/sign-up'), 'Start again'], [await local(instance, '/sign-in'), 'Sign in']],
    }))
  }

  app.get('/sign-up/verify', { schema: pageSchema }, async (req, reply) => {
    const { attempt, instance } = await attemptOf(req.query.sign_up)
    if (attempt.status !== 'pending') return signUpClosed(reply, instance, 410, 'This sign-up was completed already: sign in with your email address and password.')
    return codeForm(reply, 200, instance, attempt, null)
  })

  app.post('/sign-up/verify', { schema: formSchema, preHandler: app.csrfProtection }, async (req, reply) => {
    const { attempt, instance } = await attemptOf(req.body.sign_up)
    try {
      const done = await accept.verifySignUp({ instance, attemptId: attempt.id, code: req.body.code ?? '' })
      return signInAndGo(req, reply, done, await afterSignUp(instance))
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'verification_failed' || err.code === 'verification_expired')) {
        return signUpClosed(reply, instance, err.status, err.longMessage)
      }
      const { status, ...error } = formError(err)
      return codeForm(reply, status, instance, attempt, error)
    }
  })

  async function signInTokenProblem(reply: FastifyReply, kind: 'expired' | 'unknown'): Promise<void> {
    sendPage(reply, kind === 'expired' ? 410 : 404, messagePage({
      app: null, title: kind === 'expired' ? 'This sign-in link has expired' : 'This sign-in link is not valid',
      text: ['Sign-in links work once, for a limited time. Ask for a new one, or sign in with your email address and password.'],
    }))
  }

  /**
   * A sign-in token's link asks the person to continue: mail scanners and link previews open
   * links too, and a GET alone must not use the token up.
   */
  async function signInTokenPage(reply: FastifyReply, token: string): Promise<void> {
    const state = await accept.resolveSignInToken(token)
    if (state.kind !== 'usable') return signInTokenProblem(reply, state.kind)
    sendPage(formsFor(reply, state.instance), 200, messagePage({
      app: state.instance.name, title: `Sign in to ${state.instance.name}`,
      text: [html`Continue as <strong>${primaryEmail(state.user)}</strong>.`],
      action: { form: { action: '/sign-in', csrf: csrfFor(reply), hidden: { __clerk_ticket: token } }, label: 'Continue' },
    }))
  }

  app.get('/sign-in', { schema: pageSchema }, async (req, reply) => {
    const { __clerk_ticket: ticket } = req.query
    if (ticket && isSignInToken(ticket)) return signInTokenPage(reply, ticket)
    const signedIn = await currentSession(req)
    if (ticket) {
      const state = await accept.resolveTicket(ticket)
      if (state.kind !== 'usable') return ticketProblem(accept, reply, state)
      if (await signedInGuard(reply, signedIn, state, '/sign-in', ticket)) return reply
      if (!state.existingUser) return reply.redirect(await local(state.instance, '/sign-up', { __clerk_ticket: ticket, __clerk_status: 'sign_up' }), 303)
      const notice = state.target === 'organization'
        ? `Sign in to join ${state.invitation.organization_name ?? 'the organization'} on ${state.instance.name}.`
        : `Sign in to accept your invitation to ${state.instance.name}.`
      return signInForm(reply, 200, state.instance, { ticket, email: state.invitation.email_address, notice })
    }
    const instance = await instanceOrNotFound(req.query.instance)
    if (signedIn?.instance.id === instance.id) return alreadySignedIn(reply, signedIn, await local(instance, '/sign-in'))
    const returnTo = safeReturnPath(req.query.redirect_url)
    const notice = req.query.__clerk_status === 'complete' ? 'This invitation has already been accepted — sign in.'
      : returnTo?.startsWith('/accept') ? 'Sign in to see your invitations.' : null
    return signInForm(reply, 200, instance, { notice, returnTo })
  })

  app.post('/sign-in', { schema: formSchema, preHandler: [app.csrfProtection, limitSignIn] }, async (req, reply) => {
    const form = req.body
    const ticket = form.__clerk_ticket || null
    if (ticket && isSignInToken(ticket)) {
      let done: SignedIn
      try {
        done = await accept.signInWithToken(ticket)
      } catch (err) {
        if (err instanceof ApiError && (err.code === 'ticket_expired' || err.code === 'ticket_invalid')) return signInTokenProblem(reply, err.code === 'ticket_expired' ? 'expired' : 'unknown')
        throw err
      }
      return signInAndGo(req, reply, done, await afterSignIn(done.instance))
    }
    let instance: Instance
    if (ticket) {
      const state = await accept.resolveTicket(ticket)
      if (state.kind !== 'usable') return ticketProblem(accept, reply, state)
      if (await signedInGuard(reply, await currentSession(req), state, '/sign-in', ticket)) return reply
      instance = state.instance
    } else {
      instance = await instanceOrNotFound(form.instance)
    }
    const returnTo = ticket ? null : safeReturnPath(form.redirect_url)
    try {
      const done = await accept.signIn({ instance, identifier: form.identifier ?? '', password: form.password ?? '', ticket, ip: req.ip })
      return signInAndGo(req, reply, done, returnTo ?? await afterSignIn(instance))
    } catch (err) {
      const { status, ...error } = formError(err)
      // One answer for "no such account" and "wrong password": the page must not reveal which addresses have accounts.
      const generic = err instanceof ApiError && (err.code === 'form_identifier_not_found' || err.code === 'form_password_incorrect')
      return signInForm(reply, status, instance, {
        ticket, email: form.identifier, returnTo,
        error: generic ? { message: `That ${instance.username.enabled ? 'email address or username' : 'email address'} and password do not match an account. Check them and try again.` } : error,
      })
    }
  })

  app.get('/sign-out', { schema: pageSchema }, async (req, reply) => {
    const signedIn = await currentSession(req)
    const instance = signedIn?.instance ?? await namedInstance(req.query.instance)
    return sendPage(reply, 200, signOutPage({
      app: instance?.name ?? null, signedInAs: signedIn ? primaryEmail(signedIn.user) : null,
      form: signOutForm(reply, instance, safeReturnPath(req.query.redirect_url)),
    }))
  })

  app.post('/sign-out', { schema: formSchema, preHandler: app.csrfProtection }, async (req, reply) => {
    await accept.signOut(cookie.read(req))
    cookie.clear(reply)
    const returnTo = safeReturnPath(req.body.redirect_url)
    if (returnTo) return reply.redirect(returnTo, 303)
    const instance = await namedInstance(req.body.instance)
    return sendPage(reply, 200, messagePage({
      app: instance?.name ?? null, title: 'You are signed out', text: ['You have been signed out on this device.'],
      links: instance ? [[await local(instance, '/sign-in'), 'Sign in again']] : [],
    }))
  })

  app.get('/welcome', { schema: pageSchema }, async (req, reply) => {
    const signedIn = await currentSession(req)
    if (signedIn) {
      const { instance, user } = signedIn
      return sendPage(reply, 200, messagePage({
        app: instance.name, title: 'You\'re in',
        text: [html`Welcome${user.first_name ? html`, ${user.first_name}` : ''}! You are signed in to ${instance.name} as <strong>${primaryEmail(user)}</strong>.`],
        action: { form: signOutForm(reply, instance, null), label: 'Sign out' },
      }))
    }
    const instance = await instanceOrNotFound(req.query.instance)
    return sendPage(reply, 200, messagePage({
      app: instance.name, title: 'You are not signed in', text: ['Sign in to continue.'],
      links: [[await local(instance, '/sign-in'), 'Sign in']],
    }))
  })

  app.get('/waitlist', { schema: pageSchema }, async (req, reply) => {
    const instance = await instanceOrNotFound(req.query.instance)
    if (instance.signUpMode !== 'waitlist') return reply.redirect(await local(instance, '/sign-up'), 303)
    return waitlistForm(reply, instance, null, null, 200)
  })

  app.post('/waitlist', { schema: formSchema, preHandler: [app.csrfProtection, limitSignUp] }, async (req, reply) => {
    const instance = await instanceOrNotFound(req.body.instance)
    if (instance.signUpMode !== 'waitlist') return reply.redirect(await local(instance, '/sign-up'), 303)
    if (!deps.waitlist) throw new ApiError(503, 'internal_clerk_error', 'waitlist unavailable', 'The waitlist is not available right now. Try again later.')
    const email = req.body.email_address ?? ''
    try {
      await deps.waitlist.join(instance, email)
    } catch (err) {
      const { status, ...error } = formError(err)
      return waitlistForm(reply, instance, email, error, status)
    }
    return sendPage(reply, 200, messagePage({
      app: instance.name, title: 'You\'re on the waitlist',
      text: [html`We will email <strong>${email.trim().toLowerCase()}</strong> when a place opens up for you on ${instance.name}.`],
    }))
  })

  /** The inviter as a person reads it: name and address (or whichever there is), and the shorter form a sentence uses. */
  function inviterOf(inv: OrgInvitationView): { full: string | null; short: string | null } {
    if (!inv.inviter_user_id || !inv.inviter_found) return { full: null, short: null }
    const name = [inv.inviter_first_name, inv.inviter_last_name].filter(Boolean).join(' ')
    return {
      full: name && inv.inviter_identifier ? `${name} (${inv.inviter_identifier})` : name || inv.inviter_identifier || null,
      short: name || inv.inviter_identifier || null,
    }
  }

  /** An invitation with its Accept and Decline forms; `hidden` names it (by ticket, or by id for the signed-in list). */
  function invitationChoice(inv: OrgInvitationView, csrf: string, hidden: Record<string, string>): InvitationChoice {
    return {
      organization: inv.organization_name ?? inv.organization_id, roleName: inv.role_name ?? inv.role,
      inviter: inviterOf(inv).full, inviterName: inviterOf(inv).short,
      accept: { action: '/accept', csrf, hidden }, decline: { action: '/accept/decline', csrf, hidden },
    }
  }

  /** The instance a request without a ticket is about: the one named, else the signed-in person's, else the default. */
  const instanceForAccept = async (named: string | undefined, signedIn: SignedIn | null) =>
    named ? instanceOrNotFound(named) : signedIn?.instance ?? instanceOrNotFound(undefined)

  /** Nobody is signed in to the instance: sign in first, then come back to `page`. */
  const signInFirst = async (reply: FastifyReply, instance: Instance, page = '/accept'): Promise<void> => {
    reply.redirect(await local(instance, '/sign-in', { redirect_url: await local(instance, page) }), 303)
  }

  /**
   * `/accept` with a ticket: an organization invitation for the signed-in person, with Accept
   * and Decline. Without a signed-in person the ticket's sign-up or sign-in comes first (and
   * accepts it); for someone else, the wrong-account page. Without a ticket: everything that
   * waits for the signed-in person (invitations, automatic ones from verified domains, and
   * suggestions). Showing changes nothing; only the buttons do.
   */
  app.get('/accept', { schema: pageSchema }, async (req, reply) => {
    const { __clerk_ticket: ticket } = req.query
    const signedIn = await currentSession(req)
    if (ticket) {
      const state = await accept.resolveTicket(ticket)
      if (state.kind !== 'usable') return ticketProblem(accept, reply, state)
      if (state.target === 'application' || !signedIn) return reply.redirect(await ticketFlow(state, ticket), 303)
      if (!isInvitee(signedIn, state.instance.id, state.invitation.email_address)) return wrongAccount(reply, signedIn, state, '/accept', ticket)
      return sendPage(formsFor(reply, state.instance), 200, acceptInvitationPage({
        app: state.instance.name, signedInAs: primaryEmail(signedIn.user),
        invitation: invitationChoice(state.invitation, csrfFor(reply), { __clerk_ticket: ticket }),
        signOut: signOutForm(reply, state.instance, await local(state.instance, '/accept', { __clerk_ticket: ticket })),
      }))
    }
    const instance = await instanceForAccept(req.query.instance, signedIn)
    if (signedIn?.instance.id !== instance.id) return signInFirst(reply, instance)
    const { invitations, suggestions } = await accept.organizations.pending(signedIn)
    const csrf = csrfFor(reply)
    return sendPage(formsFor(reply, instance), 200, pendingInvitationsPage({
      app: instance.name, signedInAs: primaryEmail(signedIn.user), continueUrl: await afterSignIn(instance),
      invitations: invitations.map((inv) => invitationChoice(inv, csrf, { invitation_id: inv.id, instance: instance.id })),
      suggestions: suggestions.map((sug) => ({
        organization: sug.organization_name,
        request: { action: '/accept', csrf, hidden: { suggestion_id: sug.id, instance: instance.id } },
        dismiss: { action: '/accept/decline', csrf, hidden: { suggestion_id: sug.id, instance: instance.id } },
      })),
    }))
  })

  /**
   * Accept (`/accept`) and Decline (`/accept/decline`): the signed-in person's answer to an
   * invitation named by ticket or id, or to a suggestion. Accepting makes them a member and
   * leads to the invitation's redirect_url, else the instance's home URL; declining tells the
   * inviting application by webhook. Anyone else signed in is refused before anything changes.
   */
  async function answer(req: FastifyRequest, form: FormBody, reply: FastifyReply, yes: boolean) {
    const signedIn = await currentSession(req)
    const ticket = form.__clerk_ticket
    let ref: { ticket: string } | { invitationId: string }
    let instance: Instance
    if (ticket) {
      const state = await accept.resolveTicket(ticket)
      if (state.kind !== 'usable') return ticketProblem(accept, reply, state)
      if (state.target === 'application' || !signedIn) return reply.redirect(await ticketFlow(state, ticket), 303)
      if (!isInvitee(signedIn, state.instance.id, state.invitation.email_address)) return wrongAccount(reply, signedIn, state, '/accept', ticket)
      ref = { ticket }
      instance = state.instance
    } else {
      instance = await instanceForAccept(form.instance, signedIn)
      if (signedIn?.instance.id !== instance.id) return signInFirst(reply, instance)
      if (form.suggestion_id) {
        const suggestion = await accept.organizations.answerSuggestion(signedIn, form.suggestion_id, yes ? 'accepted' : 'dismissed')
        if (!yes) return reply.redirect(await local(instance, '/accept'), 303)
        return sendPage(reply, 200, messagePage({
          app: instance.name, title: 'Request sent',
          text: [html`You asked to join <strong>${suggestion.organization_name}</strong>. An admin of the organization will let you in.`],
          links: [[await local(instance, '/accept'), 'Your invitations'], [await afterSignIn(instance), `Continue to ${instance.name}`]],
        }))
      }
      if (!form.invitation_id) return reply.redirect(await local(instance, '/accept'), 303)
      ref = { invitationId: form.invitation_id }
    }
    if (yes) {
      const joined = await accept.organizations.accept(signedIn, ref)
      return reply.redirect(await signedInTo(signedIn, accept.allowedRedirect(instance, joined.invitation.redirect_url) ?? await afterSignIn(instance)), 303)
    }
    const declined = await accept.organizations.decline(signedIn, ref)
    return sendPage(reply, 200, messagePage({
      app: instance.name, title: 'Invitation declined',
      text: [html`You declined the invitation to join <strong>${declined.organization_name ?? 'the organization'}</strong>. Its link no longer works.`],
      links: [[await local(instance, '/accept'), 'Your invitations'], [await afterSignIn(instance), `Continue to ${instance.name}`]],
    }))
  }

  app.post('/accept', { schema: formSchema, preHandler: app.csrfProtection }, (req, reply) => answer(req, req.body, reply, true))
  app.post('/accept/decline', { schema: formSchema, preHandler: app.csrfProtection }, (req, reply) => answer(req, req.body, reply, false))

  /** `/account`: the signed-in person's addresses, with a notice or an error from the last form. */
  async function accountForm(reply: FastifyReply, status: number, signedIn: SignedIn, p: { notice?: string; error?: FormError; addValue?: string } = {}): Promise<void> {
    const { instance, user } = signedIn
    const csrf = csrfFor(reply)
    const target = (action: string, id: string) => ({ action, csrf, hidden: { email_address_id: id, instance: instance.id } })
    const addresses = await deps.emailAddresses.listOwn(instance, user.id)
    sendPage(formsFor(reply, instance), status, accountPage({
      app: instance.name, signedInAs: primaryEmail(user), continueUrl: await afterSignIn(instance), ...p,
      add: { action: '/account/add', csrf, hidden: { instance: instance.id } },
      addresses: addresses.map((a) => ({
        email: a.email_address, isPrimary: a.is_primary, isVerified: a.verified_at !== null,
        ...(a.verified_at === null ? { sendCode: target('/account/send-code', a.id), verify: target('/account/verify', a.id) } : {}),
        ...(a.is_primary ? {} : { remove: target('/account/remove', a.id) }),
      })),
    }))
  }

  app.get('/account', { schema: pageSchema }, async (req, reply) => {
    const signedIn = await currentSession(req)
    const instance = await instanceForAccept(req.query.instance, signedIn)
    if (signedIn?.instance.id !== instance.id) return signInFirst(reply, instance, '/account')
    return accountForm(reply, 200, signedIn)
  })

  /** The `/account` forms: each calls the address service as the signed-in person, then shows the page again. */
  const accountAction = (path: string, act: (who: SignedIn, form: FormBody) => Promise<string>) =>
    app.post(path, { schema: formSchema, preHandler: app.csrfProtection }, async (req, reply) => {
      const signedIn = await currentSession(req)
      const instance = await instanceForAccept(req.body.instance, signedIn)
      if (signedIn?.instance.id !== instance.id) return signInFirst(reply, instance, '/account')
      let notice: string
      try {
        notice = await act(signedIn, req.body)
      } catch (err) {
        const { status, ...error } = formError(err)
        return accountForm(reply, status, await currentSession(req) ?? signedIn, { error, addValue: path === '/account/add' ? req.body.email_address : undefined })
      }
      return accountForm(reply, 200, await currentSession(req) ?? signedIn, { notice })
    })

  accountAction('/account/add', async ({ instance, user }, form) => {
    const added = await deps.emailAddresses.addOwn(instance, user.id, form.email_address ?? '')
    await deps.emailAddresses.prepareVerification(instance, user.id, added.id)
    return `We sent a 6-digit code to ${added.email_address}. Enter it below to verify the address.`
  })
  accountAction('/account/send-code', async ({ instance, user }, form) => {
    const address = await deps.emailAddresses.prepareVerification(instance, user.id, form.email_address_id ?? '')
    return `We sent a code to ${address.email_address}.`
  })
  accountAction('/account/verify', async ({ instance, user }, form) => {
    const address = await deps.emailAddresses.attemptVerification(instance, user.id, form.email_address_id ?? '', form.code ?? '')
    return `${address.email_address} is verified.`
  })
  accountAction('/account/remove', async ({ instance, user }, form) => {
    await deps.emailAddresses.removeOwn(instance, user.id, form.email_address_id ?? '')
    return 'The address was removed.'
  })

  if (deps.links) {
    joinPageRoutes(app as unknown as FastifyInstance, {
      links: deps.links, csrfFor, formsFor, local, formError, limit: deps.limits.linkUse, csrfProtection: app.csrfProtection,
    })
  }
}
