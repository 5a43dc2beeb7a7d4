import { escapeLike, type Queryable } from '../platform/db/db.js'
import type { DomainRow, DomainView, EnrollmentMode } from './domains.schemas.js'

export interface DomainFilter {
  instanceId: string
  organizationId: string | null
  verified: boolean | null
  includeModes: string[]
  excludeModes: string[]
  /** Substring of the name. */
  nameQuery: string | null
  names: string[] | null
  orderBy: { column: 'name' | 'created_at'; descending: boolean }
  limit: number
  offset: number
  now: number
}

// Pending invitations a domain produced are its organization's automatic ones to addresses
// there; its suggestions point at it directly.
const VIEW = `
  select d.*, o.name as organization_name, o.slug as organization_slug,
    (select count(*) from organization_invitations i
      where i.organization_id = d.organization_id and i.source = 'domain' and i.status = 'pending'
        and i.expires_at > $NOW and i.email_address like '%@' || d.name)::int8 as pending_invitations,
    (select count(*) from organization_suggestions s where s.domain_id = d.id and s.status = 'pending')::int8 as pending_suggestions
  from organization_domains d join organizations o on o.id = d.organization_id`

const view = (nowParam: string) => VIEW.replace('$NOW', nowParam)

export function createDomainStore() {
  return {
    async organizationExists(q: Queryable, instanceId: string, organizationId: string): Promise<boolean> {
      const rows = await q.query('select 1 from organizations where id = $1 and instance_id = $2', [organizationId, instanceId])
      return rows.length > 0
    },

    /** Inserts the domain; null when the organization already has it. */
    async insert(q: Queryable, d: Omit<DomainRow, 'code_nonce' | 'code_expires_at' | 'code_attempts' | 'affiliation_email_address' | 'updated_at'>): Promise<DomainRow | null> {
      const rows = await q.query<DomainRow>(`
        insert into organization_domains (id, instance_id, organization_id, name, enrollment_mode, verified_at, verification_strategy, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $8)
        on conflict (organization_id, name) do nothing returning *`,
      [d.id, d.instance_id, d.organization_id, d.name, d.enrollment_mode, d.verified_at, d.verification_strategy, d.created_at])
      return rows[0] ?? null
    },

    /** The organization (other than `exceptOrganizationId`) that holds `name` verified, if any. */
    async verifiedHolder(q: Queryable, instanceId: string, name: string, exceptOrganizationId: string): Promise<string | null> {
      const rows = await q.query<{ organization_id: string }>(`
        select organization_id from organization_domains
        where instance_id = $1 and name = $2 and verified_at is not null and organization_id <> $3`,
      [instanceId, name, exceptOrganizationId])
      return rows[0]?.organization_id ?? null
    },

    async findView(q: Queryable, instanceId: string, organizationId: string, id: string, now: number): Promise<DomainView | null> {
      const rows = await q.query<DomainView>(`${view('$4')} where d.id = $1 and d.instance_id = $2 and d.organization_id = $3`,
        [id, instanceId, organizationId, now])
      return rows[0] ?? null
    },

    async findWithOrganization(q: Queryable, id: string): Promise<(DomainRow & { organization_name: string }) | null> {
      const rows = await q.query<DomainRow & { organization_name: string }>(
        'select d.*, o.name as organization_name from organization_domains d join organizations o on o.id = d.organization_id where d.id = $1', [id])
      return rows[0] ?? null
    },

    async findForUpdate(q: Queryable, instanceId: string, organizationId: string, id: string): Promise<DomainRow | null> {
      const rows = await q.query<DomainRow>(
        'select * from organization_domains where id = $1 and instance_id = $2 and organization_id = $3 for update',
        [id, instanceId, organizationId])
      return rows[0] ?? null
    },

    async page(q: Queryable, f: DomainFilter): Promise<{ rows: DomainView[]; total: number }> {
      const params: unknown[] = [f.instanceId, f.now]
      const clauses = ['d.instance_id = $1']
      const add = (clause: (p: string) => string, value: unknown) => {
        params.push(value)
        clauses.push(clause(`$${params.length}`))
      }
      if (f.organizationId !== null) add((p) => `d.organization_id = ${p}`, f.organizationId)
      if (f.verified !== null) clauses.push(f.verified ? 'd.verified_at is not null' : 'd.verified_at is null')
      if (f.includeModes.length > 0) add((p) => `d.enrollment_mode = any(${p}::text[])`, f.includeModes)
      if (f.excludeModes.length > 0) add((p) => `not (d.enrollment_mode = any(${p}::text[]))`, f.excludeModes)
      if (f.nameQuery !== null) add((p) => `d.name like ${p}`, `%${escapeLike(f.nameQuery.toLowerCase())}%`)
      if (f.names !== null) add((p) => `d.name = any(${p}::text[])`, f.names)
      const dir = f.orderBy.descending ? 'desc' : 'asc'
      const rows = await q.query<DomainView & { total_count: number }>(`
        select v.*, count(*) over () as total_count from (${view('$2')} where ${clauses.join(' and ')}) v
        order by v.${f.orderBy.column} ${dir}, v.id ${dir}
        limit $${params.length + 1} offset $${params.length + 2}`,
      [...params, f.limit, f.offset])
      if (rows.length > 0 || f.offset === 0) return { rows, total: Number(rows[0]?.total_count ?? 0) }
      // An empty page past the end carries no count of its own.
      const counted = await q.query<{ n: number }>(`select count(*)::int8 as n from (${view('$2')} where ${clauses.join(' and ')}) v`, params)
      return { rows, total: Number(counted[0]?.n ?? 0) }
    },

    async update(q: Queryable, id: string, changes: { enrollmentMode: EnrollmentMode; verifiedAt: number | null; strategy: string | null }, now: number): Promise<void> {
      await q.query(`
        update organization_domains set enrollment_mode = $2, verified_at = $3, verification_strategy = $4,
          code_nonce = case when $3::bigint is null then code_nonce else null end, updated_at = $5
        where id = $1`,
      [id, changes.enrollmentMode, changes.verifiedAt, changes.strategy, now])
    },

    /** A new code for the domain (the nonce rotates, so earlier codes stop working) and where it goes. */
    async setCode(q: Queryable, id: string, code: { nonce: string; expiresAt: number; emailAddress: string }, now: number): Promise<void> {
      await q.query(`
        update organization_domains set code_nonce = $2, code_expires_at = $3, code_attempts = 0, affiliation_email_address = $4, updated_at = $5
        where id = $1`,
      [id, code.nonce, code.expiresAt, code.emailAddress, now])
    },

    /**
     * Spends one try at the current code before it is compared, so that concurrent guesses
     * cannot outnumber `max`; the tries spent, or null when none is left or there is no code.
     */
    async spendTry(q: Queryable, id: string, max: number, now: number): Promise<number | null> {
      const rows = await q.query<{ code_attempts: number }>(`
        update organization_domains set code_attempts = code_attempts + 1, updated_at = $3
        where id = $1 and code_nonce is not null and verified_at is null and code_attempts < $2 returning code_attempts`,
      [id, max, now])
      return rows[0]?.code_attempts ?? null
    },

    /** Guarded: only an unverified domain with that very code turns verified; false otherwise. */
    async markVerifiedByCode(q: Queryable, id: string, nonce: string, now: number): Promise<boolean> {
      const rows = await q.query(`
        update organization_domains set verified_at = $3, verification_strategy = 'email_code', code_nonce = null, updated_at = $3
        where id = $1 and code_nonce = $2 and verified_at is null returning id`,
      [id, nonce, now])
      return rows.length > 0
    },

    async remove(q: Queryable, instanceId: string, organizationId: string, id: string): Promise<boolean> {
      const rows = await q.query('delete from organization_domains where id = $1 and instance_id = $2 and organization_id = $3 returning id',
        [id, instanceId, organizationId])
      return rows.length > 0
    },

    /** The verified domains (in modes that enrol) of the address's domain, with the organizations the user is not yet in. */
    async enrollingDomains(q: Queryable, instanceId: string, domainName: string, userId: string): Promise<DomainRow[]> {
      return q.query<DomainRow>(`
        select d.* from organization_domains d
        where d.instance_id = $1 and d.name = $2 and d.verified_at is not null
          and d.enrollment_mode in ('automatic_invitation', 'automatic_suggestion')
          and not exists (select 1 from organization_memberships m where m.organization_id = d.organization_id and m.user_id = $3)`,
      [instanceId, domainName, userId])
    },

    async insertSuggestion(q: Queryable, s: { id: string; instanceId: string; organizationId: string; userId: string; domainId: string; emailAddress: string; now: number }): Promise<void> {
      await q.query(`
        insert into organization_suggestions (id, instance_id, organization_id, user_id, domain_id, email_address, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $7, $7) on conflict (organization_id, user_id) do nothing`,
      [s.id, s.instanceId, s.organizationId, s.userId, s.domainId, s.emailAddress, s.now])
    },

    async pendingSuggestions(q: Queryable, instanceId: string, userId: string): Promise<SuggestionView[]> {
      return q.query<SuggestionView>(`
        select s.id, s.organization_id, s.email_address, s.status, s.created_at, s.updated_at, o.name as organization_name, o.slug as organization_slug
        from organization_suggestions s join organizations o on o.id = s.organization_id
        where s.instance_id = $1 and s.user_id = $2 and s.status = 'pending'
        order by s.created_at desc, s.id desc`,
      [instanceId, userId])
    },

    /** Guarded: only the user's own pending suggestion changes. */
    async setSuggestionStatus(q: Queryable, instanceId: string, userId: string, id: string, status: 'accepted' | 'dismissed', now: number): Promise<SuggestionView | null> {
      const rows = await q.query<SuggestionView>(`
        update organization_suggestions set status = $4, updated_at = $5
        where id = $1 and instance_id = $2 and user_id = $3 and status = 'pending'
        returning id, organization_id, email_address, status, created_at, updated_at, '' as organization_name, '' as organization_slug`,
      [id, instanceId, userId, status, now])
      return rows[0] ?? null
    },
  }
}

export interface SuggestionView {
  id: string
  organization_id: string
  email_address: string
  status: string
  organization_name: string
  organization_slug: string
  created_at: number
  updated_at: number
}

export type DomainStore = ReturnType<typeof createDomainStore>
