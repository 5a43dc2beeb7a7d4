import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { AcceptService, SignedIn } from '../accept/accept.service.js'
import { sessionCookie, signUpCookie } from '../accept/session-cookie.js'
import type { Clock } from '../platform/clock.js'
import { ApiError, notFound, paramError, signedOut } from '../platform/errors.js'
import type { SessionService } from '../sessions/sessions.service.js'
import type { SessionTokenService } from '../sessions/session-tokens.js'
import { newId, randomToken } from '../platform/ids.js'
import { checkMetadataSize } from '../platform/validation.js'
import { checkInput, refuseForbiddenKeys } from '../platform/http.js'
import type { RequestLimits } from '../platform/rate-limit.js'
import { useFrontendConventions } from './frontend.conventions.js'
import { usernameParam } from '../users/usernames.js'
import { DEFAULT_USERNAME_SETTINGS } from '../instance/instance.schemas.js'
import { clientFactsOf } from './client-facts.js'
import {
  AttemptVerificationBody, CreateSignInBody, PrepareVerificationBody, CreateSignUpBody, InstanceQuery, SessionParams, SessionTokenBody, SignInFactorBody, SignInParams, SignUpParams,
  TouchSessionBody, UpdateSignUpBody, codeSignUp, completeSignIn, keptTicketSignUp, ticketSignUp, toFapiClient, toFapiSession, waitingSignIn, type Strategy,
} from './frontend.schemas.js'

interface Deps {
  accept: AcceptService
  clock: Clock
  publicUrl: string
  allowedRedirectOrigins: readonly string[]
  /** Shared with the hosted pages: a code sign-up counts against the same per-IP budget. */
  limits: Pick<RequestLimits, 'signUp'>
  sessions: Pick<SessionService, 'activateOrganization'>
  tokens: Pick<SessionTokenService, 'mintFor'>
}

const organizationNotFound = (param: string) => paramError(404, 'organization_not_found_or_unauthorized', param,
  'Organization not found or unauthorized', 'No organization of this instance has this id (or slug) with the signed-in person as a member.')
const unsupportedFactor = (strategy: string) => paramError(422, 'form_param_value_invalid', 'strategy', 'is invalid',
  `Foyer does not support the ${strategy.slice(0, 100)} strategy: a sign-in's one first factor is its password (attempt_first_factor with strategy=password).`)
const unsupportedVerification = (strategy: string) => paramError(422, 'form_param_value_invalid', 'strategy', 'is invalid',
  `Foyer does not support the ${strategy.slice(0, 100)} strategy: a sign-up's address is verified by its invitation ticket, or else by a code emailed to it (email_code).`)
const missing = (param: string) => paramError(422, 'form_param_missing', param, 'is missing', `${param} must be included.`)
/** A strategy Foyer does not have (social, phone, Web3, passkeys, enterprise SSO…), named in the answer. */
const unsupported = (strategy: string, allowed: string) =>
  paramError(422, 'form_param_value_invalid', 'strategy', 'is invalid', `Foyer does not support the ${strategy.slice(0, 100)} strategy: strategy must be one of: ${allowed}.`)
/** Identifiers Foyer accounts do not have (a username is the instance's to allow, see usernameParam). */
const OTHER_IDENTIFIERS = ['phone_number', 'web3_wallet'] as const
const NO_USERNAMES = { username: DEFAULT_USERNAME_SETTINGS }
function refuseOtherIdentifiers(body: Partial<Record<(typeof OTHER_IDENTIFIERS)[number], string | null>>) {
  for (const param of OTHER_IDENTIFIERS) {
    if (body[param] != null) throw paramError(422, 'form_param_unknown', param, 'is unknown', `Foyer accounts have no ${param}: it is not supported.`)
  }
}

function metadata(raw: unknown): Record<string, unknown> | undefined {
  if (raw == null) return undefined
  let value: unknown = raw
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw)
    } catch {
      value = null
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw paramError(422, 'form_param_format_invalid', 'unsafe_metadata', 'is invalid', 'unsafe_metadata must be a JSON object.')
  }
  // A JSON body was checked by its parser; JSON text inside a form field is checked here.
  refuseForbiddenKeys(value, 'unsafe_metadata')
  // A JSON string parsed here skipped the request's own input checks: NUL or a lone surrogate
  // inside it would only fail at the database.
  checkInput(value, 'unsafe_metadata', 1)
  checkMetadataSize(value as Record<string, unknown>, 'unsafe_metadata')
  return value as Record<string, unknown>
}

