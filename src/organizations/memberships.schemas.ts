import { Type, type Static } from 'typebox'
import { ClerkOrganization, toClerkOrganization, type OrganizationRow } from './organizations.schemas.js'

const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])
const Metadata = (description: string) => Type.Object({}, { additionalProperties: true, description })

export interface MembershipRow {
  id: string
  instance_id: string
  organization_id: string
  user_id: string
  /** A role key. */
  role: string
  public_metadata: Record<string, unknown>
  private_metadata: Record<string, unknown>
  created_at: number
  updated_at: number
}

/** What Clerk's OrganizationMembership shows of its user. */
export interface MemberUser {
  first_name: string | null
  last_name: string | null
  /** The primary email address. */
  identifier: string | null
}

/** A membership with everything its Clerk object shows, as the store reads it in one statement. */
export interface MembershipDetails extends MembershipRow {
  organization: OrganizationRow
  user: MemberUser
  /** Null if the role no longer exists (it cannot be deleted while held; kept for safety). */
  role_name: string | null
  permissions: string[]
}

export const CreateMembershipBody = Type.Object({
  user_id: Type.String({ minLength: 1, description: 'A user of the instance who is not yet a member.' }),
  role: Type.String({ minLength: 1, description: 'An existing role key, e.g. `org:member`.' }),
  public_metadata: Type.Optional(nullable(Metadata('JSON object, at most 8 KB serialized.'))),
  private_metadata: Type.Optional(nullable(Metadata('JSON object, at most 8 KB serialized; only the Backend API sees it.'))),
}, { additionalProperties: false })
export type CreateMembershipBody = Static<typeof CreateMembershipBody>

export const UpdateMembershipBody = Type.Object({
  role: Type.String({ minLength: 1, description: 'An existing role key.' }),
  // Not in Clerk's body for this route; Foyer takes them here too (replacing each one given).
  public_metadata: Type.Optional(nullable(Metadata('Replaces the membership\'s public metadata.'))),
  private_metadata: Type.Optional(nullable(Metadata('Replaces the membership\'s private metadata.'))),
}, { additionalProperties: false })
export type UpdateMembershipBody = Static<typeof UpdateMembershipBody>

export const MembershipMetadataBody = Type.Object({
  public_metadata: Type.Optional(nullable(Metadata('Deep-merged into the public metadata; a key set to null is removed.'))),
  private_metadata: Type.Optional(nullable(Metadata('Deep-merged into the private metadata; a key set to null is removed.'))),
}, { additionalProperties: false })
export type MembershipMetadataBody = Static<typeof MembershipMetadataBody>

const repeatable = (description: string) => Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description }))

export const ListMembershipsQuery = Type.Object({
  order_by: Type.Optional(Type.String({ default: '-created_at', description: '`created_at`, `email_address`, `first_name` or `last_name`, with an optional `+`/`-` prefix.' })),
  user_id: repeatable('Members with these user ids; an id prefixed with `-` is left out instead. Up to 100.'),
  email_address: repeatable('Members holding one of these addresses (exact, case-insensitive). Up to 100.'),
  role: repeatable('Members holding one of these roles. Up to 100.'),
  query: Type.Optional(Type.String({ maxLength: 320, description: 'Case-insensitive substring of the member\'s address or name, or an exact user id.' })),
  email_address_query: Type.Optional(Type.String({ maxLength: 320 })),
  name_query: Type.Optional(Type.String({ maxLength: 320 })),
  created_at_before: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Users created before this Unix time (ms).' })),
  created_at_after: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Users created after this Unix time (ms).' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}, { additionalProperties: false })
export type ListMembershipsQuery = Static<typeof ListMembershipsQuery>

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}, { additionalProperties: false })
export type PageQuery = Static<typeof PageQuery>

export const InstanceMembershipsQuery = Type.Object({
  order_by: Type.Optional(Type.String({ description: 'As for an organization\'s memberships, e.g. `-created_at` (the default), `email_address`, `first_name`.' })),
  ...PageQuery.properties,
}, { additionalProperties: false })
export type InstanceMembershipsQuery = Static<typeof InstanceMembershipsQuery>

export const MembershipParams = Type.Object({ organization_id: Type.String(), user_id: Type.String() })
export const UserIdParams = Type.Object({ user_id: Type.String() })

export const ClerkMembershipPublicUserData = Type.Object({
  user_id: Type.String(),
  first_name: nullable(Type.String()),
  last_name: nullable(Type.String()),
  profile_image_url: nullable(Type.String()),
  image_url: Type.String({ description: 'Always empty: Foyer keeps no images.' }),
  has_image: Type.Boolean(),
  identifier: nullable(Type.String({ description: 'The primary email address.' })),
  username: Type.Null(),
}, { additionalProperties: false })

export const ClerkMembership = Type.Object({
  object: Type.Literal('organization_membership'),
  id: Type.String(),
  role: Type.String(),
  role_name: Type.String(),
  permissions: Type.Array(Type.String()),
  public_metadata: Type.Object({}, { additionalProperties: true }),
  private_metadata: Type.Object({}, { additionalProperties: true }),
  organization: ClerkOrganization,
  public_user_data: ClerkMembershipPublicUserData,
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
}, { additionalProperties: false })
export type ClerkMembership = Static<typeof ClerkMembership>

export const ClerkMemberships = Type.Object({ data: Type.Array(ClerkMembership), total_count: Type.Integer() }, { additionalProperties: false })

/** Clerk's OrganizationMembership: the role's current permissions, the organization and the member's public data. */
export function toClerkMembership(m: MembershipDetails): ClerkMembership {
  return {
    object: 'organization_membership',
    id: m.id,
    role: m.role,
    role_name: m.role_name ?? m.role,
    permissions: m.permissions,
    public_metadata: m.public_metadata,
    private_metadata: m.private_metadata,
    organization: toClerkOrganization(m.organization),
    public_user_data: {
      user_id: m.user_id,
      first_name: m.user.first_name,
      last_name: m.user.last_name,
      profile_image_url: null,
      image_url: '',
      has_image: false,
      identifier: m.user.identifier,
      username: null,
    },
    created_at: m.created_at,
    updated_at: m.updated_at,
  }
}
