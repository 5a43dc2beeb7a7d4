import { isUniqueViolation, type Db, type Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId, randomToken } from '../platform/ids.js'
import { deriveCode, newNonce, sameSecret, sha256 } from '../platform/secrets.js'
import { ApiError, notFound, paramError } from '../platform/errors.js'
import { isAllowedOrigin, mailboxOf, normalizeEmail } from '../platform/validation.js'
import { redirectOriginsOf, toInstance, type Instance } from '../instance/instance.schemas.js'
import type { InstanceStore } from '../instance/instance.store.js'
import { effectiveStatus, toClerkInvitation, type InvitationRow } from '../invitations/invitations.schemas.js'
import type { TicketService } from '../tickets/tickets.service.js'
import type { UserRow, UserStore } from '../users/users.store.js'
import { queuedUserEvent, userCreatedEvent } from '../users/users.events.js'
import { queuedSessionEvent } from '../sessions/sessions.events.js'
import type { SessionRecord } from '../sessions/sessions.store.js'
import type { InvitationStore } from '../invitations/invitations.store.js'
import type { OutboxItem, OutboxStore } from '../platform/outbox/outbox.store.js'
import { checkPassword, dummyHash, hashPassword, needsRehash, verifyPassword } from '../users/passwords.js'
import { assertMaySignIn } from '../users/sign-in-gate.js'
import type { RestrictionStore } from '../restrictions/restrictions.store.js'
import { refuseBlocked } from '../restrictions/restrictions.service.js'
import { isUsernameViolation, usernameExists, usernameParam } from '../users/usernames.js'
import type { AcceptStore, SignInAttemptRow, SignUpAttemptRow, TicketSignUpRow } from './accept.store.js'
import { isSignInToken, signInTokenHash } from '../sign-in-tokens/sign-in-tokens.service.js'
import { signInTokenStore } from '../sign-in-tokens/sign-in-tokens.store.js'
import { CODE_MAX_FAILURES, CODE_RESEND_INTERVAL_MS, CODE_TTL_MS, createCodeEmails, type CodeRecipient } from './code-emails.js'
import { createSignInThrottle, memoryCounter, type SignInThrottle } from './sign-in-throttle.js'
import { effectiveOrgInvitationStatus } from '../organizations/org-invitations.schemas.js'
import { createDomainStore } from '../organizations/domains.store.js'
import { addMember, createOrgAcceptService, isInvitee, markAccepted, type OrganizationDeps } from './org-accept.service.js'
import type { Accepted, SignedIn, TicketInvitation, TicketState, UserFacts } from './accept.types.js'
import { actAsUser } from '../platform/audit/audit.js'

export type { Accepted, SignedIn, TicketInvitation, TicketState, UserFacts } from './accept.types.js'

interface Deps {
  db: Db
  clock: Clock
  serverSecret: Buffer
  publicUrl: string
  /** FOYER_ALLOWED_REDIRECT_ORIGINS: an invitation's redirect_url is followed only while allowed. */
  allowedRedirectOrigins: readonly string[]
  store: AcceptStore
  instances: InstanceStore
  users: UserStore
  invitations: InvitationStore
  outbox: OutboxStore
  tickets: TicketService
  /** The allowlist (sign-up without an invitation in restricted mode) and the blocklist (no sign-up, no sign-in). */
  restrictions: RestrictionStore
  /** Invitations into organizations, redeemed through the same link and flows. */
  organizations: OrganizationDeps
  /** Runs in the transaction that creates a user (verified domains enrol them there). */
  onUserCreated?: (tx: Queryable, instance: Instance, user: { id: string; emailAddress: string }) => Promise<void>
  /** Counts failed sign-ins; in this process when not given. */
  throttle?: SignInThrottle
}

/** Memberships a Frontend API User carries (the Backend API's page limit); `/v1/me/organization_memberships` pages through more. */
const MEMBERSHIPS_ON_USER = 500

export const SESSION_TTL_MS = 7 * 24 * 60 * 60 * 1000
/** How long a ticket sign-up waits for its password (Clerk abandons an unfinished sign-up after a day). */
const TICKET_SIGN_UP_TTL_MS = 24 * 60 * 60 * 1000
/** How long a sign-in waits for its password (Clerk abandons it after a day as well). */
const SIGN_IN_ATTEMPT_TTL_MS = 24 * 60 * 60 * 1000
const CODE_GUESS_WINDOW_MS = 60 * 60 * 1000
const CODE_GUESSES_PER_WINDOW = 10
export { CODE_EMAILS_PER_WINDOW } from './code-emails.js'

const identifierExists = (param = 'email_address') =>
  paramError(422, 'form_identifier_exists', param, 'That email address is taken. Please try another.',
    'An account with this email address already exists: sign in instead.')

const ticketInvalid = () => paramError(400, 'ticket_invalid', 'ticket', 'is invalid',
  'This invitation link is no longer valid: it was revoked or has already been used.')
const ticketExpired = () => paramError(400, 'ticket_expired', 'ticket', 'has expired',
  'This invitation has expired. Ask for a new one, or sign up without it.')

type Usable = Extract<TicketState, { kind: 'usable' }>

/** The ticket's invitation if it can still be accepted; otherwise the error saying why not. */
function usableOrThrow(state: TicketState): Usable {
  if (state.kind === 'usable') return state
  throw state.kind === 'expired' ? ticketExpired() : ticketInvalid()
}

/**
 * Turning invitations into users and sessions: the link, sign-up with a ticket (which
 * consumes it, exactly once), sign-up with an emailed code, sign-in and sessions. The hosted
 * pages and the Frontend API are two faces of this one service.
 */
