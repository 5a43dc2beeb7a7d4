import { Type, type Static } from 'typebox'
import type { EmailAddressRow, UserRow } from '../users/users.store.js'
import type { SignInAttemptRow, SignUpAttemptRow, TicketSignUpRow } from '../accept/accept.store.js'
import type { SignedIn, TicketInvitation, UserFacts } from '../accept/accept.service.js'
import type { ClientFacts } from './client-facts.js'
import { effectiveOrgInvitationStatus, type OrgInvitationView } from '../organizations/org-invitations.schemas.js'
import type { SuggestionView } from '../organizations/domains.store.js'
import { toClerkMembership, type ClerkMembership } from '../organizations/memberships.schemas.js'

const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Optional(Type.Union([schema, Type.Null()]))
const text = (maxLength: number) => nullable(Type.String({ maxLength }))

// Clerk's clients send more parameters than Foyer acts on (captcha tokens, `legal_accepted`,
// redirect URLs…): unknown ones are ignored rather than refused, as Clerk does.
export const InstanceQuery = Type.Object({
  instance: Type.Optional(Type.String({ maxLength: 100, description: 'The instance (`ins_…`) to act for; the default instance when left out.' })),
})
export type InstanceQuery = Static<typeof InstanceQuery>

export const CreateSignUpBody = Type.Object({
  strategy: text(50),
  ticket: text(200),
  email_address: text(320),
  password: text(1024),
  first_name: text(256),
  last_name: text(256),
  // A JSON object; form bodies carry it as JSON text.
  unsafe_metadata: nullable(Type.Union([Type.Object({}, { additionalProperties: true }), Type.String({ maxLength: 16 * 1024 })])),
  // Only where the instance enables usernames; the others are named so that they are refused, not ignored.
  username: text(256),
  phone_number: text(64),
  web3_wallet: text(256),
})
export type CreateSignUpBody = Static<typeof CreateSignUpBody>

export const SignUpParams = Type.Object({ sign_up_id: Type.String({ maxLength: 100 }) })
export const UpdateSignUpBody = Type.Object({
  password: text(1024),
  first_name: text(256),
  last_name: text(256),
  unsafe_metadata: CreateSignUpBody.properties.unsafe_metadata,
  email_address: text(320),
  strategy: text(50),
  // Only where the instance enables usernames; the others are named so that they are refused, not ignored.
  username: text(256),
  phone_number: text(64),
  web3_wallet: text(256),
})
export type UpdateSignUpBody = Static<typeof UpdateSignUpBody>
export const AttemptVerificationBody = Type.Object({
  strategy: Type.String({ maxLength: 50 }),
  code: text(50),
})
export type AttemptVerificationBody = Static<typeof AttemptVerificationBody>
export const PrepareVerificationBody = Type.Object({ strategy: Type.String({ maxLength: 100 }) })

export const CreateSignInBody = Type.Object({
  strategy: text(50),
  identifier: text(320),
  password: text(1024),
  ticket: text(200),
})
export type CreateSignInBody = Static<typeof CreateSignInBody>

export const SignInParams = Type.Object({ sign_in_id: Type.String({ maxLength: 100 }) })
export const SignInFactorBody = Type.Object({
  strategy: Type.String({ maxLength: 100 }),
  password: text(1024),
})
export type SignInFactorBody = Static<typeof SignInFactorBody>

export const SessionParams = Type.Object({ session_id: Type.String({ maxLength: 100 }) })
export const TouchSessionBody = Type.Object({
  // An organization's id or slug; '' for none (the personal account); left out, unchanged.
  active_organization_id: text(200),
  intent: text(50),
})
export type TouchSessionBody = Static<typeof TouchSessionBody>
export const SessionTokenBody = Type.Object({
  // An organization's id; '' for none; left out, the session's active one.
  organization_id: text(200),
})
export type SessionTokenBody = Static<typeof SessionTokenBody>

const DAY_MS = 24 * 60 * 60 * 1000
/** How long Clerk keeps an unfinished sign-in or sign-up before abandoning it. */
const ATTEMPT_LIFETIME_MS = DAY_MS

