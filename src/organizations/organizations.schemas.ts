import { Type, type Static } from 'typebox'

// Clerk marks these nullable: an explicit null means "leave as is" (update) or "use the default" (create).
const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])
const Metadata = (description: string) => Type.Object({}, { additionalProperties: true, description })

export interface OrganizationRow {
  id: string
  instance_id: string
  name: string
  slug: string
  /** 0 means no limit. */
  max_allowed_memberships: number
  admin_delete_enabled: boolean
  public_metadata: Record<string, unknown>
  private_metadata: Record<string, unknown>
  created_by: string | null
  created_at: number
  updated_at: number
}

/** What a request may ask to be added to an Organization beyond its row. */
export interface OrganizationExtras {
  membersCount?: number
  pendingInvitationsCount?: number
  missingMemberWithElevatedPermissions?: boolean
}

const nameField = Type.String({ minLength: 1, maxLength: 256, description: 'At most 256 characters; no URLs or HTML.' })
const slugField = Type.String({ minLength: 1, maxLength: 256, description: 'Lower-case letters, digits and dashes; unique in the instance.' })
const maxField = Type.Integer({ minimum: 0, maximum: 2_147_483_647, description: 'Members plus pending invitations may not exceed it; 0 means no limit.' })
const createdAtField = Type.String({ description: 'RFC 3339 date-time to record as the creation time.' })

export const CreateOrganizationBody = Type.Object({
  name: nameField,
  slug: Type.Optional(nullable(slugField)),
  created_by: Type.Optional(nullable(Type.String({ description: 'A user of the instance: becomes the first member, with the role `org:admin`.' }))),
  max_allowed_memberships: Type.Optional(nullable(maxField)),
  public_metadata: Type.Optional(nullable(Metadata('JSON object, at most 8 KB serialized.'))),
  private_metadata: Type.Optional(nullable(Metadata('JSON object, at most 8 KB serialized; only the Backend API sees it.'))),
  created_at: Type.Optional(nullable(createdAtField)),
  role_set_key: Type.Optional(nullable(Type.String({ description: 'Accepted for compatibility; Foyer has one role set.' }))),
}, { additionalProperties: false })
export type CreateOrganizationBody = Static<typeof CreateOrganizationBody>

export const UpdateOrganizationBody = Type.Object({
  name: Type.Optional(nullable(nameField)),
  slug: Type.Optional(nullable(slugField)),
  max_allowed_memberships: Type.Optional(nullable(maxField)),
  admin_delete_enabled: Type.Optional(nullable(Type.Boolean())),
  created_at: Type.Optional(nullable(createdAtField)),
  role_set_key: Type.Optional(nullable(Type.String({ description: 'Accepted for compatibility; Foyer has one role set.' }))),
  // Dropped from PATCH by Clerk's 2026-05-12 API, still accepted (replacing each one given) for older clients.
  public_metadata: Type.Optional(nullable(Metadata('Replaces the public metadata (older API versions); prefer PATCH …/metadata.'))),
  private_metadata: Type.Optional(nullable(Metadata('Replaces the private metadata (older API versions); prefer PATCH …/metadata.'))),
}, { additionalProperties: false })
export type UpdateOrganizationBody = Static<typeof UpdateOrganizationBody>

export const OrganizationMetadataBody = Type.Object({
  public_metadata: Type.Optional(nullable(Metadata('JSON object, at most 8 KB serialized once merged.'))),
  private_metadata: Type.Optional(nullable(Metadata('JSON object, at most 8 KB serialized once merged.'))),
}, { additionalProperties: false })
export type OrganizationMetadataBody = Static<typeof OrganizationMetadataBody>

// Query strings repeat a key for each value; one value arrives as a plain string.
const repeatable = (description: string) => Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description }))