/**
 * Clerk's Frontend API, for the custom flows an application builds on its own pages: sign-up
 * with an invitation ticket or an emailed code, sign-in with a password or a ticket, the
 * current Client, sign-out. Public (no secret key): the instance comes from the ticket, the
 * session, or `?instance=ins_…` (the default instance when left out). Registered under the
 * `/v1/client` prefix, so that its CORS and origin rules touch nothing else.
 */
export const frontendRoutes = (deps: Deps): FastifyPluginAsyncTypebox => async (app) => {
  const { accept } = deps
  const cookie = sessionCookie(deps.publicUrl)
  const signUps = signUpCookie(deps.publicUrl)
  await useFrontendConventions(app, deps)

  /** The browser's sign-up secret: the one its cookie already holds, or a new one. */
  const signUpSecret = (request: FastifyRequest) => {
    const held = signUps.read(request)
    return held && /^[A-Za-z0-9]{43}$/.test(held) ? held : randomToken(43)
  }

  const hide = true
  // Sessions live on wall time; sign-up codes expire on their instance's (test) clock.
  const now = () => deps.clock.now()

  /** The cookie's session, if it belongs to the instance the request names (when it names one). */
  async function current(request: FastifyRequest, named: string | undefined): Promise<SignedIn | null> {
    const signedIn = await accept.session(cookie.read(request))
    if (!signedIn || (named && named !== signedIn.instance.id)) return null
    return signedIn
  }

  // Clerk's single-session rule: sign out before signing in or up again.
  async function refuseSignedIn(request: FastifyRequest) {
    if (await accept.session(cookie.read(request))) {
      throw new ApiError(400, 'session_exists', 'You\'re already signed in.', 'You\'re already signed in: sign out first to sign in or up again.')
    }
  }

  async function instanceFor(named: string | undefined) {
    const instance = await accept.resolveInstance(named)
    if (!instance) throw notFound('instance')
    return instance
  }

  const factsOf = clientFactsOf(deps)

  async function clientAfter(request: FastifyRequest, signedIn: SignedIn, extra: { signIn?: unknown; signUp?: unknown; strategy?: Strategy; ended?: boolean }) {
    return toFapiClient(signedIn, await factsOf(request, signedIn, !extra.ended), now(), extra)
  }

  app.get('/', { schema: { hide, querystring: InstanceQuery } }, async (request) => {
    const signedIn = await current(request, request.query.instance)
    if (!signedIn) return { response: null, client: null }
    const client = await clientAfter(request, signedIn, {})
    return { response: client, client }
  })

  // Ends the browser's session: `DELETE /v1/client` (every session of the Client) and
  // `DELETE /v1/client/sessions` (the same, Clerk keeping its client cookie) are one thing here.
  const signOut = async (request: FastifyRequest, reply: FastifyReply) => {
    const signedIn = await current(request, (request.query as InstanceQuery).instance)
    // The cookie's session ends whatever instance the request names: signing out must not
    // leave a live token behind.
    await accept.signOut(cookie.read(request))
    cookie.clear(reply)
    if (!signedIn) return { response: null, client: null }
    return { response: await clientAfter(request, signedIn, { ended: true }), client: null }
  }
  app.delete('/', { schema: { hide, querystring: InstanceQuery } }, signOut)
  app.delete('/sessions', { schema: { hide, querystring: InstanceQuery } }, signOut)

  // `end` signs the cookie's session out; `remove` is its user taking it off the client (Clerk's
  // session.removed). A Foyer client holds one session, so either leaves it empty. Only the
  // cookie's own session can be named: any other id is unknown here.
  const endCurrent = (how: 'ended' | 'removed') => async (request: FastifyRequest, reply: FastifyReply) => {
    const signedIn = await current(request, (request.query as InstanceQuery).instance)
    if (!signedIn || signedIn.session.id !== (request.params as { session_id: string }).session_id) throw notFound('session')
    await accept.signOut(signedIn.session.token, how)
    cookie.clear(reply)
    const facts = await factsOf(request, signedIn, false)
    return { response: toFapiSession(signedIn, facts, now(), how), client: toFapiClient(signedIn, facts, now(), { ended: true }) }
  }
  app.post('/sessions/:session_id/end', { schema: { hide, querystring: InstanceQuery, params: SessionParams } }, endCurrent('ended'))
  app.post('/sessions/:session_id/remove', { schema: { hide, querystring: InstanceQuery, params: SessionParams } }, endCurrent('removed'))

  /**
   * The cookie's live session, which must be the one the path names. Without one, 401
   * signed_out: clerk-js then reloads its Client and, finding no session, signs the page out
   * (a session revoked or ended elsewhere). A live cookie naming another session: 404.
   */
  async function ownSession(request: FastifyRequest, named: string | undefined, sessionId: string): Promise<SignedIn> {
    const signedIn = await current(request, named)
    if (!signedIn) throw signedOut()
    if (signedIn.session.id !== sessionId) throw notFound('session')
    return signedIn
  }

  // clerk-js's setActive and its focus handler: the session's active organization, by id or
  // slug ('' for none), if the person is a member of it.
  app.post('/sessions/:session_id/touch', {
    schema: { hide, querystring: InstanceQuery, params: SessionParams, body: TouchSessionBody },
  }, async (request) => {
    let signedIn = await ownSession(request, request.query.instance, request.params.session_id)
    const organization = request.body.active_organization_id
    if (organization != null && organization !== (signedIn.session.activeOrganizationId ?? '')) {
      if (!await deps.sessions.activateOrganization(signedIn.instance, signedIn.session.id, organization)) throw organizationNotFound('active_organization_id')
      signedIn = await accept.session(signedIn.session.token) ?? signedIn
    }
    const facts = await factsOf(request, signedIn)
    return { response: toFapiSession(signedIn, facts, now()), client: toFapiClient(signedIn, facts, now()) }
  })

  // A session token for clerk-js (it writes it as the application's __session cookie), for
  // the organization it names ('' for none) or else the session's active one.
  app.post('/sessions/:session_id/tokens', {
    schema: { hide, querystring: InstanceQuery, params: SessionParams, body: SessionTokenBody },
  }, async (request) => {
    const signedIn = await ownSession(request, request.query.instance, request.params.session_id)
    const organization = request.body.organization_id
    const minted = await deps.tokens.mintFor(signedIn.instance, { id: signedIn.session.id }, {
      // The page's origin; the Origin check let only an allowed one this far.
      azp: request.headers.origin ?? null,
      ...(organization == null ? {} : { organization: { id: organization === '' ? null : organization } }),
    })
    if (!minted) throw signedOut()
    if (organization && minted.session.org_id !== organization) throw organizationNotFound('organization_id')
    // Top-level, not wrapped in {response, client}: Token.create reads `jwt` from the body itself.
    return { object: 'token', jwt: minted.jwt }
  })

  app.post('/sign_ups', { schema: { hide, querystring: InstanceQuery, body: CreateSignUpBody } }, async (request, reply) => {
    await refuseSignedIn(request)
    const body = request.body
    refuseOtherIdentifiers(body)
    // Refused first, like the other identifiers, where the instance has no usernames (a
    // ticket's instance is the ticket's: checked as the sign-up starts).
    if (body.ticket == null && body.username) usernameParam(await accept.resolveInstance(request.query.instance) ?? NO_USERNAMES, body.username)
    const unsafeMetadata = metadata(body.unsafe_metadata)
    if (body.strategy === 'ticket' || (body.strategy == null && body.ticket != null)) {
      if (!body.ticket) throw missing('ticket')
      if (body.password == null) {
        // clerk-js sends the ticket alone first, and the password later with PATCH: the
        // sign-up waits, with the address verified by the ticket, which stays unused until then.
        const secret = signUpSecret(request)
        const started = await accept.startTicketSignUp({
          ticket: body.ticket, browserSecret: secret, emailAddress: body.email_address, instanceId: request.query.instance,
          firstName: body.first_name, lastName: body.last_name, username: body.username, unsafeMetadata,
        })
        signUps.set(reply, secret)
        // No session yet, so no Client (clerk-js keeps the attempt it holds).
        return { response: keptTicketSignUp(started.attempt, started.invitation), client: null }
      }
      const done = await accept.signUpWithTicket({
        ticket: body.ticket, password: body.password, firstName: body.first_name, lastName: body.last_name, username: body.username, unsafeMetadata,
        emailAddress: body.email_address, instanceId: request.query.instance,
      })
      cookie.set(reply, done.session.token)
      const signUp = ticketSignUp(newId('sua', now()), done, now())
      return { response: signUp, client: await clientAfter(request, done, { signUp, strategy: 'ticket' }) }
    }
    if (body.strategy != null && body.strategy !== 'email_code') throw unsupported(body.strategy, 'ticket, email_code')
    if (body.ticket != null) throw paramError(422, 'form_param_value_invalid', 'ticket', 'is invalid', 'A ticket goes with strategy=ticket.')
    if (body.email_address == null) throw missing('email_address')
    if (body.password == null) throw missing('password')
    const instance = await instanceFor(request.query.instance)
    // Each one emails a code to any address asked for: limited per IP, as on the hosted page.
    await deps.limits.signUp(request)
    const { attemptId } = await accept.startSignUp({
      instance, emailAddress: body.email_address, password: body.password, firstName: body.first_name, lastName: body.last_name, username: body.username, unsafeMetadata,
    })
    const attempt = (await accept.findSignUpAttempt(attemptId))!
    // No session yet, so no Client: the sign-up is finished by its id and the emailed code.
    return { response: codeSignUp(attempt, deps.clock.now(instance)), client: null }
  })

  // clerk-js's signUp.update (sent as POST ?_method=PATCH): names, unsafe metadata and the
  // password of a ticket sign-up; with the password it completes, as one request with all of
  // them would have.
  app.patch('/sign_ups/:sign_up_id', { schema: { hide, querystring: InstanceQuery, params: SignUpParams, body: UpdateSignUpBody } }, async (request, reply) => {
    await refuseSignedIn(request)
    const body = request.body
    refuseOtherIdentifiers(body)
    if (body.strategy != null && body.strategy !== 'ticket') throw unsupported(body.strategy, 'ticket')
    const done = await accept.completeTicketSignUp({
      attemptId: request.params.sign_up_id, browserSecret: signUps.read(request), instanceId: request.query.instance, password: body.password, emailAddress: body.email_address,
      firstName: body.first_name, lastName: body.last_name, username: body.username, unsafeMetadata: metadata(body.unsafe_metadata),
    })
    if (!done.signedIn) return { response: keptTicketSignUp(done.attempt, done.invitation), client: null }
    cookie.set(reply, done.signedIn.session.token)
    const signUp = keptTicketSignUp(done.attempt, done.invitation, done.signedIn.user)
    return { response: signUp, client: await clientAfter(request, done.signedIn, { signUp, strategy: 'ticket' }) }
  })

  // prepareEmailAddressVerification({strategy: 'email_code'}): the code emailed at the start
  // stands if it is fresh; otherwise a new one is emailed (see renewSignUpCode).
  app.post('/sign_ups/:sign_up_id/prepare_verification', {
    schema: { hide, querystring: InstanceQuery, params: SignUpParams, body: PrepareVerificationBody },
  }, async (request) => {
    await refuseSignedIn(request)
    if (request.body.strategy !== 'email_code') throw unsupportedVerification(request.body.strategy)
    const { attempt, instance } = await accept.renewSignUpCode({ attemptId: request.params.sign_up_id, instanceId: request.query.instance })
    return { response: codeSignUp(attempt, deps.clock.now(instance)), client: null }
  })

  app.post('/sign_ups/:sign_up_id/attempt_verification', {
    schema: { hide, querystring: InstanceQuery, params: SignUpParams, body: AttemptVerificationBody },
  }, async (request, reply) => {
    await refuseSignedIn(request)
    if (request.body.strategy !== 'email_code') throw unsupportedVerification(request.body.strategy)
    if (!request.body.code) throw missing('code')
    // The sign-up's own instance; one named by the request must be that one.
    const attempt = await accept.findSignUpAttempt(request.params.sign_up_id)
    if (!attempt || (request.query.instance && request.query.instance !== attempt.instance_id)) throw notFound('sign-up')
    const instance = await accept.resolveInstance(attempt.instance_id)
    if (!instance) throw notFound('sign-up')
    const done = await accept.verifySignUp({ instance, attemptId: attempt.id, code: request.body.code })
    cookie.set(reply, done.session.token)
    const signUp = codeSignUp(done.attempt, deps.clock.now(instance), done.session.id)
    return { response: signUp, client: await clientAfter(request, done, { signUp, strategy: 'email_code' }) }
  })

  app.post('/sign_ins', { schema: { hide, querystring: InstanceQuery, body: CreateSignInBody } }, async (request, reply) => {
    await refuseSignedIn(request)
    const body = request.body
    let done: SignedIn
    let strategy: 'password' | 'ticket'
    // A ticket alone (no identifier) is the ticket strategy, whether or not it is named.
    if (body.strategy === 'ticket' || (body.strategy == null && body.ticket != null && body.identifier == null)) {
      if (!body.ticket) throw missing('ticket')
      done = await accept.signInWithTicket(body.ticket, { instanceId: request.query.instance })
      strategy = 'ticket'
    } else {
      if (body.strategy != null && body.strategy !== 'password') throw unsupported(body.strategy, 'password, ticket')
      if (body.identifier == null) throw missing('identifier')
      if (body.password == null) {
        if (body.ticket != null) throw missing('password')
        // signIn.create({identifier}): the sign-in waits for its password (attempt_first_factor).
        const attempt = await accept.startSignIn({ instance: await instanceFor(request.query.instance), identifier: body.identifier })
        return { response: waitingSignIn(attempt), client: null }
      }
      done = await accept.signIn({
        instance: await instanceFor(request.query.instance), identifier: body.identifier, password: body.password, ticket: body.ticket, ip: request.ip,
      })
      strategy = 'password'
    }
    cookie.set(reply, done.session.token)
    const signIn = completeSignIn(newId('sia', now()), done, strategy, now())
    return { response: signIn, client: await clientAfter(request, done, { signIn, strategy }) }
  })

  // attemptFirstFactor({strategy: 'password', password}) of a sign-in that named its identifier.
  app.post('/sign_ins/:sign_in_id/attempt_first_factor', {
    schema: { hide, querystring: InstanceQuery, params: SignInParams, body: SignInFactorBody },
  }, async (request, reply) => {
    await refuseSignedIn(request)
    if (request.body.strategy !== 'password') throw unsupportedFactor(request.body.strategy)
    if (request.body.password == null) throw missing('password')
    const { attempt, signedIn } = await accept.attemptSignInPassword({
      attemptId: request.params.sign_in_id, instanceId: request.query.instance, password: request.body.password, ip: request.ip,
    })
    cookie.set(reply, signedIn.session.token)
    const signIn = completeSignIn(attempt.id, signedIn, 'password', now(), attempt.abandon_at)
    return { response: signIn, client: await clientAfter(request, signedIn, { signIn, strategy: 'password' }) }
  })

  // A password needs no preparing, and Foyer has no other first factor nor any second factor:
  // each of these names the strategy it cannot do.
  app.post('/sign_ins/:sign_in_id/prepare_first_factor', {
    schema: { hide, querystring: InstanceQuery, params: SignInParams, body: SignInFactorBody },
  }, async (request) => {
    throw request.body.strategy === 'password'
      ? paramError(422, 'form_param_value_invalid', 'strategy', 'is invalid', 'A password needs no preparing: send it with attempt_first_factor.')
      : unsupportedFactor(request.body.strategy)
  })
  for (const action of ['prepare_second_factor', 'attempt_second_factor']) {
    app.post(`/sign_ins/:sign_in_id/${action}`, { schema: { hide, querystring: InstanceQuery, params: SignInParams } }, async () => {
      throw paramError(422, 'form_param_value_invalid', 'strategy', 'is invalid',
        'Foyer has no second factors (no TOTP, backup codes, phone or email codes): a sign-in is complete after its password.')
    })
  }
}
