import { attemptsRemaining, lockoutExpiresInSeconds } from './sign-in-gate.js'
import type { UserLockout } from '../instance/instance.schemas.js'
import { Type, type Static } from 'typebox'
import type { EmailAddressRow, UserRow } from './users.store.js'

const USERNAME_RULES = 'Only where the instance enables usernames (`username` in `/v1/instance`; 422 `form_param_unknown` otherwise). '
  + '4–64 letters, digits, `_` or `-`, not digits alone; stored lower-cased, unique in the instance regardless of case.'

const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])
const Metadata = (description: string) => Type.Object({}, { additionalProperties: true, description })
const DAY_MS = 24 * 60 * 60 * 1000

export const CreateUserBody = Type.Object({
  email_address: Type.Union([Type.String(), Type.Array(Type.String())], {
    description: 'One to ten addresses, all verified by the operator (strategy `admin`); the first becomes the primary address. `POST /v1/email_addresses` adds more later.',
  }),
  password: Type.Optional(nullable(Type.String({ description: 'At least 8 characters; left out or null, the user has no password.' }))),
  skip_password_checks: Type.Optional(nullable(Type.Boolean({ description: 'Lifts the minimum length (not the maximum).' }))),
  skip_password_requirement: Type.Optional(nullable(Type.Boolean({ description: 'Accepted; a password is never required by Foyer.' }))),
  password_digest: Type.Optional(nullable(Type.String({ maxLength: 1024, description: 'A digest from another system, instead of `password`; the user signs in with that password, and Foyer re-hashes it (scrypt) at the first sign-in.' }))),
  password_hasher: Type.Optional(nullable(Type.String({ maxLength: 64, description: '`bcrypt` (cost 4–14), `argon2id` or `argon2i` (PHC string; m ≤ 65536, t ≤ 10); required with `password_digest`.' }))),
  external_id: Type.Optional(nullable(Type.String({ maxLength: 256, description: 'The user\'s id in your systems; unique in the instance.' }))),
  username: Type.Optional(nullable(Type.String({ maxLength: 256, description: USERNAME_RULES }))),
  first_name: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
  last_name: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
  public_metadata: Type.Optional(Metadata('JSON object, at most 8 KB serialized.')),
  private_metadata: Type.Optional(Metadata('JSON object, at most 8 KB serialized; only the Backend API sees it.')),
  unsafe_metadata: Type.Optional(Metadata('JSON object, at most 8 KB serialized.')),
}, { additionalProperties: false })
export type CreateUserBody = Static<typeof CreateUserBody>

// A null inside the object removes that key; objects merge, anything else replaces.
const MetadataPatch = (description: string) => Type.Optional(Type.Object({}, { additionalProperties: true, description }))
export const UpdateUserMetadataBody = Type.Object({
  public_metadata: MetadataPatch('Deep-merged into the stored object: nested objects merge, a null value removes its key, arrays and scalars replace. The result is at most 8 KB serialized.'),
  private_metadata: MetadataPatch('Merged like public_metadata; only the Backend API sees it.'),
  unsafe_metadata: MetadataPatch('Merged like public_metadata.'),
}, { additionalProperties: false })
export type UpdateUserMetadataBody = Static<typeof UpdateUserMetadataBody>

const unsupported = (what: string) => Type.Optional(Type.Unknown({ description: `Not supported by Foyer (${what}): 422 when given a value.` }))

export const UpdateUserBody = Type.Object({
  external_id: Type.Optional(nullable(Type.String({ maxLength: 256, description: 'Unique in the instance; null or empty removes it.' }))),
  first_name: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
  last_name: Type.Optional(nullable(Type.String({ maxLength: 256 }))),
  primary_email_address_id: Type.Optional(nullable(Type.String({ description: 'One of the user\'s verified addresses.' }))),
  notify_primary_email_address_changed: Type.Optional(nullable(Type.Boolean({ description: 'Accepted; Foyer sends no such email.' }))),
  password: Type.Optional(nullable(Type.String({ description: 'At least 8 characters. Other sessions stay signed in.' }))),
  skip_password_checks: Type.Optional(nullable(Type.Boolean({ description: 'Lifts the minimum length (not the maximum).' }))),
  public_metadata: Type.Optional(Metadata('Replaces the stored object; at most 8 KB serialized.')),
  private_metadata: Type.Optional(Metadata('Replaces the stored object; at most 8 KB serialized.')),
  unsafe_metadata: Type.Optional(Metadata('Replaces the stored object; at most 8 KB serialized.')),
  locale: unsupported('no locales'),
  primary_phone_number_id: unsupported('no phone numbers'),
  primary_web3_wallet_id: unsupported('no web3 wallets'),
  username: Type.Optional(nullable(Type.String({ maxLength: 256, description: `${USERNAME_RULES} Null or "" removes it.` }))),
  profile_image_id: unsupported('no profile images'),
  password_digest: unsupported('no password digests on update'),
  password_hasher: unsupported('no password digests on update'),
  sign_out_of_other_sessions: unsupported('sessions are revoked through the sessions API'),
  totp_secret: unsupported('no second factors'),
  backup_codes: unsupported('no second factors'),
  delete_self_enabled: unsupported('users never delete themselves'),
  create_organization_enabled: unsupported('users never create organizations'),
  create_organizations_limit: unsupported('users never create organizations'),
  legal_accepted_at: unsupported('no legal acceptance'),
  skip_legal_checks: unsupported('no legal acceptance'),
  created_at: unsupported('creation times are Foyer\'s own'),
  bypass_client_trust: unsupported('no device trust'),
}, { additionalProperties: false })
export type UpdateUserBody = Static<typeof UpdateUserBody>
/** The spec's parameters Foyer does not support: refused when given a value. */
export const UNSUPPORTED_UPDATE_PARAMS = Object.entries(UpdateUserBody.properties)
  .filter(([, schema]) => (schema as { description?: string }).description?.startsWith('Not supported')).map(([name]) => name)