export const ListOrganizationsQuery = Type.Object({
  query: Type.Optional(Type.String({ maxLength: 256, description: 'Case-insensitive substring of the name or slug, or an exact organization id.' })),
  order_by: Type.Optional(Type.String({ default: '-created_at', description: '`name`, `created_at` or `members_count`, with an optional `+`/`-` prefix.' })),
  include_members_count: Type.Optional(Type.Boolean()),
  include_missing_member_with_elevated_permissions: Type.Optional(Type.Boolean()),
  user_id: repeatable('Organizations any of these users is a member of; an id prefixed with `-` excludes its organizations instead. Up to 100.'),
  organization_id: repeatable('Only these organizations; an id prefixed with `-` is left out instead. Up to 100.'),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}, { additionalProperties: false })
export type ListOrganizationsQuery = Static<typeof ListOrganizationsQuery>

export const GetOrganizationQuery = Type.Object({
  include_members_count: Type.Optional(Type.Boolean()),
  include_missing_member_with_elevated_permissions: Type.Optional(Type.Boolean()),
}, { additionalProperties: false })
export type GetOrganizationQuery = Static<typeof GetOrganizationQuery>

export const OrganizationIdParams = Type.Object({ organization_id: Type.String() })

export const ClerkOrganization = Type.Object({
  object: Type.Literal('organization'),
  id: Type.String(),
  name: Type.String(),
  slug: Type.String(),
  image_url: Type.String({ description: 'Always empty: Foyer keeps no images.' }),
  has_image: Type.Boolean(),
  members_count: Type.Optional(Type.Integer()),
  pending_invitations_count: Type.Optional(Type.Integer()),
  missing_member_with_elevated_permissions: Type.Optional(Type.Boolean()),
  max_allowed_memberships: Type.Integer(),
  admin_delete_enabled: Type.Boolean(),
  public_metadata: Type.Object({}, { additionalProperties: true }),
  private_metadata: Type.Object({}, { additionalProperties: true }),
  created_by: Type.Optional(Type.String()),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
}, { additionalProperties: false })
export type ClerkOrganization = Static<typeof ClerkOrganization>

export const ClerkOrganizations = Type.Object({ data: Type.Array(ClerkOrganization), total_count: Type.Integer() }, { additionalProperties: false })

/** Clerk's Organization object. Counts appear only when asked for, as in Clerk. */
export function toClerkOrganization(row: OrganizationRow, extras: OrganizationExtras = {}): ClerkOrganization {
  const org: ClerkOrganization = {
    object: 'organization',
    id: row.id,
    name: row.name,
    slug: row.slug,
    image_url: '',
    has_image: false,
    max_allowed_memberships: row.max_allowed_memberships,
    admin_delete_enabled: row.admin_delete_enabled,
    public_metadata: row.public_metadata,
    private_metadata: row.private_metadata,
    created_at: row.created_at,
    updated_at: row.updated_at,
  }
  if (extras.membersCount !== undefined) org.members_count = extras.membersCount
  if (extras.pendingInvitationsCount !== undefined) org.pending_invitations_count = extras.pendingInvitationsCount
  if (extras.missingMemberWithElevatedPermissions !== undefined) org.missing_member_with_elevated_permissions = extras.missingMemberWithElevatedPermissions
  // Clerk's created_by is a string, never null: an organization nobody created has none.
  if (row.created_by !== null) org.created_by = row.created_by
  return org
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * Clerk's metadata merge: nested objects are merged key by key, a key set to null is removed,
 * anything else (arrays included) replaces what was there.
 */
export function mergeMetadata(current: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...current }
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key]
    else if (isPlainObject(value)) out[key] = mergeMetadata(isPlainObject(out[key]) ? out[key] as Record<string, unknown> : {}, value)
    else out[key] = value
  }
  return out
}

export const DeletedOrganization = Type.Object({
  object: Type.Literal('organization'),
  id: Type.String(),
  slug: Type.String(),
  deleted: Type.Boolean(),
}, { additionalProperties: false })
