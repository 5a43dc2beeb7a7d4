import { Type, type Static } from 'typebox'

export const ENROLLMENT_MODES = ['manual_invitation', 'automatic_invitation', 'automatic_suggestion'] as const
export type EnrollmentMode = (typeof ENROLLMENT_MODES)[number]

const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])
// Clerk also knows `enterprise_sso`; Foyer has no SSO, so it is refused with a 422 naming it.
const EnrollmentModeText = Type.String({ description: '`manual_invitation`, `automatic_invitation` or `automatic_suggestion`.' })

export const DomainParams = Type.Object({ organization_id: Type.String(), domain_id: Type.String() })
export const OrganizationParams = Type.Object({ organization_id: Type.String() })

export const CreateDomainBody = Type.Object({
  name: Type.String({ maxLength: 253, description: 'The domain, e.g. `example.com`; case-insensitive.' }),
  enrollment_mode: Type.Optional(nullable(EnrollmentModeText)),
  verified: Type.Optional(nullable(Type.Boolean({
    default: true,
    description: 'Defaults to true, as in Clerk. `false` leaves it unverified until a code sent to an address at the domain comes back (`prepare_affiliation_verification`).',
  }))),
}, { additionalProperties: false })
export type CreateDomainBody = Static<typeof CreateDomainBody>

export const UpdateDomainBody = Type.Object({
  enrollment_mode: Type.Optional(nullable(EnrollmentModeText)),
  verified: Type.Optional(nullable(Type.Boolean())),
}, { additionalProperties: false })
export type UpdateDomainBody = Static<typeof UpdateDomainBody>

export const PrepareAffiliationBody = Type.Object({
  affiliation_email_address: Type.String({ maxLength: 320, description: 'An address at the domain: the code is emailed there.' }),
}, { additionalProperties: false })

export const AttemptAffiliationBody = Type.Object({
  code: Type.String({ maxLength: 32, description: 'The 6-digit code emailed by `prepare_affiliation_verification`.' }),
}, { additionalProperties: false })

const pagination = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}
const enrollmentFilter = Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], {
  description: 'Enrollment modes to include; a value prefixed with `-` is excluded instead. Comma-separated or repeated.',
}))

export const ListDomainsQuery = Type.Object({
  verified: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  enrollment_mode: enrollmentFilter,
  ...pagination,
}, { additionalProperties: false })
export type ListDomainsQuery = Static<typeof ListDomainsQuery>

export const ListAllDomainsQuery = Type.Object({
  organization_id: Type.Optional(Type.String()),
  verified: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  enrollment_mode: enrollmentFilter,
  query: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'An exact organization id (`org_…`), or a case-insensitive substring of the domain name.' })),
  domains: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description: 'Exact domain names; repeatable.' })),
  order_by: Type.Optional(Type.String({ default: '-created_at', description: '`name` or `created_at`, with an optional `+`/`-` prefix.' })),
  ...pagination,
}, { additionalProperties: false })
export type ListAllDomainsQuery = Static<typeof ListAllDomainsQuery>

const Verification = nullable(Type.Object({
  status: Type.String(),
  strategy: Type.String(),
  attempts: nullable(Type.Integer()),
  expire_at: nullable(Type.Integer()),
  verified_at: nullable(Type.Integer()),
}))

export const ClerkOrganizationDomain = Type.Object({
  object: Type.Literal('organization_domain'),
  id: Type.String(),
  organization_id: Type.String(),
  name: Type.String(),
  enrollment_mode: Type.String(),
  affiliation_email_address: nullable(Type.String()),
  affiliation_verification: Verification,
  ownership_verification: Verification,
  verification: Verification,
  total_pending_invitations: Type.Integer(),
  total_pending_suggestions: Type.Integer(),
  public_organization_data: nullable(Type.Object({
    id: Type.String(), name: Type.String(), slug: Type.String(), image_url: Type.String(), has_image: Type.Boolean(),
  })),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
})
export type ClerkOrganizationDomain = Static<typeof ClerkOrganizationDomain>

export const ClerkOrganizationDomains = Type.Object({ data: Type.Array(ClerkOrganizationDomain), total_count: Type.Integer() })

export interface DomainRow {
  id: string
  instance_id: string
  organization_id: string
  name: string
  enrollment_mode: EnrollmentMode
  verified_at: number | null
  verification_strategy: string | null
  affiliation_email_address: string | null
  code_nonce: string | null
  code_expires_at: number | null
  code_attempts: number
  created_at: number
  updated_at: number
}

/** A domain as read for the API: with its organization's public data and its pending counts. */
export interface DomainView extends DomainRow {
  organization_name: string
  organization_slug: string
  pending_invitations: number
  pending_suggestions: number
}

/**
 * Clerk's OrganizationDomain. Foyer proves a domain one way, by a code emailed to an address
 * there (or by the operator's word), so the affiliation and the ownership verification tell
 * the same story: `verification` is Clerk's deprecated alias of the first.
 */
export function toClerkDomain(row: DomainView, now: number): ClerkOrganizationDomain {
  const codeSent = row.code_expires_at !== null
  let status = 'unverified'
  if (row.verified_at !== null) status = 'verified'
  else if (codeSent && row.code_expires_at! <= now) status = 'expired'
  const strategy = row.verification_strategy ?? (codeSent ? 'email_code' : 'admin')
  const affiliation = row.verified_at === null && !codeSent ? null : {
    status, strategy, attempts: codeSent ? row.code_attempts : null, expire_at: row.code_expires_at, verified_at: null,
  }
  return {
    object: 'organization_domain',
    id: row.id,
    organization_id: row.organization_id,
    name: row.name,
    enrollment_mode: row.enrollment_mode,
    affiliation_email_address: row.affiliation_email_address,
    affiliation_verification: affiliation,
    ownership_verification: row.verified_at === null ? null : { status: 'verified', strategy, attempts: null, expire_at: null, verified_at: row.verified_at },
    verification: affiliation,
    total_pending_invitations: Number(row.pending_invitations),
    total_pending_suggestions: Number(row.pending_suggestions),
    public_organization_data: { id: row.organization_id, name: row.organization_name, slug: row.organization_slug, image_url: '', has_image: false },
    created_at: row.created_at,
    updated_at: row.updated_at,
  }
}
