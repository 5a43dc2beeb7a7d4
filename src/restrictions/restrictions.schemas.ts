import { Type, type Static } from 'typebox'
import type { ListedIdentifierRow, ListName } from './restrictions.store.js'

export const ListIdentifiersQuery = Type.Object({
  paginated: Type.Optional(Type.Boolean({ description: '`true` answers `{data, total_count}`; otherwise a plain array (the allowlist only: the blocklist always answers `{data, total_count}`).' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}, { additionalProperties: false })
export type ListIdentifiersQuery = Static<typeof ListIdentifiersQuery>

const identifier = Type.String({ maxLength: 320, description: 'An email address, or a whole domain written `*@example.com` (or `@example.com`). Stored lower-cased.' })

export const CreateAllowlistIdentifierBody = Type.Object({
  identifier,
  notify: Type.Optional(Type.Boolean({ default: false, description: '`true` sends an invitation to an email address (not to a domain); its id is the entry\'s `invitation_id`.' })),
}, { additionalProperties: false })
export const CreateBlocklistIdentifierBody = Type.Object({ identifier }, { additionalProperties: false })
export type CreateIdentifierBody = Static<typeof CreateAllowlistIdentifierBody>

export const IdentifierIdParams = Type.Object({ identifier_id: Type.String() })

const common = {
  id: Type.String(),
  identifier: Type.String(),
  identifier_type: Type.Literal('email_address'),
  instance_id: Type.String(),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
}
export const ClerkAllowlistIdentifier = Type.Object({
  object: Type.Literal('allowlist_identifier'), ...common, invitation_id: Type.Optional(Type.String()),
}, { additionalProperties: false })
export const ClerkBlocklistIdentifier = Type.Object({ object: Type.Literal('blocklist_identifier'), ...common }, { additionalProperties: false })

const OBJECTS = { allowlist: 'allowlist_identifier', blocklist: 'blocklist_identifier' } as const

export function toClerkIdentifier(row: ListedIdentifierRow) {
  return {
    object: OBJECTS[row.list], id: row.id, identifier: row.identifier, identifier_type: 'email_address' as const,
    // Clerk's schema has no null here: the key is left out when no invitation was sent.
    ...(row.list === 'allowlist' && row.invitation_id ? { invitation_id: row.invitation_id } : {}),
    instance_id: row.instance_id, created_at: row.created_at, updated_at: row.updated_at,
  }
}

