import { AsyncLocalStorage } from 'node:async_hooks'
import type { FastifyInstance } from 'fastify'
import type { Queryable } from '../db/db.js'
import { ksuid } from '../ids.js'

/**
 * Who is making a change, from where: set once per request by the hook of the face it came
 * through (secret key, operator session, public page) and read by whatever writes the change's
 * audit record, however deep in a service. Services never see requests; this is all they
 * learn of one.
 */
export interface AuditActor {
  /** 'api_key' | 'operator' | 'user' | 'anonymous' | 'system' */
  type: string
  /** The secret key's id (never the key), the operator's or the user's id; null when anonymous. */
  id: string | null
  /** What a person reads: an operator's address, a key's hint. Never a secret. */
  label: string | null
}

export interface AuditContext {
  actor: AuditActor
  ip: string | null
  traceId: string | null
}

const storage = new AsyncLocalStorage<AuditContext>()
const SYSTEM: AuditContext = Object.freeze({ actor: Object.freeze({ type: 'system', id: null, label: null }), ip: null, traceId: null })

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's audit context: the face's hook sets the actor (setAuditActor). */
    audit: AuditContext
  }
}

/** The context of the request under way, or the system's (sweeps, start-up, the CLI). */
export const auditContext = (): AuditContext => storage.getStore() ?? SYSTEM

/**
 * Gives every request an audit context (anonymous, with its client IP and trace id) and runs
 * its handler inside it. The handler is entered through preHandler, after the body is parsed:
 * body parsing runs in stream callbacks that would lose a context entered earlier. The
 * context is one object, so hooks that learn the actor later still reach it.
 */
export function registerAuditContext(app: FastifyInstance) {
  app.decorateRequest('audit', null as unknown as AuditContext)
  app.addHook('onRequest', (request, _reply, done) => {
    request.audit = { actor: { type: 'anonymous', id: null, label: null }, ip: request.ip, traceId: request.id }
    done()
  })
  app.addHook('preHandler', (request, _reply, done) => storage.run(request.audit, done))
}

/** Names the actor of a request (from the hook that authenticated it). */
export function setAuditActor(request: { audit: AuditContext }, actor: AuditActor) {
  request.audit.actor = actor
}

/**
 * Says who a public request acts for once a service knows (the signed-in session's user, the
 * user a sign-up is creating, the one signing in): from here on its changes are theirs. A secret
 * key or an operator acting on a user stays the actor.
 */
export function actAsUser(userId: string, sessionId: string | null = null) {
  const ctx = storage.getStore()
  if (ctx && (ctx.actor.type === 'anonymous' || ctx.actor.type === 'user')) ctx.actor = { type: 'user', id: userId, label: sessionId }
}

/** An outbox item as the stores serialise it; only `kind` and `topic` matter here. */
interface QueuedItem {
  kind: string
  topic: string
  payload: unknown
  /** For a change to metadata or settings: which keys changed (never their values). */
  changedKeys?: string[]
}

/**
 * Serialises outbox items for a store's statement, giving each webhook event the audit
 * context under `payload.foyer_audit`. The outbox's insert trigger (migration 032) writes the
 * audit record from it and takes it out of the payload before the row is stored, so the record
 * is written by the very statement that queues the event, with no round trip of its own.
 */
export function outboxJson(items: readonly QueuedItem[]): string {
  const ctx = auditContext()
  return JSON.stringify(items.map((item) => {
    if (item.kind !== 'webhook' || item.payload === null || typeof item.payload !== 'object') return item
    promoteToUser(ctx, item)
    const { changedKeys, ...rest } = item
    return { ...rest, payload: { ...item.payload, foyer_audit: recordJson(ctx, item, changedKeys) } }
  }))
}

// A public request acts for the person it concerns from the moment they exist (a sign-up's
// user.created, a sign-in's session.created): what it does next in the same request is theirs.
function promoteToUser(ctx: AuditContext, item: QueuedItem) {
  if (ctx.actor.type !== 'anonymous') return
  const data = (item.payload as { data?: { id?: unknown; user_id?: unknown } }).data
  const userId = item.topic === 'user.created' ? data?.id : item.topic === 'session.created' ? data?.user_id : undefined
  if (typeof userId === 'string') ctx.actor = { type: 'user', id: userId, label: null }
}

