import { Type, type Static } from 'typebox'
import { InstanceQuery } from './frontend.schemas.js'

// What clerk-js puts in the query of every `/v1/me/…` and `/v1/organizations/…` call: the
// session it acts for. Its other additions (`__clerk_api_version`, `_clerk_js_version`) are
// ignored, as unknown query parameters are.
const SessionId = Type.Optional(Type.String({ maxLength: 100, description: 'The session the client acts for (clerk-js sends it on every call); the cookie\'s session must be this one.' }))

const PageLimit = Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 }))
const PageOffset = Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 }))

// clerk-js turns `status: ['pending', 'accepted']` into `status=pending&status=accepted`; other
// clients send one value, or several separated by commas.
const Statuses = Type.Optional(Type.Union([
  Type.String({ maxLength: 200 }),
  Type.Array(Type.String({ maxLength: 200 }), { maxItems: 10 }),
], { description: 'One status, several separated by commas, or the parameter repeated; every status when left out.' }))

export const MeQuery = Type.Object({ instance: InstanceQuery.properties.instance, _clerk_session_id: SessionId })
export type MeQuery = Static<typeof MeQuery>

export const MyOrgInvitationsQuery = Type.Object({ ...MeQuery.properties, status: Statuses, limit: PageLimit, offset: PageOffset })
export type MyOrgInvitationsQuery = Static<typeof MyOrgInvitationsQuery>

export const MySuggestionsQuery = Type.Object({ ...MeQuery.properties, status: Statuses, limit: PageLimit, offset: PageOffset })
export type MySuggestionsQuery = Static<typeof MySuggestionsQuery>

export const MyMembershipsQuery = Type.Object({
  ...MeQuery.properties, limit: PageLimit, offset: PageOffset,
  paginated: Type.Optional(Type.Boolean({ description: '`false` answers a plain array, as Clerk\'s Frontend API does; otherwise `{data, total_count}`.' })),
})
export type MyMembershipsQuery = Static<typeof MyMembershipsQuery>

/** The statuses a `status` parameter names, however it was sent; null when it names none. */
export function statusList(value: string | string[] | undefined): string[] | null {
  if (value === undefined) return null
  const statuses = [value].flat().flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '')
  return statuses.length === 0 ? null : statuses
}

export const EmailIdParams = Type.Object({ email_id: Type.String({ maxLength: 100 }) })
export const AddEmailAddressBody = Type.Object({ email_address: Type.String({ maxLength: 320 }) })
export const MePrepareVerificationBody = Type.Object({ strategy: Type.String({ maxLength: 100 }) })
export const MeAttemptVerificationBody = Type.Object({ code: Type.String({ maxLength: 50 }) })
