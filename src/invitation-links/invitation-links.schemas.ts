import { Type, type Static } from 'typebox'

const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

export const MAX_ALLOWED_DOMAINS = 50

export const CreateInvitationLinkBody = Type.Object({
  organization_id: Type.Optional(nullable(Type.String({ maxLength: 200, description: 'The organization people join through the link; left out, the link is into the application.' }))),
  role: Type.Optional(nullable(Type.String({ maxLength: 100, description: 'With `organization_id` (and only with it): the role people join with, e.g. `org:member`.' }))),
  max_uses: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'How many addresses may use the link; null or left out: unlimited.' }))),
  expires_at: Type.Optional(nullable(Type.Integer({ minimum: 0, description: 'Unix time in milliseconds, in the future; null or left out: the link does not expire.' }))),
  allowed_domains: Type.Optional(nullable(Type.Array(Type.String({ maxLength: 253 }), {
    maxItems: MAX_ALLOWED_DOMAINS, description: 'Email domains an address must be at (`acme.com`); empty or left out: any domain.',
  }))),
  public_metadata: Type.Optional(nullable(Type.Object({}, {
    additionalProperties: true,
    description: 'JSON object, at most 8 KB serialized, given to everyone who joins: the user\'s public metadata for an application link, the membership\'s for an organization link.',
  }))),
}, { additionalProperties: false })
export type CreateInvitationLinkBody = Static<typeof CreateInvitationLinkBody>

export const ListInvitationLinksQuery = Type.Object({
  organization_id: Type.Optional(Type.String({ maxLength: 200 })),
  paginated: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}, { additionalProperties: false })
export type ListInvitationLinksQuery = Static<typeof ListInvitationLinksQuery>

export const ListUsesQuery = Type.Object({
  paginated: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}, { additionalProperties: false })
export type ListUsesQuery = Static<typeof ListUsesQuery>

export const InvitationLinkIdParams = Type.Object({ invitation_link_id: Type.String() })

const LINK_STATUSES = ['active', 'revoked', 'expired', 'used_up'] as const
export type InvitationLinkStatus = (typeof LINK_STATUSES)[number]

export const ClerkInvitationLink = Type.Object({
  object: Type.Literal('invitation_link'),
  id: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('revoked'), Type.Literal('expired'), Type.Literal('used_up')], { description: '`expired` and `used_up` are read from `expires_at` and `use_count`.' }),
  url: Type.String({ description: 'The link to share. It carries the link\'s secret token.' }),
  organization_id: nullable(Type.String()),
  role: nullable(Type.String()),
  public_metadata: Type.Object({}, { additionalProperties: true }),
  allowed_domains: Type.Array(Type.String()),
  max_uses: nullable(Type.Integer()),
  use_count: Type.Integer(),
  expires_at: nullable(Type.Integer()),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
}, { additionalProperties: false })
export type ClerkInvitationLink = Static<typeof ClerkInvitationLink>

export const ClerkInvitationLinkUse = Type.Object({
  object: Type.Literal('invitation_link_use'),
  id: Type.String(),
  invitation_link_id: Type.String(),
  email_address: Type.String(),
  user_id: nullable(Type.String({ description: 'The account that holds the address: known once the person signed up or in.' })),
  joined: Type.Boolean({ description: 'Whether the person completed sign-up or sign-in and joined.' }),
  created_at: Type.Integer({ description: 'When the address was proven and the use counted.' }),
}, { additionalProperties: false })
export type ClerkInvitationLinkUse = Static<typeof ClerkInvitationLinkUse>

export interface InvitationLinkRow {
  id: string
  instance_id: string
  organization_id: string | null
  role: string | null
  public_metadata: Record<string, unknown>
  allowed_domains: string[]
  max_uses: number | null
  use_count: number
  status: 'active' | 'revoked'
  token_nonce: string
  token_hash: string
  expires_at: number | null
  created_at: number
  updated_at: number
}

export interface InvitationLinkUseRow {
  id: string
  link_id: string
  instance_id: string
  email_address: string
  invitation_id: string | null
  user_id: string | null
  created_at: number
}

/** A use as read for the API: the user id comes from the personal invitation once it was accepted. */
export type InvitationLinkUseView = InvitationLinkUseRow & { joined_user_id: string | null }

export function linkStatus(row: Pick<InvitationLinkRow, 'status' | 'expires_at' | 'max_uses' | 'use_count'>, now: number): InvitationLinkStatus {
  if (row.status === 'revoked') return 'revoked'
  if (row.expires_at !== null && row.expires_at <= now) return 'expired'
  if (row.max_uses !== null && row.use_count >= row.max_uses) return 'used_up'
  return 'active'
}

export function toClerkInvitationLink(row: InvitationLinkRow, now: number, url: string): ClerkInvitationLink {
  return {
    object: 'invitation_link',
    id: row.id,
    status: linkStatus(row, now),
    url,
    organization_id: row.organization_id,
    role: row.role,
    public_metadata: row.public_metadata,
    allowed_domains: row.allowed_domains,
    max_uses: row.max_uses,
    use_count: Number(row.use_count),
    expires_at: row.expires_at === null ? null : Number(row.expires_at),
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
  }
}

export function toClerkInvitationLinkUse(row: InvitationLinkUseView): ClerkInvitationLinkUse {
  return {
    object: 'invitation_link_use',
    id: row.id,
    invitation_link_id: row.link_id,
    email_address: row.email_address,
    user_id: row.joined_user_id ?? row.user_id,
    joined: row.joined_user_id !== null,
    created_at: Number(row.created_at),
  }
}
