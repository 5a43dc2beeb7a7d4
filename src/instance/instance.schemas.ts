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
  signUpMode: InstanceRow['sign_up_mode']
  homeUrl: string | null
  afterSignUpUrl: string | null
  rateLimits: RateLimits
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
    signUpMode: row.sign_up_mode,
    homeUrl: row.home_url,
    afterSignUpUrl: row.after_sign_up_url,
    rateLimits: { ...DEFAULT_RATE_LIMITS, ...row.rate_limits },
    clockOffsetMs: row.clock_offset_ms,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

const rateLimit = Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Requests per hour; 0 lifts the limit.' })

export const RateLimitsSchema = Type.Object({
  create_invitation: rateLimit,
  create_invitation_bulk: rateLimit,
  create_organization_invitation: rateLimit,
  create_organization_invitation_bulk: rateLimit,
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
}, { additionalProperties: false })
export type UpdateInstanceBody = Static<typeof UpdateInstanceBody>

export const AdvanceClockBody = Type.Object({
  advance_ms: Type.Integer({ minimum: 0, maximum: 100 * 365 * 24 * 3600 * 1000 }),
}, { additionalProperties: false })

export function toInstanceSettings(i: Instance): InstanceSettings {
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
    created_at: i.createdAt,
    updated_at: i.updatedAt,
  }
}
