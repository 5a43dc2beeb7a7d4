import { escapeLike, fewMatchesPage, hasTrigramKeys, queryFor, trigramContains, type Queryable } from '../platform/db/db.js'
import type { OrgInvitationRow, OrgInvitationStatus, OrgInvitationView } from './org-invitations.schemas.js'
import { outboxCte, type OutboxItem } from '../platform/outbox/outbox.store.js'
import { DAY_MS } from '../platform/clock.js'
import { EXPIRY_DUE, REMINDER_DUE, type SweptRow } from '../invitations/invitations.store.js'
import { outboxJson } from '../platform/audit/audit.js'

/** An invitation about to be inserted: its row, less what the insert sets. */
export type NewOrgInvitation = Omit<OrgInvitationRow, 'status' | 'accepted_by_user_id' | 'updated_at'>


/**
 * What an invitation's objects show beside its row (the organization's and role's names, the
 * inviter's public data), and what lets a create refuse early with the right error. Read
 * without locks: insert_organization_invitation checks the rules again under the lock.
 */
export interface InviteDescription {
  /** null: no such organization in the instance. */
  organization: { name: string; slug: string } | null
  /** null: no such role in the instance. */
  role_name: string | null
  /** The inviter's membership and public data; null when no inviter was named or they are no member. */
  inviter: { permissions: string[]; first_name: string | null; last_name: string | null; identifier: string | null } | null
}

/** Why insert_organization_invitation created nothing. */
export type InviteRefusal = 'organization_not_found' | 'inviter_not_member' | 'inviter_missing_permission' | 'role_not_found'
  | 'already_member' | 'not_unique' | 'quota_exceeded' | 'retry'

export interface OrgInvitationFilter {
  instanceId: string
  /** One organization; null: the whole instance. */
  organizationId: string | null
  /** Invitations to one of these addresses (a user's); null: any. */
  emails: string[] | null
  /** Addresses of a user, looked up in the same statement; null: any. */
  userId: string | null
  statuses: OrgInvitationStatus[] | null
  /** Exact address. */
  emailAddress: string | null
  /** Case-insensitive substring of the address. */
  query: string | null
  /** Leave out invitations a verified domain made (Clerk's organization lists do). */
  manualOnly: boolean
  orderBy: { column: 'created_at' | 'email_address'; descending: boolean }
  limit: number
  offset: number
  now: number
}

// Every read joins what Clerk's object shows beside the row: the role's name, the inviter's
// public data and the organization's name. Left joins: a row outlives its inviter.
const VIEW = `
  select i.*, r.name as role_name, (u.id is not null) as inviter_found, u.first_name as inviter_first_name,
    u.last_name as inviter_last_name,
    (select e.email_address from email_addresses e where e.id = u.primary_email_address_id) as inviter_identifier,
    o.name as organization_name, o.slug as organization_slug
  from organization_invitations i
  left join organization_roles r on r.instance_id = i.instance_id and r.key = i.role
  left join users u on u.id = i.inviter_user_id and u.instance_id = i.instance_id
  left join organizations o on o.id = i.organization_id`

/** One status's condition; appends to `params` only what it uses (PostgreSQL refuses a parameter it cannot type). */
function statusClause(status: OrgInvitationStatus, now: number, params: unknown[]): string {
  switch (status) {
    case 'pending':
      params.push(now)
      return `(i.status = 'pending' and i.expires_at > $${params.length})`
    case 'expired':
      params.push(now)
      return `(i.status = 'expired' or (i.status = 'pending' and i.expires_at <= $${params.length}))`
    default:
      params.push(status)
      return `i.status = $${params.length}`
  }
}

/**
 * With `byTrigrams`, the text is matched as trigramContains writes it, for a statement that
 * finds its rows through the trigram index; otherwise by one `like`, whose estimate lets the
 * planner page a common text down the order's index instead.
 */
function listWhere(f: OrgInvitationFilter, byTrigrams = false): { where: string; params: unknown[] } {
  const params: unknown[] = [f.instanceId]
  const clauses = ['i.instance_id = $1']
  if (f.organizationId !== null) {
    params.push(f.organizationId)
    clauses.push(`i.organization_id = $${params.length}`)
  }
  if (f.userId !== null) {
    params.push(f.userId)
    clauses.push(`i.email_address in (select e.email_address from email_addresses e where e.user_id = $${params.length} and e.verified_at is not null)`)
  }
  if (f.emails !== null) {
    params.push(f.emails)
    clauses.push(`i.email_address = any($${params.length}::text[])`)
  }
  if (f.statuses !== null && f.statuses.length > 0) {
    clauses.push(`(${[...new Set(f.statuses)].map((s) => statusClause(s, f.now, params)).join(' or ')})`)
  }
  if (f.emailAddress !== null) {
    params.push(f.emailAddress)
    clauses.push(`i.email_address = $${params.length}`)
  }
  if (f.query !== null && byTrigrams) clauses.push(trigramContains('i.email_address', f.query.toLowerCase(), params))
  else if (f.query !== null) {
    params.push(`%${escapeLike(f.query.toLowerCase())}%`)
    clauses.push(`i.email_address like $${params.length}`)
  }
  if (f.manualOnly) clauses.push(`i.source = 'manual'`)
  return { where: clauses.join(' and '), params }
}

