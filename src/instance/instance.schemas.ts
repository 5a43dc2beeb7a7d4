import { Type, type Static } from 'typebox'

/** Requests per hour per instance; Clerk's defaults. `0` lifts a limit. */
export const DEFAULT_RATE_LIMITS = {
  create_invitation: 100,
  create_invitation_bulk: 25,
  create_organization_invitation: 250,
  create_organization_invitation_bulk: 50,
} as const
export type RateLimitName = keyof typeof DEFAULT_RATE_LIMITS
export type RateLimits = Record<RateLimitName, number>

/** Locking an account after wrong passwords in a row; Clerk's defaults. */
export const DEFAULT_USER_LOCKOUT = { enabled: true, max_attempts: 100, duration_in_minutes: 60 }
export type UserLockout = typeof DEFAULT_USER_LOCKOUT

/** Usernames, as Clerk's `user_settings.attributes.username`: off unless enabled; `required` needs `enabled`. */
export const DEFAULT_USERNAME_SETTINGS = { enabled: false, required: false }
export type UsernameSettings = typeof DEFAULT_USERNAME_SETTINGS

export const SIGN_UP_MODES = ['public', 'restricted', 'waitlist'] as const
const SignUpMode = Type.Union([Type.Literal('public'), Type.Literal('restricted'), Type.Literal('waitlist')])

export interface InstanceRow {
  id: string
  name: string
  environment_type: 'development' | 'production'
  publishable_key: string
  is_default: boolean
  sign_up_mode: (typeof SIGN_UP_MODES)[number]
  home_url: string | null
  after_sign_up_url: string | null
  rate_limits: Partial<RateLimits>
  user_lockout: Partial<UserLockout>
  username_settings: Partial<UsernameSettings>
  allowed_redirect_origins: string[]
  remind_before_expiry_days: number
  clock_offset_ms: number
  created_at: number
  updated_at: number
}

/** What a request carries once its secret key is known. */
export interface Instance {
  id: string
  name: string
  environmentType: 'development' | 'production'
  publishableKey: string
  /** The instance created at first start: the one FOYER_SECRET_KEY pins a key of. */
  isDefault: boolean
  signUpMode: InstanceRow['sign_up_mode']
  homeUrl: string | null
  afterSignUpUrl: string | null
  rateLimits: RateLimits
  userLockout: UserLockout
  username: UsernameSettings
  /** Origins this instance allows on top of the server's (see redirectOriginsOf). */
  allowedRedirectOrigins: readonly string[]
  /** Days before expiry that a pending invitation is reminded of; 0: never. */
  remindBeforeExpiryDays: number
  clockOffsetMs: number
  createdAt: number
  updatedAt: number
}

