import { Type, type Static } from 'typebox'
import { ClerkInvitation, toClerkInvitation, type InvitationRow } from '../invitations/invitations.schemas.js'

export const WAITLIST_STATUSES = ['pending', 'invited', 'completed', 'rejected'] as const
export type WaitlistStatus = (typeof WAITLIST_STATUSES)[number]
const StatusSchema = Type.Union([Type.Literal('pending'), Type.Literal('invited'), Type.Literal('completed'), Type.Literal('rejected')])

const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

export const ListWaitlistEntriesQuery = Type.Object({
  query: Type.Optional(Type.String({ maxLength: 320, description: 'Case-insensitive substring of the email address, or an exact entry id.' })),
  status: Type.Optional(StatusSchema),
  order_by: Type.Optional(Type.String({ default: '-created_at', description: '`created_at`, `email_address` or `invited_at`, with an optional `+`/`-` prefix.' })),
  paginated: Type.Optional(Type.Boolean({ description: 'Accepted for symmetry with other lists: this list always answers `{data, total_count}`.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}, { additionalProperties: false })
export type ListWaitlistEntriesQuery = Static<typeof ListWaitlistEntriesQuery>

export const CreateWaitlistEntryBody = Type.Object({
  email_address: Type.String({ maxLength: 320, description: 'Case-insensitive; an address already on the waitlist answers its existing entry.' }),
  notify: Type.Optional(nullable(Type.Boolean({ description: 'Accepted; Foyer sends no confirmation email for a waitlist entry.' }))),
}, { additionalProperties: false })
export type CreateWaitlistEntryBody = Static<typeof CreateWaitlistEntryBody>

export const InviteWaitlistEntryBody = Type.Object({
  ignore_existing: Type.Optional(nullable(Type.Boolean({ default: false, description: 'Invite even when the address has a pending invitation or belongs to a user.' }))),
}, { additionalProperties: false })
export type InviteWaitlistEntryBody = Static<typeof InviteWaitlistEntryBody>

export const WaitlistEntryIdParams = Type.Object({ waitlist_entry_id: Type.String() })

export const ClerkWaitlistEntry = Type.Object({
  object: Type.Literal('waitlist_entry'),
  id: Type.String(),
  email_address: Type.String(),
  status: StatusSchema,
  is_locked: Type.Boolean(),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
  invitation: nullable(ClerkInvitation),
}, { additionalProperties: false })
export type ClerkWaitlistEntry = Static<typeof ClerkWaitlistEntry>

export interface WaitlistEntryRow {
  id: string
  instance_id: string
  email_address: string
  /** As read: an invited entry whose invitation was accepted reads 'completed'. */
  status: WaitlistStatus
  invitation_id: string | null
  created_at: number
  updated_at: number
  /** The entry's invitation; null before it is invited, or once that invitation is deleted. */
  invitation: InvitationRow | null
}

/** Clerk's WaitlistEntry, with its Invitation (whose `url` carries the ticket, so it is derived here). */
export function toClerkWaitlistEntry(row: WaitlistEntryRow, now: number, url: (invitation: InvitationRow) => string): ClerkWaitlistEntry {
  return {
    object: 'waitlist_entry',
    id: row.id,
    email_address: row.email_address,
    status: row.status,
    is_locked: false,
    created_at: row.created_at,
    updated_at: row.updated_at,
    invitation: row.invitation ? toClerkInvitation(row.invitation, now, url(row.invitation)) : null,
  }
}