// Query strings repeat a key for each value; one value arrives as a plain string. The number
// of values is checked by the service: a schema's error for it would name the wrong branch.
const repeatable = (description: string) =>
  Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description }))
const timestamp = (description: string) => Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description }))

const filterFields = {
  email_address: repeatable('Users holding one of these addresses (exact, case-insensitive); up to 100.'),
  user_id: repeatable('Users with these ids; an id prefixed with `-` is left out instead. Up to 100.'),
  username: repeatable('Users with one of these usernames (exact, case-insensitive); up to 100.'),
  query: Type.Optional(Type.String({ maxLength: 320, description: 'Case-insensitive substring of an email address, the username or the name, or an exact user id.' })),
  username_query: Type.Optional(Type.String({ maxLength: 320, description: 'Case-insensitive substring of the username.' })),
  email_address_query: Type.Optional(Type.String({ maxLength: 320, description: 'Case-insensitive substring of an email address.' })),
  name_query: Type.Optional(Type.String({ maxLength: 320, description: 'Case-insensitive substring of the name.' })),
  created_at_after: timestamp('Created after this Unix time (ms).'),
  created_at_before: timestamp('Created before this Unix time (ms).'),
  last_sign_in_at_after: timestamp('Last signed in after this Unix time (ms).'),
  last_sign_in_at_before: timestamp('Last signed in before this Unix time (ms).'),
}

export const CountUsersQuery = Type.Object(filterFields, { additionalProperties: false })
export type CountUsersQuery = Static<typeof CountUsersQuery>

