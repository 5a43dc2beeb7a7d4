import type { Queryable } from '../platform/db/db.js'
import { outboxCte, type OutboxItem } from '../platform/outbox/outbox.store.js'
import type { InvitationLinkRow, InvitationLinkUseRow, InvitationLinkUseView } from './invitation-links.schemas.js'
import { outboxJson } from '../platform/audit/audit.js'

export interface LinkAttemptRow {
  id: string
  link_id: string
  instance_id: string
  email_address: string
  code_nonce: string
  code_expires_at: number
  failed_attempts: number
  status: 'pending' | 'complete'
  created_at: number
  updated_at: number
}

// Who joined: the personal invitation a use got names its acceptor once it was accepted.
const USE_VIEW = `
  select u.*, coalesce(i.accepted_by_user_id, oi.accepted_by_user_id) as joined_user_id
  from invitation_link_uses u
  left join invitations i on i.id = u.invitation_id and i.status = 'accepted'
  left join organization_invitations oi on oi.id = u.invitation_id and oi.status = 'accepted'`

export function createInvitationLinkStore() {
  return {
    /** Inserts the link with its outbox rows, in one statement. */
    async insert(q: Queryable, link: Omit<InvitationLinkRow, 'use_count' | 'status'>, outbox: OutboxItem[], queuedAt: number): Promise<InvitationLinkRow> {
      const rows = await q.query<InvitationLinkRow>(`
        with inv as (
          insert into invitation_links (id, instance_id, organization_id, role, public_metadata, allowed_domains, max_uses, token_nonce, token_hash, expires_at, created_at, updated_at)
          values ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10, $11, $11)
          returning *
        ),
        ${outboxCte('$12', '$13')}
        select * from inv`,
      [link.id, link.instance_id, link.organization_id, link.role, JSON.stringify(link.public_metadata), JSON.stringify(link.allowed_domains),
        link.max_uses, link.token_nonce, link.token_hash, link.expires_at, link.created_at, queuedAt, outboxJson(outbox)])
      return rows[0]!
    },

    async findById(q: Queryable, instanceId: string, id: string): Promise<InvitationLinkRow | null> {
      const rows = await q.query<InvitationLinkRow>('select * from invitation_links where id = $1 and instance_id = $2', [id, instanceId])
      return rows[0] ?? null
    },

    /** By id alone: for an attempt, whose link is its instance's. */
    async findAnyById(q: Queryable, id: string): Promise<InvitationLinkRow | null> {
      const rows = await q.query<InvitationLinkRow>('select * from invitation_links where id = $1', [id])
      return rows[0] ?? null
    },

    /** A use's personal invitation (of either kind) while it can still be accepted: what its link derives from. */
    async pendingInvitation(q: Queryable, instanceId: string, invitationId: string, now: number): Promise<{ id: string; ticket_nonce: string } | null> {
      const rows = await q.query<{ id: string; ticket_nonce: string }>(`
        select id, ticket_nonce from invitations where id = $1 and instance_id = $2 and status = 'pending' and expires_at > $3
        union all
        select id, ticket_nonce from organization_invitations where id = $1 and instance_id = $2 and status = 'pending' and expires_at > $3`,
      [invitationId, instanceId, now])
      return rows[0] ?? null
    },

    async findByTokenHash(q: Queryable, hash: string): Promise<InvitationLinkRow | null> {
      const rows = await q.query<InvitationLinkRow>('select * from invitation_links where token_hash = $1', [hash])
      return rows[0] ?? null
    },

    async page(q: Queryable, instanceId: string, f: { organizationId: string | null; limit: number; offset: number }, withTotal: boolean): Promise<{ rows: InvitationLinkRow[]; total: number | null }> {
      const where = `instance_id = $1 and ($2::text is null or organization_id = $2::text)`
      const rows = await q.query<InvitationLinkRow>(
        `select * from invitation_links where ${where} order by created_at desc, id desc limit $3 offset $4`,
        [instanceId, f.organizationId, f.limit, f.offset])
      if (!withTotal) return { rows, total: null }
      const counted = await q.query<{ n: number }>(`select count(*)::int8 as n from invitation_links where ${where}`, [instanceId, f.organizationId])
      return { rows, total: Number(counted[0]?.n ?? 0) }
    },

    /** Guarded: only an active link turns revoked; null means it was not active. */
    async revoke(q: Queryable, instanceId: string, id: string, now: number, queuedAt: number, outbox: OutboxItem[]): Promise<InvitationLinkRow | null> {
      const rows = await q.query<InvitationLinkRow>(`
        with inv as (
          update invitation_links set status = 'revoked', updated_at = $3
          where id = $1 and instance_id = $2 and status = 'active'
          returning *
        ),
        ${outboxCte('$4', '$5')}
        select * from inv`,
      [id, instanceId, now, queuedAt, outboxJson(outbox)])
      return rows[0] ?? null
    },

    /**
     * Counts one use, in one guarded statement: the link must be active, unexpired and below
     * `max_uses` as it reads once its row is locked, so that however many uses race, the count
     * never passes the limit. The use row and the `.used` event go in with the count; an
     * address that used the link already matches the unique index and undoes the whole
     * statement. Null: the link could not be used (any more).
     */
    async use(q: Queryable, use: Omit<InvitationLinkUseRow, 'invitation_id'>, now: number, queuedAt: number, outbox: OutboxItem[]): Promise<{ link: InvitationLinkRow; use: InvitationLinkUseRow } | null> {
      const rows = await q.query<InvitationLinkRow & { use_row: InvitationLinkUseRow }>(`
        with inv as (
          update invitation_links set use_count = use_count + 1, updated_at = $3
          where id = $1 and instance_id = $2 and status = 'active'
            and (expires_at is null or expires_at > $3) and (max_uses is null or use_count < max_uses)
          returning *
        ),
        used as (
          insert into invitation_link_uses (id, link_id, instance_id, email_address, user_id, created_at)
          select $4, inv.id, inv.instance_id, $5, $6, $3 from inv
          returning *
        ),
        -- About the use, not the link: erasing the person who used it takes its event along.
        queued as (
          insert into outbox (id, instance_id, kind, topic, subject_id, payload, next_attempt_at, created_at, updated_at)
          select o->>'id', used.instance_id, o->>'kind', o->>'topic', used.id, o->'payload', $7, $7, $7
          from used, jsonb_array_elements($8::jsonb) o
        )
        select inv.*, to_jsonb(used.*) as use_row from inv, used`,
      [use.link_id, use.instance_id, now, use.id, use.email_address, use.user_id, queuedAt, outboxJson(outbox)])
      const row = rows[0]
      if (!row) return null
      const { use_row: used, ...link } = row
      return { link, use: used }
    },

    async setUseInvitation(q: Queryable, useId: string, invitationId: string): Promise<void> {
      await q.query('update invitation_link_uses set invitation_id = $2 where id = $1', [useId, invitationId])
    },

    async findUse(q: Queryable, linkId: string, emailAddress: string): Promise<InvitationLinkUseView | null> {
      const rows = await q.query<InvitationLinkUseView>(`${USE_VIEW} where u.link_id = $1 and u.email_address = $2`, [linkId, emailAddress])
      return rows[0] ?? null
    },

    async uses(q: Queryable, linkId: string, f: { limit: number; offset: number }, withTotal: boolean): Promise<{ rows: InvitationLinkUseView[]; total: number | null }> {
      const rows = await q.query<InvitationLinkUseView>(`${USE_VIEW} where u.link_id = $1 order by u.created_at desc, u.id desc limit $2 offset $3`, [linkId, f.limit, f.offset])
      if (!withTotal) return { rows, total: null }
      const counted = await q.query<{ n: number }>('select count(*)::int8 as n from invitation_link_uses where link_id = $1', [linkId])
      return { rows, total: Number(counted[0]?.n ?? 0) }
    },

    async insertAttempt(q: Queryable, a: Omit<LinkAttemptRow, 'failed_attempts' | 'status' | 'updated_at'>): Promise<void> {
      await q.query(`
        insert into invitation_link_attempts (id, link_id, instance_id, email_address, code_nonce, code_expires_at, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $7, $7)`,
      [a.id, a.link_id, a.instance_id, a.email_address, a.code_nonce, a.code_expires_at, a.created_at])
    },

    async findAttempt(q: Queryable, id: string): Promise<LinkAttemptRow | null> {
      const rows = await q.query<LinkAttemptRow>('select * from invitation_link_attempts where id = $1', [id])
      return rows[0] ?? null
    },

    /** Spends one try of a pending attempt before its code is compared; null when none is left. */
    async spendTry(q: Queryable, id: string, maxFailures: number, now: number): Promise<number | null> {
      const rows = await q.query<{ failed_attempts: number }>(`
        update invitation_link_attempts set failed_attempts = failed_attempts + 1, updated_at = $3
        where id = $1 and status = 'pending' and failed_attempts < $2
        returning failed_attempts`,
      [id, maxFailures, now])
      return rows[0] ? Number(rows[0].failed_attempts) : null
    },

    /** Marks a pending attempt complete (its right code is given back); false when it was not pending. */
    async completeAttempt(q: Queryable, id: string, now: number): Promise<boolean> {
      const rows = await q.query(`
        update invitation_link_attempts set status = 'complete', failed_attempts = greatest(failed_attempts - 1, 0), updated_at = $2
        where id = $1 and status = 'pending' returning id`,
      [id, now])
      return rows.length > 0
    },
  }
}

export type InvitationLinkStore = ReturnType<typeof createInvitationLinkStore>
