import { Type, type Static } from 'typebox'

export const STATUSES = ['pending', 'accepted', 'revoked', 'expired'] as const
export type InvitationStatus = (typeof STATUSES)[number]
const StatusSchema = Type.Union([Type.Literal('pending'), Type.Literal('accepted'), Type.Literal('revoked'), Type.Literal('expired')])

// Clerk marks these nullable: an explicit null means "use the default".
const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

const invitationFields = {
  email_address: Type.String({ description: 'The email address the invitation is sent to; case-insensitive.' }),
  public_metadata: Type.Optional(nullable(Type.Object({}, { additionalProperties: true, description: 'JSON object, at most 8 KB serialized; copied into the user\'s public metadata on sign-up.' }))),
  redirect_url: Type.Optional(nullable(Type.String({ description: 'Absolute URL on an allowed origin where the link leads.' }))),
  notify: Type.Optional(nullable(Type.Boolean({ default: true }))),
  ignore_existing: Type.Optional(nullable(Type.Boolean({ default: false }))),
  expires_in_days: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: 365, default: 30 }))),
  template_slug: Type.Optional(nullable(Type.Union([Type.Literal('invitation'), Type.Literal('waitlist_invitation')], { default: 'invitation' }))),
}

export const CreateInvitationBody = Type.Object(invitationFields, { additionalProperties: false })
export type CreateInvitationBody = Static<typeof CreateInvitationBody>

export const CreateBulkInvitationsBody = Type.Array(CreateInvitationBody, { minItems: 1, maxItems: 10 })
export type CreateBulkInvitationsBody = Static<typeof CreateBulkInvitationsBody>

export const ListInvitationsQuery = Type.Object({
  status: Type.Optional(StatusSchema),
  query: Type.Optional(Type.String({ maxLength: 320, description: 'Case-insensitive substring of the email address, or an exact invitation id.' })),
  order_by: Type.Optional(Type.String({ default: '-created_at', description: '`created_at`, `email_address` or `expires_at`, with an optional `+`/`-` prefix.' })),
  paginated: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}, { additionalProperties: false })
export type ListInvitationsQuery = Static<typeof ListInvitationsQuery>

export const InvitationIdParams = Type.Object({ invitation_id: Type.String() })

export const ResendInvitationBody = Type.Object({
  expires_in_days: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: 365, default: 30, description: 'Only when an expired invitation is re-issued: days until the new link expires.' }))),
}, { additionalProperties: false })

export const ClerkInvitation = Type.Object({
  object: Type.Literal('invitation'),
  id: Type.String(),
  email_address: Type.String(),
  public_metadata: Type.Object({}, { additionalProperties: true }),
  revoked: Type.Boolean(),
  status: StatusSchema,
  url: Type.String(),
  expires_at: Type.Integer(),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
}, { additionalProperties: false })
export type ClerkInvitation = Static<typeof ClerkInvitation>

export const DeletedObject = Type.Object({
  object: Type.String(),
  id: Type.String(),
  deleted: Type.Boolean(),
})

export interface InvitationRow {
  id: string
  instance_id: string
  email_address: string
  public_metadata: Record<string, unknown>
  redirect_url: string | null
  status: 'pending' | 'accepted' | 'revoked'
  notify: boolean
  template_slug: string
  ticket_nonce: string
  ticket_hash: string
  expires_at: number
  created_at: number
  updated_at: number
}

/** A pending invitation past its expiry reads as expired everywhere; the row keeps 'pending'. */
export function effectiveStatus(row: Pick<InvitationRow, 'status' | 'expires_at'>, now: number): InvitationStatus {
  return row.status === 'pending' && row.expires_at <= now ? 'expired' : row.status
}

/** Clerk's Invitation object. `url` carries the ticket, so it is computed here and never stored. */
export function toClerkInvitation(row: Pick<InvitationRow, 'id' | 'email_address' | 'public_metadata' | 'status' | 'expires_at' | 'created_at' | 'updated_at'>, now: number, url: string): ClerkInvitation {
  const status = effectiveStatus(row, now)
  return {
    object: 'invitation',
    id: row.id,
    email_address: row.email_address,
    public_metadata: row.public_metadata,
    revoked: status === 'revoked',
    status,
    url,
    expires_at: row.expires_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  }
}
