import { Type, type Static } from 'typebox'

/** The README's event types: the reference spec's, plus Foyer's `invitation.*`, `organizationInvitation.declined` and `.expired`, and `organizationSuggestion.accepted` and `invitationLink.*`. */
export const EVENT_TYPES = [
  'invitation.created', 'invitation.accepted', 'invitation.revoked', 'invitation.expired',
  'organizationInvitation.created', 'organizationInvitation.accepted', 'organizationInvitation.revoked', 'organizationInvitation.declined',
  'organizationInvitation.expired',
  'user.created', 'user.updated', 'user.deleted',
  'session.created', 'session.ended', 'session.revoked',
  'organization.created', 'organization.updated', 'organization.deleted',
  'organizationMembership.created', 'organizationMembership.updated', 'organizationMembership.deleted',
  'organizationDomain.created', 'organizationDomain.updated', 'organizationDomain.deleted', 'organizationSuggestion.accepted',
  'email.created',
  'invitationLink.created', 'invitationLink.used', 'invitationLink.revoked',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

const EventTypeSchema = Type.Union(EVENT_TYPES.map((t) => Type.Literal(t)))

const endpointFields = {
  url: Type.String({
    maxLength: 2048,
    description: 'http or https URL that receives the events as POST requests. Its host must be a public internet address, '
      + 'or a name that resolves only to public addresses: loopback, private, link-local, unique-local, CGNAT, multicast '
      + 'and reserved addresses are refused, in any notation, unless the server allows private networks (FOYER_WEBHOOK_ALLOW_PRIVATE).',
  }),
  secret: Type.String({ maxLength: 200, description: '`whsec_` followed by base64; generated when left out.' }),
  event_types: Type.Array(EventTypeSchema, { maxItems: EVENT_TYPES.length, description: 'Event types sent to this endpoint; empty or left out means all.' }),
  enabled: Type.Boolean({ description: 'A disabled endpoint receives nothing, not even later.' }),
}

export const CreateEndpointBody = Type.Object({
  url: endpointFields.url,
  secret: Type.Optional(endpointFields.secret),
  event_types: Type.Optional(endpointFields.event_types),
  enabled: Type.Optional(Type.Boolean({ default: true })),
}, { additionalProperties: false })
export type CreateEndpointBody = Static<typeof CreateEndpointBody>

export const UpdateEndpointBody = Type.Partial(Type.Object(endpointFields), { additionalProperties: false })
export type UpdateEndpointBody = Static<typeof UpdateEndpointBody>

export const ListQuery = Type.Object({
  paginated: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
}, { additionalProperties: false })
export type ListQuery = Static<typeof ListQuery>

export const EndpointIdParams = Type.Object({ endpoint_id: Type.String() })
export const DeliveryIdParams = Type.Object({ delivery_id: Type.String() })

export const WebhookEndpoint = Type.Object({
  object: Type.Literal('webhook_endpoint'),
  id: Type.String(),
  url: Type.String(),
  secret: Type.Optional(Type.String({ description: 'Shown only when the endpoint is created.' })),
  event_types: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
}, { additionalProperties: false })
export type WebhookEndpoint = Static<typeof WebhookEndpoint>

export const WebhookAttempt = Type.Object({
  status_code: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  duration_ms: Type.Integer(),
  attempted_at: Type.Integer(),
}, { additionalProperties: false })

export const WebhookDelivery = Type.Object({
  object: Type.Literal('webhook_delivery'),
  id: Type.String(),
  endpoint_id: Type.String(),
  event_id: Type.String({ description: 'Sent as `svix-id`: the same for every endpoint and every retry.' }),
  event_type: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('sending'), Type.Literal('delivered'), Type.Literal('failed')]),
  next_attempt_at: Type.Union([Type.Integer(), Type.Null()]),
  last_error: Type.Union([Type.String(), Type.Null()]),
  delivered_at: Type.Union([Type.Integer(), Type.Null()]),
  created_at: Type.Integer(),
  attempts: Type.Array(WebhookAttempt, { description: 'Oldest first.' }),
}, { additionalProperties: false })
export type WebhookDelivery = Static<typeof WebhookDelivery>

export const DeletedEndpoint = Type.Object({
  object: Type.Literal('webhook_endpoint'),
  id: Type.String(),
  deleted: Type.Boolean(),
})

export interface EndpointRow {
  id: string
  instance_id: string
  url: string
  secret: string
  event_types: string[]
  enabled: boolean
  from_config: boolean
  created_at: number
  updated_at: number
}

export interface DeliveryRow {
  id: string
  endpoint_id: string
  event_id: string
  event_type: string
  status: WebhookDelivery['status']
  next_attempt_at: number
  last_error: string | null
  delivered_at: number | null
  created_at: number
  attempts: WebhookDelivery['attempts']
}

/** The secret is shown once, when the endpoint is created; reads leave it out. */
export function toWebhookEndpoint(row: EndpointRow, withSecret = false): WebhookEndpoint {
  return {
    object: 'webhook_endpoint',
    id: row.id,
    url: row.url,
    ...(withSecret ? { secret: row.secret } : {}),
    event_types: row.event_types,
    enabled: row.enabled,
    created_at: row.created_at,
    updated_at: row.updated_at,
  }
}

export function toWebhookDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    object: 'webhook_delivery',
    id: row.id,
    endpoint_id: row.endpoint_id,
    event_id: row.event_id,
    event_type: row.event_type,
    status: row.status,
    next_attempt_at: row.status === 'pending' ? row.next_attempt_at : null,
    last_error: row.last_error,
    delivered_at: row.delivered_at,
    created_at: row.created_at,
    attempts: row.attempts,
  }
}