export function createOrgInvitationStore() {
  return {
    /**
     * The organization, locked until the transaction ends (select … for update): every create
     * for one organization queues up here, so the one-pending-per-address and membership-limit
     * checks that follow read a state no concurrent create can change. null: no such organization.
     */
    async findOrganization(q: Queryable, instanceId: string, organizationId: string): Promise<{ id: string; name: string; slug: string } | null> {
      const rows = await q.query<{ id: string; name: string; slug: string }>(
        'select id, name, slug from organizations where id = $1 and instance_id = $2', [organizationId, instanceId])
      return rows[0] ?? null
    },

    /** See InviteDescription: one statement, no locks. */
    async describeInvite(q: Queryable, c: { instanceId: string; organizationId: string; role: string; inviterUserId: string | null }): Promise<InviteDescription> {
      const rows = await q.query<InviteDescription>(`
        select
          (select jsonb_build_object('name', name, 'slug', slug) from organizations where id = $2 and instance_id = $1) as organization,
          (select name from organization_roles where instance_id = $1 and key = $3) as role_name,
          (select jsonb_build_object('permissions', coalesce(r.permissions, '{}'), 'first_name', u.first_name, 'last_name', u.last_name,
              'identifier', (select e.email_address from email_addresses e where e.id = u.primary_email_address_id))
           from organization_memberships m
           join users u on u.id = m.user_id
           left join organization_roles r on r.instance_id = $1 and r.key = m.role
           where m.organization_id = $2 and m.user_id = $4::text) as inviter`,
      [c.instanceId, c.organizationId, c.role, c.inviterUserId])
      return rows[0]!
    },

    /**
     * Locks the organization, checks the rules and inserts the invitation with its outbox rows,
     * in one round trip (migration 008); the reason instead when a rule refuses it.
     */
    async insertChecked(q: Queryable, inv: NewOrgInvitation, outbox: OutboxItem[], queuedAt: number): Promise<{ row: OrgInvitationRow } | { refusal: InviteRefusal; limit: number | null }> {
      const rows = await q.query<{ result: { invitation?: OrgInvitationRow; refusal?: InviteRefusal; max_allowed_memberships?: number } }>(
        `select insert_organization_invitation($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17) as result`,
        [inv.id, inv.instance_id, inv.organization_id, inv.email_address, inv.role, inv.inviter_user_id,
          JSON.stringify(inv.public_metadata), JSON.stringify(inv.private_metadata), inv.redirect_url, inv.source, inv.notify,
          inv.ticket_nonce, inv.ticket_hash, inv.expires_at, inv.created_at, outboxJson(outbox), queuedAt])
      const { invitation, refusal, max_allowed_memberships: limit } = rows[0]!.result
      return invitation ? { row: invitation } : { refusal: refusal!, limit: limit ?? null }
    },

    async findById(q: Queryable, instanceId: string, id: string): Promise<OrgInvitationView | null> {
      const rows = await q.query<OrgInvitationView>(`${VIEW} where i.id = $1 and i.instance_id = $2`, [id, instanceId])
      return rows[0] ?? null
    },

    /** The invitation a followed link names, in any status (the caller tells pending from the rest). */
    async findByTicketHash(q: Queryable, hash: string): Promise<OrgInvitationView | null> {
      const rows = await q.query<OrgInvitationView>(`${VIEW} where i.ticket_hash = $1`, [hash])
      return rows[0] ?? null
    },

    /** Usable pending invitations to any of `emails` (a signed-in person's addresses), newest first. */
    async listPendingForEmails(q: Queryable, instanceId: string, emails: string[], now: number): Promise<OrgInvitationView[]> {
      if (emails.length === 0) return []
      return q.query<OrgInvitationView>(`
        ${VIEW} where i.instance_id = $1 and i.email_address = any($2::text[]) and i.status = 'pending' and i.expires_at > $3
        order by i.created_at desc, i.id desc`,
      [instanceId, emails.map((e) => e.toLowerCase()), now])
    },

    /**
     * One page and the number of all matches, in one statement: a text search through
     * fewMatchesPage when it matches few, otherwise with its count in a subquery of its own
     * rather than by a window over the page's scan (which keeps every matching row).
     */
    async page(q: Queryable, f: OrgInvitationFilter): Promise<{ rows: OrgInvitationView[]; total: number }> {
      const dir = f.orderBy.descending ? 'desc' : 'asc'
      if (f.query !== null) {
        const found = listWhere(f, true)
        const few = await fewMatchesPage<OrgInvitationView>(q, {
          matches: `select i.id, i.${f.orderBy.column} from organization_invitations i where ${found.where}`,
          order: `m.${f.orderBy.column} ${dir}, m.id ${dir}`,
          rows: `${VIEW} where i.id = m.id`,
          params: found.params, cachedPlan: hasTrigramKeys(f.query), limit: f.limit, offset: f.offset,
        })
        if (few) return few
      }
      const { where, params } = listWhere(f)
      const run = queryFor(q, f.query !== null)
      const total = f.query !== null ? `(select count(*) from organization_invitations i where ${where})::int8` : 'count(*) over ()'
      const rows = await run<OrgInvitationView & { total_count: number }>(`
        select v.*, ${total} as total_count from (${VIEW} where ${where}) v
        order by v.${f.orderBy.column} ${dir}, v.id ${dir} limit $${params.length + 1} offset $${params.length + 2}`,
      [...params, f.limit, f.offset])
      if (rows.length > 0) return { rows, total: Number(rows[0]!.total_count) }
      // An empty page (an offset past the end) carries no count of its own.
      if (f.offset === 0) return { rows, total: 0 }
      const [count] = await run<{ n: number }>(`select count(*)::int8 as n from organization_invitations i where ${where}`, params)
      return { rows, total: Number(count?.n ?? 0) }
    },

    async userExists(q: Queryable, instanceId: string, userId: string): Promise<boolean> {
      const rows = await q.query('select 1 from users where id = $1 and instance_id = $2', [userId, instanceId])
      return rows.length > 0
    },

    /** Guarded: only a pending, unexpired invitation of the organization changes; null means it was not. */
    async revoke(q: Queryable, instanceId: string, organizationId: string, id: string, now: number, queuedAt: number, outbox: OutboxItem[]): Promise<OrgInvitationRow | null> {
      const rows = await q.query<OrgInvitationRow>(`
        with inv as (
          update organization_invitations set status = 'revoked', updated_at = $4
          where id = $1 and instance_id = $2 and organization_id = $3 and status = 'pending' and expires_at > $4
          returning *
        ),
        ${outboxCte('$6', '$5')}
        select * from inv`,
      [id, instanceId, organizationId, now, outboxJson(outbox), queuedAt])
      return rows[0] ?? null
    },

    /**
     * Marks a pending, unexpired invitation accepted by `userId`, guarded by its ticket hash,
     * with its outbox rows. The row lock makes two acceptances of one ticket queue up: the
     * second sees the first's commit, matches nothing, and gets null.
     */
    async accept(q: Queryable, instanceId: string, id: string, ticketHash: string, userId: string, now: number, queuedAt: number, outbox: OutboxItem[]): Promise<OrgInvitationRow | null> {
      const rows = await q.query<OrgInvitationRow>(`
        with inv as (
          update organization_invitations set status = 'accepted', accepted_by_user_id = $4, updated_at = $5
          where id = $1 and instance_id = $2 and ticket_hash = $3 and status = 'pending' and expires_at > $5
          returning *
        ),
        ${outboxCte('$6', '$7')}
        select * from inv`,
      [id, instanceId, ticketHash, userId, now, queuedAt, outboxJson(outbox)])
      return rows[0] ?? null
    },

    /** As the invitations store's markExpired, answering the marked invitations as read elsewhere. */
    async markExpired(q: Queryable, now: number, limit: number): Promise<SweptRow<OrgInvitationView>[]> {
      return q.query<SweptRow<OrgInvitationView>>(`
        with due as materialized (
          select d.id from organization_invitations d join instances di on di.id = d.instance_id
          where ${EXPIRY_DUE}
          order by d.expires_at limit $2 for update of d skip locked
        ), swept as (
          update organization_invitations i set expired_event_at = $1 + inst.clock_offset_ms
          from due, instances inst
          where i.id = due.id and inst.id = i.instance_id and i.status = 'pending' and i.expired_event_at is null
          returning i.id, inst.clock_offset_ms
        )
        select v.*, swept.clock_offset_ms from (${VIEW}) v join swept on swept.id = v.id`,
      [now, limit])
    },

    /** As the invitations store's markReminded. */
    async markReminded(q: Queryable, now: number, limit: number): Promise<SweptRow<OrgInvitationRow>[]> {
      return q.query<SweptRow<OrgInvitationRow>>(`
        with due as materialized (
          select d.id from organization_invitations d join instances di on di.id = d.instance_id
          where ${REMINDER_DUE}
          order by d.expires_at limit $2 for update of d skip locked)
        update organization_invitations i set reminded_at = $1 + inst.clock_offset_ms
        from due, instances inst
        where i.id = due.id and inst.id = i.instance_id and i.status = 'pending' and i.reminded_at is null
        returning i.*, inst.clock_offset_ms`,
      [now, limit, DAY_MS])
    },

    /** Marks a pending, unexpired invitation declined, with its outbox rows; null when it was not. */
    async decline(q: Queryable, instanceId: string, id: string, now: number, queuedAt: number, outbox: OutboxItem[]): Promise<OrgInvitationRow | null> {
      const rows = await q.query<OrgInvitationRow>(`
        with inv as (
          update organization_invitations set status = 'declined', updated_at = $3
          where id = $1 and instance_id = $2 and status = 'pending' and expires_at > $3
          returning *
        ),
        ${outboxCte('$4', '$5')}
        select * from inv`,
      [id, instanceId, now, queuedAt, outboxJson(outbox)])
      return rows[0] ?? null
    },
  }
}

export type OrgInvitationStore = ReturnType<typeof createOrgInvitationStore>