export function createAcceptService(deps: Deps) {
  const { db, clock, store, users, tickets } = deps
  const throttle = deps.throttle ?? createSignInThrottle({ counter: memoryCounter(() => clock.now()) })

  async function instanceById(q: Queryable, id: string): Promise<Instance | null> {
    const row = await deps.instances.findById(q, id)
    return row ? toInstance(row) : null
  }

  /**
   * The instance a public request acts for: the one named (`ins_…`), or the default one.
   * Hosted pages and the Frontend API take it from a ticket first; this is for the rest.
   */
  async function resolveInstance(instanceId?: string | null): Promise<Instance | null> {
    if (instanceId) return instanceById(db, instanceId)
    const row = await deps.instances.findDefault(db)
    return row ? toInstance(row) : null
  }

  async function resolveTicket(ticket: string | null | undefined, q: Queryable = db): Promise<TicketState> {
    // Tickets are base64url HMACs; anything else cannot be one, and need not cost a query.
    if (!ticket || ticket.length > 100 || !/^[A-Za-z0-9_-]+$/.test(ticket)) return { kind: 'unknown' }
    return resolveTicketHash(tickets.hash(ticket), q)
  }

  /** resolveTicket for a ticket known by its hash only (a ticket sign-up keeps nothing else). */
  async function resolveTicketHash(hash: string, q: Queryable = db, recheck = true): Promise<TicketState> {
    // Both kinds of invitation share the link; a ticket's hash is unique across both.
    const app = await store.findInvitationByTicketHash(q, hash)
    const found: TicketInvitation | null = app
      ? { target: 'application', invitation: app }
      : await deps.organizations.invitations.findByTicketHash(q, hash).then((org) => org && { target: 'organization' as const, invitation: org })
    if (!found) return { kind: 'unknown' }
    const instance = await instanceById(q, found.invitation.instance_id)
    if (!instance) return { kind: 'unknown' }
    const now = clock.now(instance)
    const status = found.target === 'application' ? effectiveStatus(found.invitation, now) : effectiveOrgInvitationStatus(found.invitation, now)
    if (status !== 'pending') return { kind: status, instance, ...found }
    const existingUser = await users.findByVerifiedEmail(q, instance.id, found.invitation.email_address)
    // A racing sign-up with this ticket may have committed between the two reads: its user is
    // found, though the invitation read first was still pending. Read again, so that the loser
    // hears the ticket was used rather than that the address is taken.
    if (existingUser && recheck) return resolveTicketHash(hash, q, false)
    return { kind: 'usable', instance, ...found, existingUser }
  }

  /** Where a hosted page lives for an instance: the default instance's pages need no parameter. */
  async function pageUrl(instance: Instance, path: string, params: Record<string, string> = {}): Promise<string> {
    const url = new URL(path, deps.publicUrl)
    const fallback = await deps.instances.findDefault(db)
    if (fallback?.id !== instance.id) url.searchParams.set('instance', instance.id)
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
    return url.href
  }

  /**
   * An invitation's redirect_url if its origin is still allowed for the instance, else null. It
   * was checked when the invitation was made, but an origin the operator removed since (one
   * that was compromised, say) must not receive the ticket or the person.
   */
  function allowedRedirect(instance: Instance, url: string | null): string | null {
    if (!url) return null
    return isAllowedOrigin(new URL(url), redirectOriginsOf(instance, deps.allowedRedirectOrigins)) ? url : null
  }

  /**
   * Where following an invitation link leads (README, "Hosted pages"). Opening
   * it changes nothing: mail scanners and link previews open links too. Someone already signed
   * in as the address an organization invitation was sent to is taken to `/accept`, where
   * they say yes or no; `sessionToken` is the browser's session cookie, if it sent one.
   */
  async function linkTarget(ticket: string, sessionToken?: string | null): Promise<{ redirect: string } | { status: 404 | 410; state: TicketState }> {
    const state = await resolveTicket(ticket)
    const target = async (inv: { redirect_url: string | null }, instance: Instance, page: string, params: Record<string, string>) => {
      const redirect = allowedRedirect(instance, inv.redirect_url)
      if (!redirect) return pageUrl(instance, page, params)
      const url = new URL(redirect)
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
      return url.href
    }
    switch (state.kind) {
      case 'unknown': return { status: 404, state }
      case 'revoked':
      case 'declined': return { status: 410, state }
      case 'expired': return { redirect: await pageUrl(state.instance, '/sign-up') }
      case 'accepted': return { redirect: await target(state.invitation, state.instance, '/sign-in', { __clerk_status: 'complete' }) }
      case 'usable': {
        if (state.target === 'organization' && state.existingUser && sessionToken) {
          const signedIn = await session(sessionToken)
          if (signedIn && isInvitee(signedIn, state.instance.id, state.invitation.email_address)) {
            return { redirect: await pageUrl(state.instance, '/accept', { __clerk_ticket: ticket }) }
          }
        }
        const status = state.existingUser ? 'sign_in' : 'sign_up'
        return { redirect: await target(state.invitation, state.instance, status === 'sign_in' ? '/sign-in' : '/sign-up', { __clerk_ticket: ticket, __clerk_status: status }) }
      }
    }
  }

  /** Whether the blocklist holds any of the user's addresses (or their domains). */
  async function isBlocked(q: Queryable, instance: Instance, user: UserRow): Promise<boolean> {
    for (const { email_address } of user.email_addresses) {
      if (await deps.restrictions.isListed(q, instance.id, 'blocklist', email_address)) return true
    }
    return false
  }

  async function startSession(q: Queryable, instance: Instance, user: UserRow, activeOrganizationId: string | null = null): Promise<SignedIn['session']> {
    // Every sign-in and sign-up ends here: the one place a banned, locked or blocklisted user
    // is refused, with the row as committed (a ban racing this sign-in waits, then revokes this session).
    const standing = await users.standing(q, instance.id, user.id)
    if (standing) assertMaySignIn({ ...standing, blocked: await isBlocked(q, instance, user) }, clock.now(instance))
    // Sessions live on wall time: an instance's test clock moves invitations' expiry, not
    // how long someone stays signed in.
    const now = clock.now()
    const token = randomToken(43)
    const id = newId('sess', now)
    const expiresAt = now + SESSION_TTL_MS
    const active = await store.insertSession(q, { id, instanceId: instance.id, userId: user.id, tokenHash: sha256(token), expiresAt, now, activeOrganizationId })
    const row: SessionRecord = { id, instance_id: instance.id, user_id: user.id, status: 'active', expires_at: expiresAt, last_active_at: now, created_at: now, updated_at: now }
    await deps.outbox.enqueue(q, [queuedSessionEvent('session.created', row, user, now)], now)
    return { id, token, expiresAt, createdAt: now, lastActiveAt: now, activeOrganizationId: active }
  }

  function acceptedEvent(instance: Instance, invitation: InvitationRow, now: number): OutboxItem {
    // Like every invitation event it omits `url`; delivery derives it from the current row.
    const { url: _url, ...data } = toClerkInvitation({ ...invitation, status: 'accepted', updated_at: now }, now, '')
    return { id: newId('msg', now), kind: 'webhook', topic: 'invitation.accepted', payload: { data, object: 'event', type: 'invitation.accepted', timestamp: now, instance_id: instance.id } }
  }

  /**
   * Completes sign-up with an invitation ticket: the user gets the invited address, verified,
   * and the invitation's public metadata; the invitation turns accepted; a session starts.
   * One transaction, guarded by the invitation's row: of two completions racing with one
   * ticket, exactly one creates a user and the other gets `ticket_invalid`.
   *
   * The address is always the invitation's: an `emailAddress` sent along must be that one
   * (422 otherwise), so a ticket never vouches for another address. `instanceId`, when the
   * caller names the instance it acts for, must be the ticket's (`ticket_invalid` otherwise).
   */
  async function signUpWithTicket(input: {
    ticket: string; password: string; firstName?: string | null; lastName?: string | null; username?: string | null; unsafeMetadata?: Record<string, unknown>
    emailAddress?: string | null; instanceId?: string | null
  }): Promise<SignedIn & Accepted> {
    const state = usableOrThrow(await resolveTicket(input.ticket))
    checkTicketSignUp(state, input)
    return createTicketUser(state, tickets.hash(input.ticket), { ...input, username: await freeUsername(state.instance, input.username, true) })
  }

  /**
   * The username a sign-up gives (see usernameParam), checked as the user's would be and not
   * taken yet; `creating` when the user is created now (a required one must be given then).
   */
  async function freeUsername(instance: Instance, value: string | null | undefined, creating: boolean): Promise<string | null> {
    const username = usernameParam(instance, value, creating) ?? null
    if (username !== null && await users.findByUsername(db, instance.id, username)) throw usernameExists(username)
    return username
  }

  /** A unique violation at a sign-up's insert: the username's, or else the address's. */
  const takenAtInsert = (err: unknown, username: string | null | undefined, param?: string) =>
    username && isUsernameViolation(err) ? usernameExists(username) : identifierExists(param)

  /** What a ticket sign-up must meet before anything is kept: the instance named, the invited address, no account yet. */
  function checkTicketSignUp(state: Usable, input: { emailAddress?: string | null; instanceId?: string | null }) {
    if (input.instanceId && input.instanceId !== state.instance.id) throw ticketInvalid()
    if (input.emailAddress != null && input.emailAddress.trim().toLowerCase() !== state.invitation.email_address) {
      throw paramError(422, 'form_param_value_invalid', 'email_address', 'must be the invited address',
        'Signing up with an invitation uses the address it was sent to; leave email_address out, or send that address.')
    }
    if (state.existingUser) throw identifierExists('ticket')
  }

  /**
   * The user, acceptance and session of a ticket sign-up (see signUpWithTicket). `completing`
   * runs in the same transaction once they exist, and may refuse (undoing them all).
   */
  async function createTicketUser(state: Usable, ticketHash: string, input: {
    password: string; firstName?: string | null; lastName?: string | null; username: string | null; unsafeMetadata?: Record<string, unknown>
  }, completing?: (tx: Queryable, created: { userId: string; sessionId: string }) => Promise<void>): Promise<SignedIn & Accepted> {
    checkPassword(input.password)
    const passwordHash = await hashPassword(input.password)
    const { instance } = state
    const now = clock.now(instance)
    try {
      return await db.transaction(async (tx) => {
        const userId = newId('user', now)
        actAsUser(userId)
        const refused = async () => {
          const again = await resolveTicketHash(ticketHash, tx)
          return again.kind === 'expired' ? ticketExpired() : ticketInvalid()
        }
        // The invitation turns accepted first: that guarded update is what makes one of two
        // racing completions win. The user follows, then (for an organization) the membership.
        const accepted = state.target === 'application'
          ? { target: state.target, row: await deps.invitations.accept(tx, instance.id, state.invitation.id, state.invitation.ticket_hash, userId, now, clock.now(), [acceptedEvent(instance, state.invitation, now)]) }
          : { target: state.target, row: await markAccepted(deps.organizations, clock, tx, instance, state.invitation, userId, now) }
        if (!accepted.row) throw await refused()
        const user = await users.insert(tx, {
          id: userId, instanceId: instance.id, emailId: newId('idn', now), emailAddress: state.invitation.email_address, verification: 'ticket',
          passwordHash, firstName: input.firstName ?? null, lastName: input.lastName ?? null, username: input.username,
          // An application invitation's public metadata is the user's; an organization
          // invitation's is the membership's (below), as in Clerk.
          publicMetadata: state.target === 'application' ? state.invitation.public_metadata : {}, unsafeMetadata: input.unsafeMetadata ?? {}, lastSignInAt: now, now,
        })
        await deps.outbox.enqueue(tx, [queuedUserEvent(userCreatedEvent(user, instance, now), clock.now())], clock.now())
        const membership = accepted.target === 'organization' ? await addMember(deps.organizations, tx, instance, accepted.row!, user.id, now) : null
        await deps.onUserCreated?.(tx, instance, { id: user.id, emailAddress: state.invitation.email_address })
        const organizationId = state.target === 'organization' ? state.invitation.organization_id : null
        const session = await startSession(tx, instance, user, organizationId)
        await completing?.(tx, { userId: user.id, sessionId: session.id })
        return { instance, user, invitation: accepted.row!, membership, session }
      })
    } catch (err) {
      // Someone signed up with this address (or username) between the check and the insert.
      if (isUniqueViolation(err)) throw takenAtInsert(err, input.username, 'ticket')
      throw err
    }
  }

  /**
   * Starts a sign-up with an invitation ticket whose password comes later (clerk-js sends the
   * ticket alone first, then the password with PATCH). It checks now what completing would:
   * the ticket is usable, for the instance named and the address sent, and the address has no
   * account yet; then it keeps the attempt with the ticket's hash. Nothing is accepted and no
   * one is created: the ticket stays usable until the sign-up completes
   * (completeTicketSignUp). `browserSecret` is the secret of the browser's sign-up cookie,
   * kept hashed, which completing it must show again.
   */
  async function startTicketSignUp(input: {
    ticket: string; browserSecret: string; emailAddress?: string | null; instanceId?: string | null
    firstName?: string | null; lastName?: string | null; username?: string | null; unsafeMetadata?: Record<string, unknown>
  }): Promise<{ attempt: TicketSignUpRow; invitation: TicketInvitation }> {
    const state = usableOrThrow(await resolveTicket(input.ticket))
    checkTicketSignUp(state, input)
    const username = await freeUsername(state.instance, input.username, false)
    const now = clock.now(state.instance)
    const attempt = {
      id: newId('sua', now), instance_id: state.instance.id, ticket_hash: tickets.hash(input.ticket), browser_hash: sha256(input.browserSecret),
      email_address: state.invitation.email_address, first_name: input.firstName ?? null, last_name: input.lastName ?? null, username,
      unsafe_metadata: input.unsafeMetadata ?? {}, abandon_at: now + TICKET_SIGN_UP_TTL_MS, created_at: now,
    }
    await store.insertTicketSignUp(db, attempt)
    return { attempt: { ...attempt, status: 'pending', created_user_id: null, created_session_id: null, updated_at: now }, invitation: state }
  }

  /**
   * Updates a ticket sign-up started by startTicketSignUp and, given a password, completes it
   * exactly as signUpWithTicket would have: user, acceptance and session in one transaction,
   * the sign-up marked complete in it. Names and unsafe metadata left out keep what the start
   * gave. Refused: a sign-up that is unknown, of another instance than the one named,
   * started in another browser, or abandoned (404); one already complete (400 ticket_invalid);
   * a sign-up waiting for its emailed code instead (422 naming sign_up_id); a ticket revoked,
   * used or expired meanwhile (ticket_invalid / ticket_expired).
   */
  async function completeTicketSignUp(input: {
    attemptId: string; browserSecret: string | null; instanceId?: string | null; password?: string | null; emailAddress?: string | null
    firstName?: string | null; lastName?: string | null; username?: string | null; unsafeMetadata?: Record<string, unknown>
  }): Promise<{ attempt: TicketSignUpRow; invitation: TicketInvitation; signedIn: (SignedIn & Accepted) | null }> {
    const codeSignUp = await store.findSignUpAttempt(db, input.attemptId)
    if (codeSignUp && (!input.instanceId || input.instanceId === codeSignUp.instance_id)) {
      throw paramError(422, 'form_param_value_invalid', 'sign_up_id', 'is invalid',
        'A sign-up waiting for its emailed code takes no changes: complete it with attempt_verification.')
    }
    const found = await store.findTicketSignUp(db, input.attemptId)
    if (!found || (input.instanceId && input.instanceId !== found.instance_id)
      || !input.browserSecret || !sameSecret(sha256(input.browserSecret), found.browser_hash)) {
      throw new ApiError(404, 'resource_not_found', 'not found', 'No sign-up with this id was started in this browser.')
    }
    if (found.status === 'complete') {
      throw paramError(400, 'ticket_invalid', 'ticket', 'is invalid', 'This sign-up is complete already: its invitation has been used. Sign in instead.')
    }
    const state = usableOrThrow(await resolveTicketHash(found.ticket_hash))
    if (state.instance.id !== found.instance_id) throw ticketInvalid()
    if (found.abandon_at <= clock.now(state.instance)) {
      throw new ApiError(404, 'resource_not_found', 'not found', 'This sign-up was abandoned: start again from the invitation link.')
    }
    checkTicketSignUp(state, input)
    const change = {
      firstName: input.firstName ?? found.first_name, lastName: input.lastName ?? found.last_name, unsafeMetadata: input.unsafeMetadata ?? found.unsafe_metadata,
      username: await freeUsername(state.instance, input.username === undefined ? found.username : input.username, input.password != null),
    }
    const alreadyDone = () => paramError(400, 'ticket_invalid', 'ticket', 'is invalid', 'This sign-up was completed meanwhile: its invitation has been used.')
    if (input.password == null) {
      const updated = await store.updateTicketSignUp(db, found.id, change, clock.now(state.instance))
      if (!updated) throw alreadyDone()
      return { attempt: updated, invitation: state, signedIn: null }
    }
    let completed: TicketSignUpRow | null = null
    const signedIn = await createTicketUser(state, found.ticket_hash, { ...change, password: input.password }, async (tx, created) => {
      completed = await store.completeTicketSignUp(tx, found.id, { ...created, ...change }, clock.now(state.instance))
      if (!completed) throw alreadyDone()
    })
    return { attempt: completed!, invitation: state, signedIn }
  }

  /**
   * Signs in with email address (or username) and password; with a ticket (an application
   * invitation to an address that has meanwhile got an account) it also accepts the
   * invitation. Unknown identifier and wrong password take the same time.
   *
   * Throttled per account and, given `ip`, per client IP: past the limit, 429
   * `too_many_requests` with a Retry-After header, before any password is checked.
   */
  async function signIn(input: {
    instance: Instance; identifier: string; password: string; ticket?: string | null; ip?: string | null
    completing?: (tx: Queryable, sessionId: string) => Promise<void>
  }): Promise<SignedIn & Partial<Accepted>> {
    const { instance } = input
    const identifier = input.identifier.trim().toLowerCase()
    const attempt = await throttle.begin({ instanceId: instance.id, identifier, ip: input.ip })
    // Clerk signs a person in by any of their verified addresses (an unverified one proves
    // nothing), or by their username where the instance has usernames: one never holds an @.
    const user = instance.username.enabled && !identifier.includes('@')
      ? await users.findByUsername(db, instance.id, identifier)
      : await users.findByVerifiedEmail(db, instance.id, identifier)
    // Refused before the password is compared: guesses at a locked account learn nothing.
    if (user) assertMaySignIn(user, clock.now(instance))
    const ok = await verifyPassword(input.password, user?.password_hash ?? dummyHash())
    if (!user) throw paramError(422, 'form_identifier_not_found', 'identifier', 'Couldn\'t find your account.', 'No account has this identifier.')
    if (!ok) {
      const now = clock.now(instance)
      const { enabled, max_attempts, duration_in_minutes } = instance.userLockout
      await users.countFailedSignIn(db, instance.id, user.id, enabled ? max_attempts : null, now + duration_in_minutes * 60_000, now)
      throw paramError(422, 'form_password_incorrect', 'password', 'Password is incorrect. Try again, or use another method.', 'The password is incorrect.')
    }
    await attempt.succeeded()
    // An imported digest (bcrypt, argon2id, argon2i) is replaced by Foyer's own once the password is known.
    if (needsRehash(user.password_hash)) {
      await users.rehashPassword(db, instance.id, user.id, user.password_hash!, await hashPassword(input.password))
    }
    return completeSignIn(instance, user, input.ticket ?? null, input.completing)
  }

  /**
   * Starts a sign-in that names its identifier only (clerk-js's `signIn.create({identifier})`):
   * it waits for its password (attemptSignInPassword). Nothing is looked up yet, so starting
   * one tells no one whether the address has an account.
   */
  async function startSignIn(input: { instance: Instance; identifier: string }): Promise<SignInAttemptRow> {
    const now = clock.now()
    const row = {
      id: newId('sia', now), instance_id: input.instance.id, identifier: input.identifier.trim().toLowerCase(),
      abandon_at: now + SIGN_IN_ATTEMPT_TTL_MS, created_at: now,
    }
    await store.insertSignInAttempt(db, row)
    return { ...row, status: 'needs_first_factor', created_session_id: null, updated_at: now }
  }

  /**
   * The password of a sign-in started by startSignIn: signs in as signIn does (throttled, the
   * same refusals), and completes the attempt in the session's transaction. Refused: an
   * attempt unknown, of another instance than the one named, or abandoned (404); one complete
   * already (400 verification_already_verified).
   */
  async function attemptSignInPassword(input: { attemptId: string; instanceId?: string | null; password: string; ip?: string | null }): Promise<{ attempt: SignInAttemptRow; signedIn: SignedIn }> {
    const found = await store.findSignInAttempt(db, input.attemptId)
    if (!found || (input.instanceId && input.instanceId !== found.instance_id) || found.abandon_at <= clock.now()) {
      throw new ApiError(404, 'resource_not_found', 'not found', 'No sign-in with this id is waiting: it is unknown, or was abandoned.')
    }
    const done = () => paramError(400, 'verification_already_verified', 'sign_in', 'This sign-in is complete already.', 'This sign-in is complete already: start a new one to sign in again.')
    if (found.status === 'complete') throw done()
    const instance = await instanceById(db, found.instance_id)
    if (!instance) throw notFound('sign-in')
    let completed: SignInAttemptRow | null = null
    const signedIn = await signIn({
      instance, identifier: found.identifier, password: input.password, ip: input.ip ?? null,
      completing: async (tx, sessionId) => {
        completed = await store.completeSignInAttempt(tx, found.id, sessionId, clock.now())
        if (!completed) throw done()
      },
    })
    return { attempt: completed!, signedIn }
  }

  /**
   * Signs in by ticket alone (Frontend API `strategy=ticket`): the ticket proves the address,
   * as clicking a link in an email does. Only for an address that already has an account;
   * `instanceId`, when given, must be the ticket's instance (`ticket_invalid` otherwise).
   */
  /**
   * A sign-in token's user, if the token can still be used. The token is found by its hash only
   * (the database holds nothing else); a token of a deleted user is gone with the user.
   */
  async function resolveSignInToken(token: string | null | undefined): Promise<
    { kind: 'usable'; instance: Instance; user: UserRow; id: string } | { kind: 'expired' } | { kind: 'unknown' }> {
    if (!token || token.length > 100 || !isSignInToken(token) || !/^[A-Za-z0-9_.-]+$/.test(token)) return { kind: 'unknown' }
    const row = await signInTokenStore.findByHash(db, signInTokenHash(token))
    const instance = row && await instanceById(db, row.instance_id)
    if (!row || !instance || row.status !== 'pending') return { kind: 'unknown' }
    if (row.expires_at <= clock.now(instance)) return { kind: 'expired' }
    const user = await users.findById(db, instance.id, row.user_id)
    if (!user) return { kind: 'unknown' }
    return { kind: 'usable', instance, user, id: row.id }
  }

  /**
   * Signs in with a sign-in token, once. The token is marked used in the transaction that starts
   * the session: of two concurrent uses exactly one gets a session, and a failed start keeps
   * the token usable.
   */
  async function signInWithToken(token: string, options: { instanceId?: string | null } = {}): Promise<SignedIn> {
    const state = await resolveSignInToken(token)
    if (state.kind === 'expired') throw ticketExpired()
    if (state.kind !== 'usable' || (options.instanceId && options.instanceId !== state.instance.id)) throw ticketInvalid()
    return completeSignIn(state.instance, state.user, null, async (tx) => {
      if (!await signInTokenStore.accept(tx, state.id, clock.now(state.instance))) throw ticketInvalid()
    })
  }

  async function signInWithTicket(ticket: string, options: { instanceId?: string | null } = {}): Promise<SignedIn & Partial<Accepted>> {
    if (isSignInToken(ticket)) return signInWithToken(ticket, options)
    const state = usableOrThrow(await resolveTicket(ticket))
    if (options.instanceId && options.instanceId !== state.instance.id) throw ticketInvalid()
    if (!state.existingUser) throw paramError(422, 'form_identifier_not_found', 'ticket', 'Couldn\'t find your account.', 'No account has this invitation\'s email address yet: sign up with the ticket instead.')
    return completeSignIn(state.instance, state.existingUser, ticket)
  }

  /**
   * Starts the session; with a ticket, also accepts its invitation in the same transaction (an
   * organization invitation makes the person a member with the invited role).
   */
  async function completeSignIn(instance: Instance, user: UserRow, ticket: string | null,
    completing?: (tx: Queryable, sessionId: string) => Promise<void>): Promise<SignedIn & Partial<Accepted>> {
    actAsUser(user.id)
    const now = clock.now(instance)
    let usable: TicketInvitation | null = null
    if (ticket) {
      const state = usableOrThrow(await resolveTicket(ticket))
      // A ticket is for one address in one instance: it never attaches to another account, nor
      // to one that merely lists the address unverified (anyone signed in can add any address).
      if (state.instance.id !== instance.id || !user.email_addresses.some((e) => e.email_address === state.invitation.email_address && e.verified_at !== null)) {
        throw paramError(403, 'not_allowed_access', 'ticket', 'This invitation is for another account.',
          `This invitation was sent to another email address; sign in as that address to accept it.`)
      }
      usable = state
    }
    return db.transaction(async (tx) => {
      let accepted: Accepted | null = null
      if (usable?.target === 'application') {
        const invitation = await deps.invitations.accept(tx, instance.id, usable.invitation.id, usable.invitation.ticket_hash, user.id, now, clock.now(), [acceptedEvent(instance, usable.invitation, now)])
        if (!invitation) throw ticketInvalid()
        accepted = { invitation, membership: null }
      } else if (usable?.target === 'organization') {
        const invitation = await markAccepted(deps.organizations, clock, tx, instance, usable.invitation, user.id, now)
        if (!invitation) throw ticketInvalid()
        accepted = { invitation, membership: await addMember(deps.organizations, tx, instance, invitation, user.id, now) }
      }
      await users.touchSignIn(tx, instance.id, user.id, now)
      const organizationId = usable?.target === 'organization' ? usable.invitation.organization_id : null
      const session = await startSession(tx, instance, { ...user, last_sign_in_at: now, updated_at: now }, organizationId)
      await completing?.(tx, session.id)
      return { instance, user, ...accepted, session }
    })
  }

  /** The signed-in person a session token belongs to, or null (unknown, ended, expired, user deleted). */
  async function session(token: string | null | undefined): Promise<SignedIn | null> {
    if (!token || token.length > 100) return null
    const tokenHash = sha256(token)
    const row = await store.findSession(db, tokenHash, clock.now())
    if (!row) return null
    const instance = await instanceById(db, row.instance_id)
    const user = instance && await users.findById(db, instance.id, row.user_id)
    if (!instance || !user) return null
    actAsUser(user.id, row.id)
    return {
      instance, user,
      session: { id: row.id, token, expiresAt: row.expires_at, createdAt: row.created_at, lastActiveAt: row.last_active_at, activeOrganizationId: row.active_organization_id },
    }
  }

  /**
   * Ends the session a token belongs to: signed out ('ended', session.ended) or, when its user
   * removes it from the client, 'removed' (session.removed). The event is queued once, by the
   * request that ended it.
   */
  async function signOut(token: string | null | undefined, how: 'ended' | 'removed' = 'ended'): Promise<void> {
    if (!token || token.length > 100) return
    await db.transaction(async (tx) => {
      const now = clock.now()
      const ended = await store.endSession(tx, sha256(token), now, how)
      const user = ended && await users.findById(tx, ended.instance_id, ended.user_id)
      if (ended && user) await deps.outbox.enqueue(tx, [queuedSessionEvent(`session.${how}`, ended, user, now)], now)
    })
  }

  /** Whether the sign-up form is for everyone: public mode, or restricted mode with an allowlist to pass. */
  async function signUpFormOpen(instance: Instance): Promise<boolean> {
    return instance.signUpMode === 'public' || (instance.signUpMode === 'restricted' && await deps.restrictions.hasEntries(db, instance.id, 'allowlist'))
  }

  /** The 6-digit code of a sign-up attempt: derived like a ticket, never stored. */
  function codeFor(attempt: Pick<SignUpAttemptRow, 'id' | 'code_nonce'>): string {
    return deriveCode(deps.serverSecret, 'code', attempt.id, attempt.code_nonce)
  }

  /**
   * Starts a sign-up without a ticket: checks the instance's sign-up mode and the address,
   * and emails a code. The account exists only once the code comes back (verifySignUp).
   * At most CODE_EMAILS_PER_WINDOW code emails per address and hour: past that, 429
   * `too_many_requests` with Retry-After, and nothing is queued.
   */
  async function startSignUp(input: {
    instance: Instance; emailAddress: string; password: string; firstName?: string | null; lastName?: string | null; username?: string | null; unsafeMetadata?: Record<string, unknown>
  }): Promise<{ attemptId: string; emailAddress: string }> {
    const { instance } = input
    // In restricted mode, an address on the allowlist needs no invitation.
    const allowed = instance.signUpMode === 'public'
      || (instance.signUpMode === 'restricted' && await deps.restrictions.isListed(db, instance.id, 'allowlist', input.emailAddress))
    if (!allowed) {
      throw new ApiError(403, 'sign_up_restricted', 'Sign-up is by invitation only.',
        instance.signUpMode === 'waitlist'
          ? 'This application is not open for sign-up yet: join the waitlist, or use an invitation.'
          : 'This application accepts new accounts only through an invitation.', { sign_up_mode: instance.signUpMode })
    }
    const email = normalizeEmail(input.emailAddress)
    await refuseBlocked(db, deps.restrictions, instance.id, email, 403)
    checkPassword(input.password)
    if (await users.findByEmail(db, instance.id, email)) throw identifierExists()
    const username = await freeUsername(instance, input.username, true)
    const now = clock.now(instance)
    // Each attempt allows a few guesses of its code; without a cap per address, starting
    // attempt after attempt would make guessing one a matter of patience, and would let
    // anyone take an address they cannot read. A new attempt also ends the earlier ones.
    if (await store.recentFailedTries(db, instance.id, email, now - CODE_GUESS_WINDOW_MS) >= CODE_GUESSES_PER_WINDOW) {
      throw new ApiError(429, 'too_many_requests', 'Too many requests',
        'Too many wrong codes were typed for this address. Try again in an hour.', {}, { 'retry-after': String(CODE_GUESS_WINDOW_MS / 1000) })
    }
    const attempt = {
      id: newId('sua', now), instance_id: instance.id, email_address: email, mailbox: mailboxOf(email), password_hash: await hashPassword(input.password),
      first_name: input.firstName ?? null, last_name: input.lastName ?? null, username, unsafe_metadata: input.unsafeMetadata ?? {},
      code_nonce: newNonce(), code_expires_at: now + CODE_TTL_MS, created_at: now,
    }
    await db.transaction(async (tx) => {
      await spendCodeEmail(tx, attempt, now)
      await store.abandonSignUpAttempts(tx, instance.id, email, now)
      await store.insertSignUpAttempt(tx, attempt)
      await sendCode(tx, attempt, now)
    })
    return { attemptId: attempt.id, emailAddress: email }
  }

  const codeEmails = createCodeEmails({ clock, users, store, outbox: deps.outbox })
  const spendCodeEmail = codeEmails.spend
  const sendCode = (tx: Queryable, attempt: CodeRecipient, now: number) => codeEmails.send(tx, attempt, { sign_up_attempt_id: attempt.id }, now)

  /**
   * clerk-js's prepareEmailAddressVerification: emails a new code for a sign-up waiting for
   * one. The sign-up's start emailed a code already, and clerk-js asks right after it: a code
   * sent less than CODE_RESEND_INTERVAL_MS ago is not sent again (Clerk's own form offers
   * "resend" only after as long). A new code replaces the old one, with a new expiry; its
   * email counts against the inbox's hourly budget (429 past it). Refused: an attempt not
   * waiting for its code (400 verification_already_verified once complete or for a ticket
   * sign-up, verification_failed once abandoned or out of tries); one unknown, or of another
   * instance than the one named (404).
   */
  async function renewSignUpCode(input: { attemptId: string; instanceId?: string | null }): Promise<{ attempt: SignUpAttemptRow; instance: Instance }> {
    const found = await store.findSignUpAttempt(db, input.attemptId)
    const named = (instanceId: string) => !input.instanceId || input.instanceId === instanceId
    if (!found) {
      const ticketSignUp = await store.findTicketSignUp(db, input.attemptId)
      if (ticketSignUp && named(ticketSignUp.instance_id)) {
        throw paramError(400, 'verification_already_verified', 'strategy', 'This email address is verified already.',
          'A sign-up with an invitation ticket has its address verified by the ticket: it needs no code.')
      }
      throw notFound('sign-up')
    }
    const instance = named(found.instance_id) ? await instanceById(db, found.instance_id) : null
    if (!instance) throw notFound('sign-up')
    const attempt = await renewCode(instance, found)
    return { attempt, instance }
  }

  async function renewCode(instance: Instance, found: SignUpAttemptRow): Promise<SignUpAttemptRow> {
    if (found.status === 'complete') throw paramError(400, 'verification_already_verified', 'strategy', 'This email address is verified already.', 'This sign-up is complete already.')
    if (found.status !== 'pending' || found.failed_attempts >= CODE_MAX_FAILURES) {
      throw paramError(400, 'verification_failed', 'strategy', 'This sign-up can no longer be completed.', 'Too many incorrect codes, or a newer sign-up for this address replaced it: start the sign-up again.')
    }
    const now = clock.now(instance)
    if (found.code_expires_at - CODE_TTL_MS >= now - CODE_RESEND_INTERVAL_MS) return found
    return db.transaction(async (tx) => {
      await spendCodeEmail(tx, found, now)
      const renewed = await store.renewSignUpCode(tx, found.id, newNonce(), now + CODE_TTL_MS, now - CODE_RESEND_INTERVAL_MS, CODE_TTL_MS, now)
      // Another request sent one meanwhile, or the attempt ended: nothing more to send.
      if (!renewed) return (await store.findSignUpAttempt(tx, found.id)) ?? found
      await sendCode(tx, renewed, now)
      return renewed
    })
  }

  /**
   * Completes a sign-up with the emailed code: the user exists, verified by it, and is signed
   * in. Each try is spent before the code is compared, in one guarded update, so that however
   * many guesses arrive at once, no more than five are ever compared; a wrong code answers
   * 422 `form_code_incorrect` saying how many tries are left, and then 400 `verification_failed`.
   */
  async function verifySignUp(input: { instance: Instance; attemptId: string; code: string }): Promise<SignedIn & { attempt: SignUpAttemptRow }> {
    const { instance } = input
    const dead = () => paramError(400, 'verification_failed', 'code', 'This sign-up can no longer be completed.', 'Too many incorrect codes, or it is already complete: start the sign-up again to get a new code.')
    const found = await store.findSignUpAttempt(db, input.attemptId)
    if (!found || found.instance_id !== instance.id) throw dead()
    const now = clock.now(instance)
    if (found.status === 'pending' && found.code_expires_at <= now) throw paramError(400, 'verification_expired', 'code', 'This code has expired.', 'Start the sign-up again to get a new code.')
    const tries = await store.spendSignUpTry(db, found.id, CODE_MAX_FAILURES, now)
    if (tries === null) throw dead()
    const attempt = { ...found, failed_attempts: tries }
    if (!sameSecret(input.code.trim(), codeFor(attempt))) {
      const left = CODE_MAX_FAILURES - tries
      throw paramError(422, 'form_code_incorrect', 'code', 'Incorrect code.',
        left > 0 ? `The code is incorrect: ${left} ${left === 1 ? 'try' : 'tries'} left.` : 'The code is incorrect, and that was the last try: start the sign-up again to get a new code.')
    }
    try {
      return await db.transaction(async (tx) => {
        const userId = newId('user', now)
        actAsUser(userId)
        if (!await store.completeSignUpAttempt(tx, attempt.id, userId, now)) {
          throw paramError(400, 'verification_failed', 'code', 'This sign-up can no longer be completed.', 'It was completed already.')
        }
        const user = await users.insert(tx, {
          id: userId, instanceId: instance.id, emailId: newId('idn', now), emailAddress: attempt.email_address, verification: 'email_code',
          passwordHash: attempt.password_hash, firstName: attempt.first_name, lastName: attempt.last_name, username: attempt.username, unsafeMetadata: attempt.unsafe_metadata, lastSignInAt: now, now,
        })
        await deps.outbox.enqueue(tx, [queuedUserEvent(userCreatedEvent(user, instance, now), clock.now())], clock.now())
        await deps.onUserCreated?.(tx, instance, { id: user.id, emailAddress: attempt.email_address })
        const completed = { ...attempt, status: 'complete', created_user_id: user.id, failed_attempts: tries - 1, updated_at: now }
        return { instance, user, attempt: completed, session: await startSession(tx, instance, user) }
      })
    } catch (err) {
      if (isUniqueViolation(err)) throw takenAtInsert(err, attempt.username)
      throw err
    }
  }

  return {
    /** The public URL the hosted pages and the session cookie belong to. */
    publicUrl: deps.publicUrl,
    resolveInstance,
    resolveTicket,
    linkTarget,
    allowedRedirect,
    pageUrl,
    signUpWithTicket,
    startTicketSignUp,
    completeTicketSignUp,
    signIn,
    startSignIn,
    attemptSignInPassword,
    signInWithTicket,
    resolveSignInToken,
    signInWithToken,
    session,
    signOut,
    signUpFormOpen,
    startSignUp,
    renewSignUpCode,
    verifySignUp,
    codeFor,
    /** A signed-in person's organization invitations and suggestions (hosted `/accept`, Frontend API `/v1/me`). */
    organizations: createOrgAcceptService({
      db, clock, outbox: deps.outbox, resolveTicket: (ticket) => resolveTicket(ticket), ...deps.organizations, domains: deps.organizations.domains ?? createDomainStore(),
    }),
    findSignUpAttempt: (id: string) => store.findSignUpAttempt(db, id),
    /** The instance of a sign-in waiting for its password, for the Frontend API's origin rules. */
    signInInstanceId: async (id: string): Promise<string | null> => (await store.findSignInAttempt(db, id))?.instance_id ?? null,
    /** The instance of a sign-up of either kind (emailed code or ticket), for the Frontend API's origin rules. */
    signUpInstanceId: async (id: string): Promise<string | null> =>
      (await store.findSignUpAttempt(db, id))?.instance_id ?? (await store.findTicketSignUp(db, id))?.instance_id ?? null,
    /**
     * What the Frontend API's User shows beyond the user row: for an address an emailed code
     * verified, that code's expiry and the wrong codes before it; and the person's memberships
     * (clerk-js reads `user.organizationMemberships` and `clerk.organization` from them), newest first.
     */
    userFacts: async ({ instance, user }: Pick<SignedIn, 'instance' | 'user'>): Promise<UserFacts> => {
      const address = user.email_addresses.find((e) => e.verification_strategy === 'email_code')
      const code = address ? await store.findCodeVerification(db, user.instance_id, address.email_address, user.id) : null
      const { data } = await deps.organizations.memberships.listForUser(instance, user.id, { limit: MEMBERSHIPS_ON_USER, offset: 0 })
      return { code, memberships: data }
    },
  }
}

export type AcceptService = ReturnType<typeof createAcceptService>