type Verification = Record<string, unknown>
const ticketVerification = (): Verification => ({ object: 'verification_ticket', status: 'verified', strategy: 'ticket', attempts: null, expire_at: null })

/**
 * How an address was proved, as Clerk's verification objects say it; for one still unverified,
 * the code emailed to it, if any. `signUpCode` is the sign-up's code, for the address it verified.
 */
function addressVerification(e: EmailAddressRow, signUpCode: CodeVerification | null, now: number): Verification | null {
  const code = e.code_expires_at != null ? { expire_at: e.code_expires_at, failed_attempts: e.code_failed_attempts ?? 0 } : signUpCode
  if (e.verified_at === null) {
    if (e.code_expires_at == null) return null
    const status = e.code_expires_at <= now ? 'expired' : 'unverified'
    return { object: 'verification_otp', status, strategy: 'email_code', attempts: e.code_failed_attempts ?? 0, expire_at: e.code_expires_at }
  }
  switch (e.verification_strategy) {
    case 'ticket': return ticketVerification()
    case 'admin': return { object: 'verification_admin', status: 'verified', strategy: 'admin', attempts: null, expire_at: null }
    case 'email_code': return code && { object: 'verification_otp', status: 'verified', strategy: 'email_code', attempts: code.failed_attempts + 1, expire_at: code.expire_at }
    default: return null
  }
}

/** Clerk's Frontend API EmailAddress. */
export function toFapiEmailAddress(e: EmailAddressRow, signUpCode: CodeVerification | null, now: number) {
  return {
    id: e.id,
    object: 'email_address',
    email_address: e.email_address,
    reserved: false,
    verification: addressVerification(e, signUpCode, now),
    linked_to: [],
    matches_sso_connection: false,
    created_at: e.created_at,
    updated_at: e.verified_at ?? e.created_at,
  }
}

export type CodeVerification = NonNullable<UserFacts['code']>

/**
 * Clerk's Frontend API User. Unlike the Backend API's, it never carries private_metadata.
 * Foyer users have email addresses and a password; what Clerk's User must carry beyond that is
 * answered as empty, false or null.
 */
export function toFapiUser(user: UserRow, facts: UserFacts, lastActiveAt: number, now: number) {
  const { code } = facts
  return {
    id: user.id,
    object: 'user',
    username: user.username,
    first_name: user.first_name,
    last_name: user.last_name,
    has_image: false,
    primary_email_address_id: user.primary_email_address_id,
    primary_phone_number_id: null,
    primary_web3_wallet_id: null,
    password_enabled: user.password_hash !== null,
    two_factor_enabled: false,
    totp_enabled: false,
    backup_code_enabled: false,
    email_addresses: user.email_addresses.map((e) => toFapiEmailAddress(e, code, now)),
    phone_numbers: [],
    web3_wallets: [],
    passkeys: [],
    organization_memberships: facts.memberships.map((m) => toFapiMembership(toClerkMembership(m))),
    external_accounts: [],
    saml_accounts: [],
    enterprise_accounts: [],
    password_last_updated_at: user.password_hash === null ? null : user.password_updated_at ?? user.created_at,
    public_metadata: user.public_metadata,
    unsafe_metadata: user.unsafe_metadata,
    external_id: user.external_id ?? null,
    last_sign_in_at: user.last_sign_in_at,
    banned: false,
    locked: false,
    lockout_expires_in_seconds: null,
    verification_attempts_remaining: null,
    created_at: user.created_at,
    updated_at: user.updated_at,
    delete_self_enabled: false,
    create_organization_enabled: false,
    last_active_at: Math.floor(lastActiveAt / DAY_MS) * DAY_MS,
    mfa_enabled_at: null,
    mfa_disabled_at: null,
    legal_accepted_at: null,
  }
}

export type Strategy = 'password' | 'ticket' | 'email_code'