export const ListUsersQuery = Type.Object({
  ...filterFields,
  order_by: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], {
    default: '-created_at',
    description: '`created_at`, `updated_at`, `email_address`, `first_name`, `last_name`, `last_sign_in_at`, `username` or `last_active_at`; `-` descending, `+` or nothing ascending. Only the first value counts.',
  })),
  paginated: Type.Optional(Type.Boolean({ description: '`true` answers `{data, total_count}`; otherwise a plain array.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}, { additionalProperties: false })
export type ListUsersQuery = Static<typeof ListUsersQuery>

export const VerifyPasswordBody = Type.Object({
  password: Type.String({ maxLength: 1000 }),
}, { additionalProperties: false })
export type VerifyPasswordBody = Static<typeof VerifyPasswordBody>

export const PasswordVerified = Type.Object({ verified: Type.Boolean() }, { additionalProperties: false })

export const UserIdParams = Type.Object({ user_id: Type.String() })

const Verification = Type.Object({
  object: Type.Union([Type.Literal('verification_admin'), Type.Literal('verification_ticket'), Type.Literal('verification_otp')]),
  status: Type.Union([Type.Literal('verified'), Type.Literal('unverified')]),
  strategy: Type.Union([Type.Literal('admin'), Type.Literal('ticket'), Type.Literal('email_code')]),
  attempts: Type.Null(),
  expire_at: Type.Null(),
}, { additionalProperties: false })

export const ClerkEmailAddress = Type.Object({
  id: Type.String(),
  object: Type.Literal('email_address'),
  email_address: Type.String(),
  reserved: Type.Boolean(),
  verification: nullable(Verification),
  linked_to: Type.Array(Type.Object({ type: Type.String(), id: Type.String() })),
  matches_sso_connection: Type.Boolean(),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
}, { additionalProperties: false })
export type ClerkEmailAddress = Static<typeof ClerkEmailAddress>

const empty = Type.Array(Type.Object({}, { additionalProperties: true }), { description: 'Always empty in Foyer.' })
const absent = Type.Null({ description: 'Always null in Foyer.' })

export const ClerkUser = Type.Object({
  id: Type.String(),
  object: Type.Literal('user'),
  external_id: nullable(Type.String()),
  primary_email_address_id: nullable(Type.String()),
  primary_phone_number_id: absent,
  primary_web3_wallet_id: absent,
  username: nullable(Type.String({ description: 'Lower-cased; null where the instance has usernames off, or the user has none.' })),
  first_name: nullable(Type.String()),
  last_name: nullable(Type.String()),
  locale: absent,
  has_image: Type.Boolean(),
  public_metadata: Type.Object({}, { additionalProperties: true }),
  private_metadata: Type.Object({}, { additionalProperties: true }),
  unsafe_metadata: Type.Object({}, { additionalProperties: true }),
  email_addresses: Type.Array(ClerkEmailAddress),
  phone_numbers: empty,
  web3_wallets: empty,
  passkeys: empty,
  password_enabled: Type.Boolean(),
  two_factor_enabled: Type.Boolean(),
  totp_enabled: Type.Boolean(),
  backup_code_enabled: Type.Boolean(),
  mfa_enabled_at: absent,
  mfa_disabled_at: absent,
  external_accounts: empty,
  saml_accounts: empty,
  enterprise_accounts: empty,
  last_sign_in_at: nullable(Type.Integer()),
  banned: Type.Boolean(),
  locked: Type.Boolean(),
  lockout_expires_in_seconds: nullable(Type.Integer({ description: 'Seconds until a locked user\'s lock ends.' })),
  verification_attempts_remaining: nullable(Type.Integer({ description: 'Wrong passwords left before the account locks; null when lockout is off.' })),
  updated_at: Type.Integer(),
  created_at: Type.Integer(),
  delete_self_enabled: Type.Boolean(),
  create_organization_enabled: Type.Boolean(),
  create_organizations_limit: absent,
  last_active_at: nullable(Type.Integer({ description: 'Latest activity of any of the user\'s sessions, to the (UTC) day.' })),
  legal_accepted_at: absent,
}, { additionalProperties: false })
export type ClerkUser = Static<typeof ClerkUser>

export const UsersCount = Type.Object({ object: Type.Literal('total_count'), total_count: Type.Integer() }, { additionalProperties: false })

// Foyer's strategies, as Clerk's verification objects name them.
const VERIFICATION_OBJECTS = {
  admin: 'verification_admin',
  ticket: 'verification_ticket',
  email_code: 'verification_otp',
} as const

function toVerification(e: EmailAddressRow): ClerkEmailAddress['verification'] {
  const strategy = e.verification_strategy as keyof typeof VERIFICATION_OBJECTS | null
  // An address no strategy has been started for has no verification at all, as in Clerk.
  if (strategy === null || !(strategy in VERIFICATION_OBJECTS)) return null
  return {
    object: VERIFICATION_OBJECTS[strategy],
    status: e.verified_at === null ? 'unverified' : 'verified',
    strategy,
    attempts: null,
    expire_at: null,
  }
}

export function toClerkEmailAddress(e: EmailAddressRow): ClerkEmailAddress {
  return {
    id: e.id,
    object: 'email_address',
    email_address: e.email_address,
    reserved: false,
    verification: toVerification(e),
    linked_to: [],
    matches_sso_connection: false,
    created_at: e.created_at,
    updated_at: e.verified_at ?? e.created_at,
  }
}

/**
 * What a User's `locked` and lockout fields are read against: the instance's time and its
 * lockout settings (without them, `verification_attempts_remaining` is null).
 */
export interface UserStanding {
  now: number
  lockout?: UserLockout
}

/**
 * Clerk's User object. Foyer users have an email address, a name, an optional password and
 * metadata; everything else Clerk's User must carry is answered truthfully as empty, false or null.
 */
export function toClerkUser(row: UserRow & { last_active_at?: number | null }, standing: UserStanding): ClerkUser {
  const lastActiveAt = row.last_active_at ?? null
  const lockoutSeconds = lockoutExpiresInSeconds(row, standing.now)
  return {
    id: row.id,
    object: 'user',
    external_id: row.external_id ?? null,
    primary_email_address_id: row.primary_email_address_id,
    primary_phone_number_id: null,
    primary_web3_wallet_id: null,
    username: row.username ?? null,
    first_name: row.first_name,
    last_name: row.last_name,
    locale: null,
    has_image: false,
    public_metadata: row.public_metadata,
    private_metadata: row.private_metadata,
    unsafe_metadata: row.unsafe_metadata,
    email_addresses: row.email_addresses.map(toClerkEmailAddress),
    phone_numbers: [],
    web3_wallets: [],
    passkeys: [],
    password_enabled: row.password_hash !== null,
    two_factor_enabled: false,
    totp_enabled: false,
    backup_code_enabled: false,
    mfa_enabled_at: null,
    mfa_disabled_at: null,
    external_accounts: [],
    saml_accounts: [],
    enterprise_accounts: [],
    last_sign_in_at: row.last_sign_in_at,
    banned: row.banned,
    locked: lockoutSeconds !== null,
    lockout_expires_in_seconds: lockoutSeconds,
    verification_attempts_remaining: standing.lockout ? attemptsRemaining(row, standing.lockout) : null,
    updated_at: row.updated_at,
    created_at: row.created_at,
    // Foyer's Frontend API lets no one delete themselves or create organizations.
    delete_self_enabled: false,
    create_organization_enabled: false,
    create_organizations_limit: null,
    last_active_at: lastActiveAt === null ? null : Math.floor(lastActiveAt / DAY_MS) * DAY_MS,
    legal_accepted_at: null,
  }
}
