import { Type, type Static } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ClerkErrorsRef } from '../openapi.js'
import { paramError } from '../errors.js'
import type { Db } from '../db/db.js'
import { createAuditStore, type AuditFilter, type AuditLogRow } from './audit.store.js'

const text = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 200, description }))
const ms = (description: string) => Type.Optional(Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000, description }))

export const ListAuditLogsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 10 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
  actor_id: text('Only changes by this actor: a secret key\'s id (`key_…`), an operator\'s id or a user\'s id.'),
  action: text('Only this action, such as `invitation.revoked` or `secret_key.rolled`.'),
  target_id: text('Only changes to this object (an invitation\'s, a user\'s, an endpoint\'s id …).'),
  created_after: ms('Only changes at or after this time (Unix ms).'),
  created_before: ms('Only changes before this time (Unix ms).'),
}, { additionalProperties: false })
export type ListAuditLogsQuery = Static<typeof ListAuditLogsQuery>

const nullableString = Type.Union([Type.String(), Type.Null()])
export const AuditLog = Type.Object({
  object: Type.Literal('audit_log'),
  id: Type.String(),
  action: Type.String(),
  actor: Type.Object({
    type: Type.String({ description: '`api_key`, `operator`, `user`, `anonymous` or `system`.' }),
    id: nullableString,
    label: Type.Union([Type.String(), Type.Null()], { description: 'An operator\'s address, or a key\'s hint (`sk_test_…AbCd`); never a key.' }),
  }),
  target: Type.Object({ type: nullableString, id: nullableString, label: Type.Union([Type.String(), Type.Null()], { description: 'Null once the person it named was erased.' }) }),
  changed_keys: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'Which keys of metadata or settings changed; never their values.' }),
  client_ip: nullableString,
  trace_id: nullableString,
  created_at: Type.Integer(),
})
export type AuditLog = Static<typeof AuditLog>

export const toAuditLog = (row: AuditLogRow): AuditLog => ({
  object: 'audit_log',
  id: row.id,
  action: row.action,
  actor: { type: row.actor_type, id: row.actor_id, label: row.actor_label },
  target: { type: row.target_type, id: row.target_id, label: row.target_label },
  changed_keys: row.changed_keys,
  client_ip: row.client_ip,
  trace_id: row.trace_id,
  created_at: Number(row.created_at),
})

/** The filter a query asks for; 422 naming `created_before` when the window is empty by construction. */
export function auditFilterOf(query: Omit<ListAuditLogsQuery, 'limit' | 'offset'>): AuditFilter {
  if (query.created_after !== undefined && query.created_before !== undefined && query.created_before <= query.created_after) {
    throw paramError(422, 'form_param_value_invalid', 'created_before', 'is invalid', 'created_before must be later than created_after.')
  }
  return { actorId: query.actor_id, action: query.action, targetId: query.target_id, createdAfter: query.created_after, createdBefore: query.created_before }
}

/**
 * GET /v1/audit_logs (Foyer extension): the instance's audit log, newest first. There is no
 * route that changes or deletes a record, by design.
 */
export const auditLogRoutes = (deps: { db: Db }): FastifyPluginAsyncTypebox => async (app) => {
  const store = createAuditStore()
  app.get('/v1/audit_logs', {
    schema: {
      operationId: 'ListAuditLogs', tags: ['Audit Logs'], querystring: ListAuditLogsQuery,
      description: 'Foyer extension. Every change to this instance, newest first, with its actor (a secret key by its id, never the key; '
        + 'an operator; a user), action, target, client IP and trace id. Records cannot be changed or deleted; they are kept '
        + 'FOYER_RETENTION_AUDIT_DAYS days (365 by default). Answers `{data, total_count}`.',
      response: { 200: Type.Object({ data: Type.Array(AuditLog), total_count: Type.Integer() }), 400: ClerkErrorsRef, 401: ClerkErrorsRef, 422: ClerkErrorsRef },
    },
  }, async (req) => {
    const filter = auditFilterOf(req.query)
    const { rows, total } = await store.list(deps.db, req.instance.id, filter, req.query.limit ?? 10, req.query.offset ?? 0)
    return { data: rows.map(toAuditLog), total_count: total }
  })
}