/** Clerk's Session: Foyer sessions last a fixed time, so they are abandoned when they expire. */
export function toFapiSession(signedIn: SignedIn, facts: ClientFacts, now: number, status: 'active' | 'ended' | 'removed' = 'active') {
  const { user, session } = signedIn
  const primary = user.email_addresses.find((e) => e.id === user.primary_email_address_id) ?? user.email_addresses[0]
  return {
    id: session.id,
    object: 'session',
    status,
    expire_at: session.expiresAt,
    abandon_at: session.expiresAt,
    last_active_at: session.lastActiveAt,
    last_active_token: facts.lastActiveToken === null || status !== 'active' ? null : { object: 'token', jwt: facts.lastActiveToken },
    actor: null,
    // clerk-js sends it back on every touch and token request: it must be the active one.
    last_active_organization_id: session.activeOrganizationId,
    user: toFapiUser(user, facts, session.lastActiveAt, now),
    public_user_data: {
      first_name: user.first_name,
      last_name: user.last_name,
      image_url: null,
      has_image: false,
      identifier: primary?.email_address ?? '',
      user_id: user.id,
    },
    // Minutes since the first factor was verified, which is when the session started; no
    // second factor exists (-1, as Clerk says it).
    factor_verification_age: [Math.max(0, Math.floor((now - session.createdAt) / 60_000)), -1],
    created_at: session.createdAt,
    updated_at: session.lastActiveAt,
  }
}

/**
 * Clerk's Client is a browser; Foyer knows a browser only by its session cookie, so the
 * Client's id is derived from the session's, and there is no Client without a session.
 */
export function toFapiClient(signedIn: SignedIn, facts: ClientFacts, now: number, extra: {
  signIn?: unknown; signUp?: unknown; strategy?: Strategy | null; ended?: boolean
} = {}) {
  const { session } = signedIn
  return {
    object: 'client',
    id: `client_${session.id.slice(session.id.indexOf('_') + 1)}`,
    sessions: extra.ended ? [] : [toFapiSession(signedIn, facts, now)],
    sign_in: extra.signIn ?? null,
    sign_up: extra.signUp ?? null,
    last_active_session_id: extra.ended ? null : session.id,
    last_authentication_strategy: extra.strategy ?? null,
    // Null, not the session's end: clerk-js 6 routes setActive({redirectUrl}) through
    // GET /v1/client/touch once this is within 8 days, which a development key cannot take.
    // Foyer's cookie lives as long as its session and is not extended by touching.
    cookie_expires_at: null,
    captcha_bypass: false,
    created_at: session.createdAt,
    // The sign-in, not the session's activity: clerk-js keeps this as `__client_uat`, and
    // @clerk/backend sends a browser whose session token is older than that through a
    // handshake. Tokens move `last_active_at`, so using it would cost such round trips.
    updated_at: session.createdAt,
  }
}

interface SignUpFacts {
  id: string
  status: 'missing_requirements' | 'complete'
  /** Required fields still to send; the address is verified or waits for its code either way. */
  missingFields?: string[]
  emailAddress: string
  emailVerification: Verification
  firstName: string | null
  lastName: string | null
  username: string | null
  publicMetadata: Record<string, unknown>
  unsafeMetadata: Record<string, unknown>
  userId: string | null
  sessionId: string | null
  abandonAt: number
}

function toFapiSignUp(f: SignUpFacts) {
  return {
    object: 'sign_up_attempt',
    id: f.id,
    status: f.status,
    // Foyer's one registration policy: an address and a password; names are optional.
    required_fields: ['email_address', 'password'],
    optional_fields: ['first_name', 'last_name'],
    missing_fields: f.missingFields ?? [],
    unverified_fields: f.status === 'complete' || f.emailVerification.status === 'verified' ? [] : ['email_address'],
    verifications: { email_address: f.emailVerification, phone_number: null, web3_wallet: null, external_account: null },
    username: f.username,
    email_address: f.emailAddress,
    phone_number: null,
    web3_wallet: null,
    password_enabled: true,
    first_name: f.firstName,
    last_name: f.lastName,
    unsafe_metadata: f.unsafeMetadata,
    public_metadata: f.publicMetadata,
    custom_action: false,
    external_id: null,
    created_session_id: f.sessionId,
    created_user_id: f.userId,
    abandon_at: f.abandonAt,
    legal_accepted_at: null,
  }
}