export function toInstance(row: InstanceRow): Instance {
  return {
    id: row.id,
    name: row.name,
    environmentType: row.environment_type,
    publishableKey: row.publishable_key,
    isDefault: row.is_default,
    signUpMode: row.sign_up_mode,
    homeUrl: row.home_url,
    afterSignUpUrl: row.after_sign_up_url,
    rateLimits: { ...DEFAULT_RATE_LIMITS, ...row.rate_limits },
    userLockout: { ...DEFAULT_USER_LOCKOUT, ...row.user_lockout },
    username: { ...DEFAULT_USERNAME_SETTINGS, ...row.username_settings },
    allowedRedirectOrigins: row.allowed_redirect_origins ?? [],
    remindBeforeExpiryDays: row.remind_before_expiry_days ?? 0,
    clockOffsetMs: row.clock_offset_ms,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

/**
 * The origins a redirect URL (and a Frontend API caller) of this instance may have: the
 * server's, from FOYER_ALLOWED_REDIRECT_ORIGINS, which every instance allows, and the
 * instance's own.
 */
export function redirectOriginsOf(instance: Pick<Instance, 'allowedRedirectOrigins'>, configured: readonly string[]): readonly string[] {
  return instance.allowedRedirectOrigins.length === 0 ? configured : [...configured, ...instance.allowedRedirectOrigins]
}

export const MAX_INSTANCE_ORIGINS = 50

const rateLimit = Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Requests per hour; 0 lifts the limit.' })

export const RateLimitsSchema = Type.Object({
  create_invitation: rateLimit,
  create_invitation_bulk: rateLimit,
  create_organization_invitation: rateLimit,
  create_organization_invitation_bulk: rateLimit,
}, { additionalProperties: false })

const UserLockoutSchema = Type.Object({
  enabled: Type.Boolean({ description: 'Whether wrong passwords lock an account.' }),
  max_attempts: Type.Integer({ minimum: 1, maximum: 1000, description: 'Wrong passwords in a row that lock the account.' }),
  duration_in_minutes: Type.Integer({ minimum: 1, maximum: 365 * 24 * 60, description: 'How long a lock lasts, automatic or through `POST /v1/users/{user_id}/lock`.' }),
}, { additionalProperties: false })

const RemindBeforeExpiryDays = Type.Integer({
  minimum: 0, maximum: 365,
  description: 'Foyer extension: days before expiry that a pending invitation (application or organization) sent by email gets one reminder email (`invitation_reminder` / `organization_invitation_reminder`); 0 sends none.',
})
const UsernameSettingsSchema = Type.Object({
  enabled: Type.Boolean({ description: 'Whether users have a username: set through the Backend API, given at sign-up, and usable to sign in in place of an email address.' }),
  required: Type.Boolean({ description: 'Whether sign-up needs one (and the Backend API\'s user creation); implies `enabled`.' }),
}, { additionalProperties: false })

export const InstanceSettings = Type.Object({
  object: Type.Literal('instance'),
  id: Type.String(),
  environment_type: Type.Union([Type.Literal('development'), Type.Literal('production')]),
  application_name: Type.String(),
  publishable_key: Type.String(),
  sign_up_mode: SignUpMode,
  home_url: Type.Union([Type.String(), Type.Null()]),
  after_sign_up_url: Type.Union([Type.String(), Type.Null()]),
  rate_limits: RateLimitsSchema,
  user_lockout: UserLockoutSchema,
  username: UsernameSettingsSchema,
  allowed_redirect_origins: Type.Array(Type.String(), { description: 'Origins this instance allows for redirect URLs and Frontend API callers, besides the server\'s.' }),
  remind_before_expiry_days: RemindBeforeExpiryDays,
  server_redirect_origins: Type.Array(Type.String(), { description: 'Origins every instance allows (FOYER_ALLOWED_REDIRECT_ORIGINS); read-only.' }),
  jwt_public_key: Type.String({ description: 'The current session-token signing key as an SPKI PEM (RSA-2048), for `jwtKey` / CLERK_JWT_KEY; it changes when the key is rotated.' }),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
}, { additionalProperties: false })
export type InstanceSettings = Static<typeof InstanceSettings>

export const UpdateInstanceBody = Type.Object({
  application_name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  sign_up_mode: Type.Optional(SignUpMode),
  home_url: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  after_sign_up_url: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  rate_limits: Type.Optional(Type.Partial(RateLimitsSchema, { additionalProperties: false })),
  user_lockout: Type.Optional(Type.Partial(UserLockoutSchema, { additionalProperties: false })),
  username: Type.Optional(Type.Partial(UsernameSettingsSchema, { additionalProperties: false })),
  allowed_redirect_origins: Type.Optional(Type.Array(Type.String({ maxLength: 2048 }), {
    maxItems: MAX_INSTANCE_ORIGINS,
    description: 'Replaces the instance\'s own origins: exact (https://app.example.com) or any port (http://localhost:*).',
  })),
  remind_before_expiry_days: Type.Optional(RemindBeforeExpiryDays),
}, { additionalProperties: false })
export type UpdateInstanceBody = Static<typeof UpdateInstanceBody>

export const AdvanceClockBody = Type.Object({
  advance_ms: Type.Integer({ minimum: 0, maximum: 100 * 365 * 24 * 3600 * 1000 }),
}, { additionalProperties: false })

export function toInstanceSettings(i: Instance, serverOrigins: readonly string[], jwtPublicKey: string): InstanceSettings {
  return {
    object: 'instance',
    id: i.id,
    environment_type: i.environmentType,
    application_name: i.name,
    publishable_key: i.publishableKey,
    sign_up_mode: i.signUpMode,
    home_url: i.homeUrl,
    after_sign_up_url: i.afterSignUpUrl,
    rate_limits: i.rateLimits,
    user_lockout: i.userLockout,
    username: i.username,
    allowed_redirect_origins: [...i.allowedRedirectOrigins],
    remind_before_expiry_days: i.remindBeforeExpiryDays,
    server_redirect_origins: [...serverOrigins],
    jwt_public_key: jwtPublicKey,
    created_at: i.createdAt,
    updated_at: i.updatedAt,
  }
}
