import type { Queryable } from '../platform/db/db.js'
import type { DeliveryRow, EndpointRow } from './webhooks.schemas.js'

export interface EndpointChanges {
  url?: string
  secret?: string
  event_types?: string[]
  enabled?: boolean
}

export interface AttemptRecord {
  statusCode: number | null
  error: string | null
  durationMs: number
  attemptedAt: number
}

export interface DeliveryContext {
  /** `fromConfig`: the operator's FOYER_WEBHOOK_URL endpoint, trusted with any address. */
  endpoint: { url: string; secret: string; enabled: boolean; fromConfig: boolean } | null
  payload: Record<string, unknown> | null
  invitation: { id: string; ticket_nonce: string } | null
}

interface DeliveryContextRow {
  url: string | null
  secret: string | null
  enabled: boolean | null
  from_config: boolean | null
  payload: Record<string, unknown> | null
  invitation_id: string | null
  ticket_nonce: string | null
}

const DELIVERY_COLUMNS = `
  d.id, d.endpoint_id, d.event_id, d.event_type, d.created_at,
  o.status, o.next_attempt_at, o.last_error, o.delivered_at,
  coalesce((
    select jsonb_agg(jsonb_build_object('status_code', a.status_code, 'error', a.error,
      'duration_ms', a.duration_ms, 'attempted_at', a.attempted_at) order by a.id)
    from webhook_attempts a where a.delivery_id = d.id
  ), '[]'::jsonb) as attempts`