/** A sign-up completed with a ticket, in the one request that created it. */
export function ticketSignUp(id: string, signedIn: SignedIn & { invitation: { email_address: string; public_metadata: Record<string, unknown> } }, now: number) {
  const { user, invitation, session } = signedIn
  return toFapiSignUp({
    id, status: 'complete', emailAddress: invitation.email_address,
    emailVerification: { ...ticketVerification(), next_action: '', supported_strategies: [] },
    firstName: user.first_name, lastName: user.last_name, username: user.username, publicMetadata: user.public_metadata, unsafeMetadata: user.unsafe_metadata,
    userId: user.id, sessionId: session.id, abandonAt: now + ATTEMPT_LIFETIME_MS,
  })
}

/**
 * A ticket sign-up kept between its requests: missing its password, with the invited address
 * verified by the ticket; or completed, with its user and session.
 */
export function keptTicketSignUp(attempt: TicketSignUpRow, invitation: TicketInvitation, user: UserRow | null = null) {
  const complete = attempt.status === 'complete'
  return toFapiSignUp({
    id: attempt.id, status: complete ? 'complete' : 'missing_requirements', missingFields: complete ? [] : ['password'], emailAddress: attempt.email_address,
    emailVerification: { ...ticketVerification(), next_action: '', supported_strategies: [] },
    firstName: attempt.first_name, lastName: attempt.last_name, username: attempt.username,
    // An application invitation's public metadata becomes the user's; an organization invitation's, the membership's.
    publicMetadata: user?.public_metadata ?? (invitation.target === 'application' ? invitation.invitation.public_metadata : {}),
    unsafeMetadata: attempt.unsafe_metadata, userId: attempt.created_user_id, sessionId: attempt.created_session_id, abandonAt: attempt.abandon_at,
  })
}

/** A sign-up waiting for its emailed code, or completed by it. It cannot be finished once the code has expired. */
export function codeSignUp(attempt: SignUpAttemptRow, now: number, sessionId: string | null = null) {
  const complete = attempt.status === 'complete'
  const expired = !complete && attempt.code_expires_at <= now
  const status = complete ? 'verified' : expired ? 'expired' : 'unverified'
  return toFapiSignUp({
    id: attempt.id, status: complete ? 'complete' : 'missing_requirements', emailAddress: attempt.email_address,
    emailVerification: {
      object: 'verification_otp', status, strategy: 'email_code',
      attempts: attempt.failed_attempts + (complete ? 1 : 0), expire_at: attempt.code_expires_at,
      next_action: status === 'unverified' ? 'needs_attempt' : '', supported_strategies: ['email_code'],
    },
    firstName: attempt.first_name, lastName: attempt.last_name, username: attempt.username, publicMetadata: {}, unsafeMetadata: attempt.unsafe_metadata,
    userId: attempt.created_user_id, sessionId, abandonAt: attempt.code_expires_at,
  })
}

/** A sign-in that named its identifier and waits for its password: Foyer's one first factor. */
export function waitingSignIn(attempt: SignInAttemptRow) {
  return {
    object: 'sign_in_attempt',
    id: attempt.id,
    status: 'needs_first_factor',
    supported_identifiers: ['email_address'],
    supported_first_factors: [{ strategy: 'password' }],
    supported_second_factors: null,
    first_factor_verification: null,
    second_factor_verification: null,
    identifier: attempt.identifier,
    // Nothing is said of the account before its password is checked.
    user_data: null,
    created_session_id: null,
    abandon_at: attempt.abandon_at,
  }
}

/** A complete sign-in: in the request that creates it, or by its first factor (`abandonAt` then the attempt's). */
export function completeSignIn(id: string, signedIn: SignedIn, strategy: 'password' | 'ticket', now: number, abandonAt = now + ATTEMPT_LIFETIME_MS) {
  const { user, session } = signedIn
  const primary = user.email_addresses.find((e) => e.id === user.primary_email_address_id) ?? user.email_addresses[0]
  return {
    object: 'sign_in_attempt',
    id,
    status: 'complete',
    supported_identifiers: ['email_address'],
    supported_first_factors: user.password_hash === null ? [] : [{ strategy: 'password' }],
    supported_second_factors: null,
    first_factor_verification: strategy === 'ticket'
      ? ticketVerification()
      : { object: 'verification_password', status: 'verified', strategy: 'password', attempts: null, expire_at: null },
    second_factor_verification: null,
    identifier: primary?.email_address ?? null,
    user_data: { first_name: user.first_name, last_name: user.last_name, has_image: false },
    created_session_id: session.id,
    abandon_at: abandonAt,
  }
}

