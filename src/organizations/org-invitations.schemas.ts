import { Type, type Static } from 'typebox'

/** What Clerk's lists filter by; 'declined' is Foyer's own (an invitee said no on `/accept`). */
export const ORG_INVITATION_STATUSES = ['pending', 'accepted', 'revoked', 'expired', 'declined'] as const
export type OrgInvitationStatus = (typeof ORG_INVITATION_STATUSES)[number]
const StatusSchema = Type.Union([Type.Literal('pending'), Type.Literal('accepted'), Type.Literal('revoked'), Type.Literal('expired'), Type.Literal('declined')])

// Clerk marks these nullable: an explicit null means "use the default".
const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])
const Metadata = (description: string) => Type.Object({}, { additionalProperties: true, description })

export const CreateOrgInvitationBody = Type.Object({
  email_address: Type.String({ maxLength: 320, description: 'The address invited; case-insensitive.' }),
  role: Type.String({ maxLength: 100, description: 'A role key of the instance, e.g. `org:member`.' }),
  inviter_user_id: Type.Optional(nullable(Type.String({ maxLength: 200, description: 'A member holding `org:sys_memberships:manage`; their name goes into the email.' }))),
  public_metadata: Type.Optional(nullable(Metadata('JSON object, at most 8 KB serialized; becomes the membership\'s public metadata on acceptance.'))),
  private_metadata: Type.Optional(nullable(Metadata('JSON object, at most 8 KB serialized; becomes the membership\'s private metadata on acceptance.'))),
  redirect_url: Type.Optional(nullable(Type.String({ maxLength: 2048, description: 'Absolute URL on an allowed origin where the link leads.' }))),
  expires_in_days: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: 365, default: 30 }))),
  notify: Type.Optional(nullable(Type.Boolean({ default: true, description: 'false: no email is sent.' }))),
}, { additionalProperties: false })
export type CreateOrgInvitationBody = Static<typeof CreateOrgInvitationBody>

export const CreateOrgInvitationBulkBody = Type.Array(CreateOrgInvitationBody, { minItems: 1, maxItems: 10 })
export type CreateOrgInvitationBulkBody = Static<typeof CreateOrgInvitationBulkBody>

export const RevokeOrgInvitationBody = Type.Object({
  requesting_user_id: Type.Optional(nullable(Type.String({ maxLength: 200, description: 'A member holding `org:sys_memberships:manage`.' }))),
}, { additionalProperties: false })
export type RevokeOrgInvitationBody = Static<typeof RevokeOrgInvitationBody>

// The SDK sends an array as the key repeated (`status=pending&status=accepted`); one value arrives as a string.
const StatusFilter = Type.Optional(Type.Union([StatusSchema, Type.Array(StatusSchema, { maxItems: ORG_INVITATION_STATUSES.length })], {
  description: 'One or more statuses (the key repeated). A pending invitation past its expiry is `expired`.',
}))
const page = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
  // Accepted for symmetry with the other lists; these lists always answer `{data, total_count}`.
  paginated: Type.Optional(Type.Boolean()),
}
const orderBy = Type.Optional(Type.String({ maxLength: 50, default: '-created_at', description: '`created_at` or `email_address`, with an optional `+`/`-` prefix (`+` when none).' }))

export const ListOrgInvitationsQuery = Type.Object({
  status: StatusFilter,
  email_address: Type.Optional(Type.String({ maxLength: 320, description: 'Only invitations to this address (exact, case-insensitive).' })),
  order_by: orderBy,
  ...page,
}, { additionalProperties: false })
export type ListOrgInvitationsQuery = Static<typeof ListOrgInvitationsQuery>

export const ListPendingOrgInvitationsQuery = Type.Object(page, { additionalProperties: false })
export type ListPendingOrgInvitationsQuery = Static<typeof ListPendingOrgInvitationsQuery>

export const ListInstanceOrgInvitationsQuery = Type.Object({
  status: StatusFilter,
  query: Type.Optional(Type.String({ maxLength: 320, description: 'Case-insensitive substring of the email address.' })),
  order_by: orderBy,
  ...page,
}, { additionalProperties: false })
export type ListInstanceOrgInvitationsQuery = Static<typeof ListInstanceOrgInvitationsQuery>

export const ListUserOrgInvitationsQuery = Type.Object({ status: StatusFilter, ...page }, { additionalProperties: false })
export type ListUserOrgInvitationsQuery = Static<typeof ListUserOrgInvitationsQuery>

export const OrganizationIdParams = Type.Object({ organization_id: Type.String() })
export const OrgInvitationIdParams = Type.Object({ organization_id: Type.String(), invitation_id: Type.String() })
export const UserIdParams = Type.Object({ user_id: Type.String() })

const PublicInviterData = Type.Object({
  user_id: Type.String(),
  first_name: nullable(Type.String()),
  last_name: nullable(Type.String()),
  image_url: Type.String(),
  has_image: Type.Boolean(),
  identifier: Type.String(),
}, { additionalProperties: false })

const PublicOrganizationData = Type.Object({
  id: Type.String(),
  name: Type.String(),
  slug: Type.String(),
  image_url: Type.String(),
  has_image: Type.Boolean(),
}, { additionalProperties: false })