export function createWebhookStore() {
  return {
    async insertEndpoint(q: Queryable, row: EndpointRow): Promise<EndpointRow> {
      const rows = await q.query<EndpointRow>(`
        insert into webhook_endpoints (id, instance_id, url, secret, event_types, enabled, from_config, created_at, updated_at)
        values ($1, $2, $3, $4, $5::text[], $6, $7, $8, $8) returning *`,
      [row.id, row.instance_id, row.url, row.secret, row.event_types, row.enabled, row.from_config, row.created_at])
      return rows[0]!
    },

    /** Creates or updates the instance's one configured endpoint, in one statement. */
    async upsertConfigEndpoint(q: Queryable, row: EndpointRow): Promise<EndpointRow> {
      const rows = await q.query<EndpointRow>(`
        insert into webhook_endpoints (id, instance_id, url, secret, event_types, enabled, from_config, created_at, updated_at)
        values ($1, $2, $3, $4, '{}', true, true, $5, $5)
        on conflict (instance_id) where from_config
        do update set url = excluded.url, secret = excluded.secret, enabled = true, updated_at = excluded.updated_at
        returning *`,
      [row.id, row.instance_id, row.url, row.secret, row.created_at])
      return rows[0]!
    },

    async disableConfigEndpoint(q: Queryable, instanceId: string, now: number): Promise<void> {
      await q.query(`update webhook_endpoints set enabled = false, updated_at = $2 where instance_id = $1 and from_config and enabled`, [instanceId, now])
    },

    async findEndpoint(q: Queryable, instanceId: string, id: string): Promise<EndpointRow | null> {
      const rows = await q.query<EndpointRow>('select * from webhook_endpoints where id = $1 and instance_id = $2', [id, instanceId])
      return rows[0] ?? null
    },

    async pageEndpoints(q: Queryable, instanceId: string, limit: number, offset: number): Promise<{ rows: EndpointRow[]; total: number }> {
      const rows = await q.query<EndpointRow & { total_count: number }>(`
        select *, count(*) over () as total_count from webhook_endpoints where instance_id = $1
        order by created_at desc, id desc limit $2 offset $3`,
      [instanceId, limit, offset])
      if (rows.length > 0 || offset === 0) return { rows, total: Number(rows[0]?.total_count ?? 0) }
      const [count] = await q.query<{ n: number }>('select count(*)::int8 as n from webhook_endpoints where instance_id = $1', [instanceId])
      return { rows, total: Number(count?.n ?? 0) }
    },

    /** Changes only the fields given; null when the endpoint is not the instance's. */
    async updateEndpoint(q: Queryable, instanceId: string, id: string, changes: EndpointChanges, now: number): Promise<EndpointRow | null> {
      const rows = await q.query<EndpointRow>(`
        update webhook_endpoints set
          url = coalesce($3, url),
          secret = coalesce($4, secret),
          event_types = coalesce($5::text[], event_types),
          enabled = coalesce($6::boolean, enabled),
          updated_at = $7
        where id = $1 and instance_id = $2 returning *`,
      [id, instanceId, changes.url ?? null, changes.secret ?? null, changes.event_types ?? null, changes.enabled ?? null, now])
      return rows[0] ?? null
    },

    /** Deletes the endpoint with every delivery queued or logged for it; call in a transaction. */
    async deleteEndpoint(q: Queryable, instanceId: string, id: string): Promise<boolean> {
      // The outbox items go first (their deliveries and attempts cascade): nothing is sent
      // to an endpoint that no longer exists.
      await q.query(`
        delete from outbox where id in (
          select d.id from webhook_deliveries d where d.endpoint_id = $1 and d.instance_id = $2)`,
      [id, instanceId])
      const rows = await q.query('delete from webhook_endpoints where id = $1 and instance_id = $2 returning id', [id, instanceId])
      return rows.length > 0
    },

    /**
     * Queues one delivery (an outbox item and its log row) per enabled endpoint of the
     * instance that takes the event's type, in one statement. A delivery's id is derived from
     * the event and the endpoint, so a fan-out that runs again (its process died before
     * marking it done) queues nothing twice. subject_id is the event's, so deleting an
     * invitation purges its pending deliveries too. Answers how many it queued.
     */
    async fanOut(q: Queryable, event: { id: string; instanceId: string; type: string; subjectId: string | null }, now: number): Promise<number> {
      const rows = await q.query<{ n: number }>(`
        with targets as (
          select e.id as endpoint_id, 'msg_' || substr(md5($1 || ':' || e.id), 1, 27) as id
          from webhook_endpoints e
          where e.instance_id = $2 and e.enabled and (cardinality(e.event_types) = 0 or $3 = any(e.event_types))
        ),
        queued as (
          insert into outbox (id, instance_id, kind, topic, subject_id, payload, next_attempt_at, created_at, updated_at)
          select t.id, $2, 'webhook_delivery', $3, $4, jsonb_build_object('event_id', $1::text, 'endpoint_id', t.endpoint_id), $5, $5, $5
          from targets t
          on conflict (id) do nothing
          returning id, payload->>'endpoint_id' as endpoint_id
        ),
        recorded as (
          insert into webhook_deliveries (id, instance_id, endpoint_id, event_id, event_type, created_at)
          select q.id, $2, q.endpoint_id, $1, $3, $5 from queued q
          on conflict do nothing
        )
        select count(*)::int as n from queued`,
      [event.id, event.instanceId, event.type, event.subjectId, now])
      return rows[0]?.n ?? 0
    },

    /**
     * What one delivery needs, in one round trip: the endpoint (null once deleted), the event's
     * payload (null once purged with its invitation), and, for an invitation or organization
     * invitation event, the invitation's current nonce to derive its link from (null once deleted).
     */
    async deliveryContext(q: Queryable, endpointId: string, eventId: string): Promise<DeliveryContext> {
      const rows = await q.query<DeliveryContextRow>(`
        select e.url, e.secret, e.enabled, e.from_config, o.payload,
          coalesce(i.id, oi.id) as invitation_id, coalesce(i.ticket_nonce, oi.ticket_nonce) as ticket_nonce
        from (select 1) one
        left join webhook_endpoints e on e.id = $1
        left join outbox o on o.id = $2 and o.kind = 'webhook'
        left join invitations i on o.payload->'data'->>'object' = 'invitation'
          and i.id = o.payload->'data'->>'id' and i.instance_id = o.instance_id
        left join organization_invitations oi on o.payload->'data'->>'object' = 'organization_invitation'
          and oi.id = o.payload->'data'->>'id' and oi.instance_id = o.instance_id`,
      [endpointId, eventId])
      const row = rows[0]!
      return {
        endpoint: row.url === null ? null : { url: row.url, secret: row.secret!, enabled: row.enabled!, fromConfig: row.from_config! },
        payload: row.payload,
        invitation: row.invitation_id === null ? null : { id: row.invitation_id, ticket_nonce: row.ticket_nonce! },
      }
    },

    /** A delivery deleted meanwhile (with its endpoint or invitation) records nothing. */
    async insertAttempt(q: Queryable, deliveryId: string, a: AttemptRecord): Promise<void> {
      await q.query(`
        insert into webhook_attempts (delivery_id, status_code, error, duration_ms, attempted_at)
        select $1, $2::integer, $3::text, $4, $5 where exists (select 1 from webhook_deliveries where id = $1)`,
      [deliveryId, a.statusCode, a.error, a.durationMs, a.attemptedAt])
    },

    async pageDeliveries(q: Queryable, instanceId: string, endpointId: string, limit: number, offset: number): Promise<{ rows: DeliveryRow[]; total: number }> {
      const rows = await q.query<DeliveryRow & { total_count: number }>(`
        select ${DELIVERY_COLUMNS}, count(*) over () as total_count
        from webhook_deliveries d join outbox o on o.id = d.id
        where d.endpoint_id = $1 and d.instance_id = $2
        order by d.seq desc limit $3 offset $4`,
      [endpointId, instanceId, limit, offset])
      if (rows.length > 0 || offset === 0) return { rows, total: Number(rows[0]?.total_count ?? 0) }
      const [count] = await q.query<{ n: number }>('select count(*)::int8 as n from webhook_deliveries where endpoint_id = $1 and instance_id = $2', [endpointId, instanceId])
      return { rows, total: Number(count?.n ?? 0) }
    },

    async findDelivery(q: Queryable, instanceId: string, id: string): Promise<DeliveryRow | null> {
      const rows = await q.query<DeliveryRow>(`
        select ${DELIVERY_COLUMNS} from webhook_deliveries d join outbox o on o.id = d.id
        where d.id = $1 and d.instance_id = $2`,
      [id, instanceId])
      return rows[0] ?? null
    },

    /**
     * Makes a delivery due now, whatever it is waiting for. Guarded: one being sent right
     * now is left to finish (its outcome decides what happens next).
     */
    async reschedule(q: Queryable, instanceId: string, id: string, now: number): Promise<boolean> {
      const rows = await q.query(`
        update outbox set status = 'pending', next_attempt_at = $3, updated_at = $3
        where id = $1 and kind = 'webhook_delivery' and status <> 'sending'
          and exists (select 1 from webhook_deliveries d where d.id = $1 and d.instance_id = $2)
        returning id`,
      [id, instanceId, now])
      return rows.length > 0
    },
  }
}

export type WebhookStore = ReturnType<typeof createWebhookStore>