/** Clerk's PublicOrganizationData: what anyone invited may see of an organization. */
const publicOrganizationData = (id: string, name: string | null, slug: string | null) =>
  ({ id, name: name ?? '', slug: slug ?? '', image_url: '', has_image: false })

/**
 * Clerk's Frontend API OrganizationInvitation, as the invited person sees it: no private
 * metadata, no inviter, and no link (`url` is null: the person is signed in already, and the
 * link is a working credential).
 */
export function toFapiOrgInvitation(row: OrgInvitationView, now: number) {
  return {
    object: 'organization_invitation',
    id: row.id,
    email_address: row.email_address,
    role: row.role,
    role_name: row.role_name ?? row.role,
    organization_id: row.organization_id,
    public_organization_data: publicOrganizationData(row.organization_id, row.organization_name, row.organization_slug),
    status: effectiveOrgInvitationStatus(row, now),
    public_metadata: row.public_metadata,
    url: null,
    expires_at: row.expires_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  }
}

/** Clerk's OrganizationSuggestion: a verified domain's organization the person may ask to join. */
export function toFapiOrgSuggestion(s: SuggestionView) {
  return {
    object: 'organization_suggestion',
    id: s.id,
    public_organization_data: publicOrganizationData(s.organization_id, s.organization_name, s.organization_slug),
    status: s.status,
    created_at: s.created_at,
    updated_at: s.updated_at,
  }
}

const PageLimit = Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 }))
const PageOffset = Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 }))

export const MyOrgInvitationsQuery = Type.Object({
  instance: InstanceQuery.properties.instance,
  status: Type.Optional(Type.String({ maxLength: 200, description: 'One status, or several separated by commas; every status when left out.' })),
  limit: PageLimit,
  offset: PageOffset,
})
export type MyOrgInvitationsQuery = Static<typeof MyOrgInvitationsQuery>

export const MySuggestionsQuery = Type.Object({ instance: InstanceQuery.properties.instance, limit: PageLimit, offset: PageOffset })
export const MyMembershipsQuery = Type.Object({
  instance: InstanceQuery.properties.instance, limit: PageLimit, offset: PageOffset,
  paginated: Type.Optional(Type.Boolean({ description: '`false` answers a plain array, as Clerk\'s Frontend API does; otherwise `{data, total_count}`.' })),
})
export type MyMembershipsQuery = Static<typeof MyMembershipsQuery>

// The Frontend API's Organization: the public part of the Backend API's (never private_metadata).
const FAPI_ORGANIZATION_FIELDS = ['object', 'id', 'name', 'slug', 'image_url', 'has_image', 'members_count', 'pending_invitations_count',
  'max_allowed_memberships', 'admin_delete_enabled', 'public_metadata', 'created_at', 'updated_at'] as const

/** Clerk's Frontend API OrganizationMembership: the Backend API's without any private metadata. */
export function toFapiMembership(m: ClerkMembership) {
  const { private_metadata: _private, organization, ...membership } = m
  const org = organization as unknown as Record<string, unknown>
  return { ...membership, organization: Object.fromEntries(FAPI_ORGANIZATION_FIELDS.filter((k) => k in org).map((k) => [k, org[k]])) }
}
export type MySuggestionsQuery = Static<typeof MySuggestionsQuery>

export const InvitationIdParams = Type.Object({ invitation_id: Type.String({ maxLength: 100 }) })
export const SuggestionIdParams = Type.Object({ suggestion_id: Type.String({ maxLength: 100 }) })
export const OrganizationIdParams = Type.Object({ organization_id: Type.String({ maxLength: 100 }) })

export const ClientInviteBody = Type.Object({
  email_address: Type.String({ maxLength: 320 }),
  role: Type.String({ maxLength: 100 }),
  notify: nullable(Type.Boolean()),
})
export type ClientInviteBody = Static<typeof ClientInviteBody>