const invitationProperties = {
  object: Type.Literal('organization_invitation'),
  id: Type.String(),
  email_address: Type.String(),
  role: Type.String(),
  role_name: Type.String(),
  organization_id: Type.String(),
  inviter_id: nullable(Type.String()),
  public_inviter_data: nullable(PublicInviterData),
  status: StatusSchema,
  public_metadata: Type.Object({}, { additionalProperties: true }),
  private_metadata: Type.Object({}, { additionalProperties: true }),
  url: nullable(Type.String()),
  expires_at: nullable(Type.Integer()),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
}

export const ClerkOrganizationInvitation = Type.Object(invitationProperties, { additionalProperties: false })
export type ClerkOrganizationInvitation = Static<typeof ClerkOrganizationInvitation>

export const ClerkOrganizationInvitationWithOrganization = Type.Object({
  ...invitationProperties,
  public_organization_data: PublicOrganizationData,
}, { additionalProperties: false })
export type ClerkOrganizationInvitationWithOrganization = Static<typeof ClerkOrganizationInvitationWithOrganization>

export const ClerkOrganizationInvitations = Type.Object({
  data: Type.Array(ClerkOrganizationInvitation),
  total_count: Type.Integer(),
}, { additionalProperties: false })

export const ClerkOrganizationInvitationsWithOrganization = Type.Object({
  data: Type.Array(ClerkOrganizationInvitationWithOrganization),
  total_count: Type.Integer(),
}, { additionalProperties: false })

/** The `organization_invitations` table. */
export interface OrgInvitationRow {
  id: string
  instance_id: string
  organization_id: string
  email_address: string
  role: string
  inviter_user_id: string | null
  public_metadata: Record<string, unknown>
  private_metadata: Record<string, unknown>
  redirect_url: string | null
  /** Stored statuses; 'expired' is stored only when a new invitation replaced a stale one. */
  status: 'pending' | 'accepted' | 'revoked' | 'declined' | 'expired'
  source: 'manual' | 'domain' | 'link'
  notify: boolean
  ticket_nonce: string
  ticket_hash: string
  expires_at: number
  accepted_by_user_id: string | null
  created_at: number
  updated_at: number
}

/**
 * A row as the store reads it: with its role's name, its inviter's public data (null once that
 * user is gone) and its organization's name and slug, all joined in the same statement.
 */
export interface OrgInvitationView extends OrgInvitationRow {
  role_name: string | null
  inviter_found: boolean | null
  inviter_first_name: string | null
  inviter_last_name: string | null
  inviter_identifier: string | null
  organization_name: string | null
  organization_slug: string | null
}

/** What a read needs besides the row: `withOrganization` adds `public_organization_data` (instance and user lists). */
export interface OrgInvitationExtras {
  withOrganization?: boolean
}

/** A pending invitation past its expiry reads as expired everywhere; the row keeps 'pending'. */
export function effectiveOrgInvitationStatus(row: Pick<OrgInvitationRow, 'status' | 'expires_at'>, now: number): OrgInvitationStatus {
  return row.status === 'pending' && row.expires_at <= now ? 'expired' : row.status
}

/**
 * Clerk's OrganizationInvitation object, in Clerk's field order. `url` carries the ticket,
 * so it is derived by the caller (tickets.url) and never stored; null leaves it empty.
 */
export function toClerkOrganizationInvitation(row: OrgInvitationView, now: number, url: string | null, extras: { withOrganization: true }): ClerkOrganizationInvitationWithOrganization
export function toClerkOrganizationInvitation(row: OrgInvitationView, now: number, url: string | null, extras?: OrgInvitationExtras): ClerkOrganizationInvitation
export function toClerkOrganizationInvitation(row: OrgInvitationView, now: number, url: string | null, extras: OrgInvitationExtras = {}): ClerkOrganizationInvitation | ClerkOrganizationInvitationWithOrganization {
  const invitation: ClerkOrganizationInvitation = {
    object: 'organization_invitation',
    id: row.id,
    email_address: row.email_address,
    role: row.role,
    // A role deleted since (roles in use cannot be, but a race could) still names itself.
    role_name: row.role_name ?? row.role,
    organization_id: row.organization_id,
    inviter_id: row.inviter_user_id,
    public_inviter_data: row.inviter_user_id && row.inviter_found
      ? {
          user_id: row.inviter_user_id,
          first_name: row.inviter_first_name,
          last_name: row.inviter_last_name,
          // Foyer users have no picture.
          image_url: '',
          has_image: false,
          identifier: row.inviter_identifier ?? '',
        }
      : null,
    status: effectiveOrgInvitationStatus(row, now),
    public_metadata: row.public_metadata,
    private_metadata: row.private_metadata,
    url,
    expires_at: row.expires_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  }
  if (!extras.withOrganization) return invitation
  return {
    ...invitation,
    public_organization_data: {
      id: row.organization_id,
      name: row.organization_name ?? '',
      slug: row.organization_slug ?? '',
      image_url: '',
      has_image: false,
    },
  }
}