type EventData = {
  object?: unknown; id?: unknown; user_id?: unknown; email_address?: unknown; identifier?: unknown; name?: unknown
  public_user_data?: { identifier?: unknown }
  primary_email_address_id?: unknown
  email_addresses?: { id?: unknown; email_address?: unknown }[]
}
const str = (v: unknown) => (typeof v === 'string' ? v : null)

/**
 * The whole audit record but for the ids and times the row already has, worked out here rather
 * than in the trigger, which only copies it: extracting it from the payload in PL/pgSQL cost
 * PostgreSQL more than writing the record did. Other events still get their record there from
 * what the event says (migration 033).
 */
function recordJson(ctx: AuditContext, item: QueuedItem, changedKeys?: readonly string[]) {
  const data: EventData = (item.payload as { data?: EventData }).data ?? {}
  let actor = ctx.actor
  // Any other event of a public request that concerns a person is theirs too.
  if (actor.type === 'anonymous' && data.object === 'user' && str(data.id)) actor = { type: 'user', id: str(data.id), label: null }
  else if (actor.type === 'anonymous' && data.object === 'session' && str(data.user_id)) actor = { type: 'user', id: str(data.user_id), label: str(data.id) }
  const primary = Array.isArray(data.email_addresses) ? data.email_addresses.find((e) => e?.id === data.primary_email_address_id) : undefined
  return {
    actor_type: actor.type, actor_id: actor.id, actor_label: actor.label, client_ip: ctx.ip, trace_id: ctx.traceId,
    target_type: str(data.object) ?? item.topic.split('.')[0],
    target_id: str(data.id),
    target_label: str(data.email_address) ?? str(data.public_user_data?.identifier) ?? str(data.identifier) ?? str(primary?.email_address) ?? str(data.name),
    ...(changedKeys ? { changed_keys: changedKeys } : {}),
  }
}

/**
 * A change that queues no webhook event, recorded by recordAudit. To audit a new operator
 * action, call `recordAudit(tx, { instanceId, action: 'operator.role_changed', target: { type:
 * 'operator', id, label: email } }, clock.now())` in the transaction that makes it; the
 * dashboard's hook has already named the operator as the actor.
 */
export interface AuditEntry {
  /** The instance changed; null for a change to the server itself (operators, say), kept but listed per instance nowhere yet. */
  instanceId: string | null
  /** Dotted, as event types are: `secret_key.rolled`, `webhook_endpoint.deleted`, `operator.signed_in`. */
  action: string
  target?: { type: string; id: string | null; label?: string | null }
  /** Which keys of metadata or settings changed; never their values. */
  changedKeys?: readonly string[]
  /**
   * Who made it, where the request's actor is not yet known to be them: an operator accepting
   * an invitation, or signing in, on a page open to anyone.
   */
  actor?: AuditActor
}

/**
 * Records a change that queues no webhook event, as the actor of the request under way; call
 * it inside the transaction that makes the change (`q` is that transaction), so that the
 * change and its record commit or roll back together. `at` is wall time (the app clock, as
 * for the outbox). One insert, nothing more: for operator actions, one call in the service
 * that makes the change is all that auditing it takes.
 */
export async function recordAudit(q: Queryable, entry: AuditEntry, at: number): Promise<void> {
  const ctx = auditContext()
  const actor = entry.actor ?? ctx.actor
  await q.query(`
    insert into audit_logs (id, instance_id, actor_type, actor_id, actor_label, action, target_type, target_id, target_label, changed_keys, client_ip, trace_id, created_at)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text[], $11, $12, $13)`,
  [`aud_${ksuid(at)}`, entry.instanceId, actor.type, actor.id, actor.label, entry.action,
    entry.target?.type ?? null, entry.target?.id ?? null, entry.target?.label ?? null,
    entry.changedKeys ? [...entry.changedKeys] : null, ctx.ip, ctx.traceId, at])
}

/** The keys whose values differ between two flat records (metadata, settings); values are never kept. */
export function changedKeys(before: Record<string, unknown> | null | undefined, after: Record<string, unknown> | null | undefined): string[] {
  const a = before ?? {}
  const b = after ?? {}
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort()
}
