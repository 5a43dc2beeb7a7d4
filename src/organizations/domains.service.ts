import { isUniqueViolation, type Db, type Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { deriveCode, newNonce, sameSecret } from '../platform/secrets.js'
import { ApiError, notFound, paramError } from '../platform/errors.js'
import { normalizeEmail } from '../platform/validation.js'
import type { NewOutboxItem, OutboxStore } from '../platform/outbox/outbox.store.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { DomainFilter, DomainStore } from './domains.store.js'
import {
  ENROLLMENT_MODES, toClerkDomain, type CreateDomainBody, type DomainRow, type DomainView, type EnrollmentMode,
  type ListAllDomainsQuery, type ListDomainsQuery, type UpdateDomainBody,
} from './domains.schemas.js'

interface Deps {
  db: Db
  clock: Clock
  serverSecret: Buffer
  store: DomainStore
  outbox: OutboxStore
  /**
   * Invites `emailAddress` into the organization as a verified domain's automatic invitation,
   * inside `tx`; answers false when the organization cannot take it (full, already invited).
   */
  inviteByDomain: (tx: Queryable, instance: Instance, organizationId: string, emailAddress: string) => Promise<boolean>
}

const CODE_TTL_MS = 10 * 60 * 1000
const CODE_MAX_TRIES = 5
const HOST = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/
const ORDER_BY = /^([+-]?)(name|created_at)$/

// Addresses at these domains belong to anyone: enrolling by them would let anyone in.
const SHARED_MAIL_DOMAINS = new Set([
  'gmail.com', 'googlemail.com', 'yahoo.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com', 'icloud.com', 'me.com',
  'aol.com', 'proton.me', 'protonmail.com', 'gmx.com', 'gmx.net', 'mail.com', 'yandex.com', 'zoho.com', 'fastmail.com',
])

const domainOf = (email: string) => email.slice(email.lastIndexOf('@') + 1)

function domainName(raw: string): string {
  const name = raw.trim().toLowerCase().replace(/^@/, '').replace(/\.$/, '')
  if (!HOST.test(name)) {
    throw paramError(422, 'form_param_format_invalid', 'name', 'is invalid', 'name must be a domain name such as example.com.')
  }
  if (SHARED_MAIL_DOMAINS.has(name)) {
    throw paramError(422, 'form_param_value_invalid', 'name', 'is a shared email provider',
      `${name} is a shared email provider: anyone can have an address there, so it cannot enrol people into an organization.`)
  }
  return name
}

function enrollmentMode(raw: string | null | undefined, fallback: EnrollmentMode): EnrollmentMode {
  if (raw == null) return fallback
  if ((ENROLLMENT_MODES as readonly string[]).includes(raw)) return raw as EnrollmentMode
  throw paramError(422, 'form_param_value_invalid', 'enrollment_mode', 'is invalid',
    `enrollment_mode must be one of ${ENROLLMENT_MODES.join(', ')}${raw === 'enterprise_sso' ? ' (Foyer has no enterprise SSO)' : ''}.`)
}

/** `a,-b` or repeated values: modes to include and modes to exclude. */
function modeFilter(raw: string | string[] | undefined): Pick<DomainFilter, 'includeModes' | 'excludeModes'> {
  const values = [raw ?? []].flat().flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)
  const includeModes: string[] = []
  const excludeModes: string[] = []
  for (const value of values) {
    const mode = value.replace(/^[-+]/, '')
    // Clerk's enterprise_sso is a valid filter that matches nothing here: Foyer never stores it.
    const valid = mode === 'enterprise_sso' ? mode : enrollmentMode(mode, 'manual_invitation')
    ;(value.startsWith('-') ? excludeModes : includeModes).push(valid)
  }
  return { includeModes, excludeModes }
}

function order(raw: string | undefined): DomainFilter['orderBy'] {
  const match = ORDER_BY.exec(raw ?? '-created_at')
  if (!match) throw paramError(422, 'form_param_value_invalid', 'order_by', 'is invalid', 'order_by must be name or created_at, optionally prefixed with + or -.')
  return { column: match[2] as 'name' | 'created_at', descending: match[1] === '-' }
}

/**
 * Verified domains: an organization claims a domain, proves it by a code emailed to an address
 * there (or the operator vouches for it), and from then on people who sign up with an address
 * at it are invited to the organization, or have it suggested, as its enrollment mode says.
 */
export function createDomainService(deps: Deps) {
  const { db, clock, store } = deps

  const codeFor = (domain: Pick<DomainRow, 'id' | 'code_nonce'>) => deriveCode(deps.serverSecret, 'domain', domain.id, domain.code_nonce ?? '')

  function event(type: string, instance: Instance, data: unknown, subjectId: string, now: number): NewOutboxItem {
    return {
      id: newId('msg', now), instanceId: instance.id, kind: 'webhook', topic: type, subjectId,
      payload: { data, object: 'event', type, timestamp: now, instance_id: instance.id }, nextAttemptAt: clock.now(),
    }
  }

  async function requireOrganization(q: Queryable, instance: Instance, organizationId: string) {
    if (!await store.organizationExists(q, instance.id, organizationId)) throw notFound('organization')
  }

  async function viewOf(q: Queryable, instance: Instance, organizationId: string, id: string, now: number): Promise<DomainView> {
    const view = await store.findView(q, instance.id, organizationId, id, now)
    if (!view) throw notFound('organization domain')
    return view
  }

  /** A verified domain enrols into one organization only; the one already holding it wins. */
  async function refuseHeldElsewhere(q: Queryable, instance: Instance, organizationId: string, name: string) {
    if (await store.verifiedHolder(q, instance.id, name, organizationId)) {
      throw paramError(400, 'duplicate_record', 'name', 'is verified by another organization',
        `${name} is already a verified domain of another organization in this instance.`)
    }
  }

  const heldElsewhere = (name: string) => paramError(400, 'duplicate_record', 'name', 'is verified by another organization',
    `${name} is already a verified domain of another organization in this instance.`)

  return {
    codeFor,

    /** Adds a domain, verified unless `verified: false` (Clerk's default); `organizationDomain.created` is queued with it. */
    async create(instance: Instance, organizationId: string, body: CreateDomainBody) {
      const name = domainName(body.name)
      const mode = enrollmentMode(body.enrollment_mode, 'manual_invitation')
      const verified = body.verified ?? true
      const now = clock.now(instance)
      try {
        return await db.transaction(async (tx) => {
          await requireOrganization(tx, instance, organizationId)
          if (verified) await refuseHeldElsewhere(tx, instance, organizationId, name)
          const row = await store.insert(tx, {
            id: newId('orgdmn', now), instance_id: instance.id, organization_id: organizationId, name, enrollment_mode: mode,
            verified_at: verified ? now : null, verification_strategy: verified ? 'admin' : null, created_at: now,
          })
          if (!row) {
            throw paramError(400, 'duplicate_record', 'name', 'already exists', `The organization already has the domain ${name}.`)
          }
          const view = await viewOf(tx, instance, organizationId, row.id, now)
          await deps.outbox.enqueue(tx, [event('organizationDomain.created', instance, toClerkDomain(view, now), row.id, now)], clock.now())
          return toClerkDomain(view, now)
        })
      } catch (err) {
        if (isUniqueViolation(err)) throw heldElsewhere(name)
        throw err
      }
    },

    async list(instance: Instance, organizationId: string, query: ListDomainsQuery) {
      await requireOrganization(db, instance, organizationId)
      return this.listAll(instance, { ...query, organization_id: organizationId })
    },

    async listAll(instance: Instance, query: ListAllDomainsQuery) {
      const now = clock.now(instance)
      const text = query.query?.trim() ?? null
      if (query.query !== undefined && !text) {
        throw paramError(422, 'form_param_value_invalid', 'query', 'is empty', 'query must not be empty or only spaces.')
      }
      const byOrganization = text?.startsWith('org_') ? text : null
      if (byOrganization && query.organization_id && byOrganization !== query.organization_id) return { data: [], total_count: 0 }
      const { rows, total } = await store.page(db, {
        instanceId: instance.id,
        organizationId: query.organization_id ?? byOrganization,
        verified: query.verified === undefined ? null : query.verified === 'true',
        ...modeFilter(query.enrollment_mode),
        nameQuery: byOrganization ? null : text,
        names: query.domains === undefined ? null : [query.domains].flat().map((d) => d.trim().toLowerCase()),
        orderBy: order(query.order_by),
        limit: query.limit ?? 10,
        offset: query.offset ?? 0,
        now,
      })
      return { data: rows.map((row) => toClerkDomain(row, now)), total_count: total }
    },

    async get(instance: Instance, organizationId: string, id: string) {
      const now = clock.now(instance)
      return toClerkDomain(await viewOf(db, instance, organizationId, id, now), now)
    },

    /** Changes the enrollment mode, or marks the domain verified or not (the operator's word). */
    async update(instance: Instance, organizationId: string, id: string, body: UpdateDomainBody) {
      const now = clock.now(instance)
      try {
        return await db.transaction(async (tx) => {
          const row = await store.findForUpdate(tx, instance.id, organizationId, id)
          if (!row) throw notFound('organization domain')
          const mode = enrollmentMode(body.enrollment_mode, row.enrollment_mode)
          let verifiedAt = row.verified_at
          let strategy = row.verification_strategy
          if (body.verified === true && verifiedAt === null) {
            await refuseHeldElsewhere(tx, instance, organizationId, row.name)
            verifiedAt = now
            strategy = 'admin'
          } else if (body.verified === false) {
            verifiedAt = null
            strategy = null
          }
          await store.update(tx, id, { enrollmentMode: mode, verifiedAt, strategy }, now)
          const view = await viewOf(tx, instance, organizationId, id, now)
          await deps.outbox.enqueue(tx, [event('organizationDomain.updated', instance, toClerkDomain(view, now), id, now)], clock.now())
          return toClerkDomain(view, now)
        })
      } catch (err) {
        if (isUniqueViolation(err)) throw heldElsewhere((await store.findView(db, instance.id, organizationId, id, now))?.name ?? 'This domain')
        throw err
      }
    },

    /** Clerk's manual override: verified at once, by the operator's word. Idempotent. */
    async verifyOwnership(instance: Instance, organizationId: string, id: string) {
      const now = clock.now(instance)
      const current = await viewOf(db, instance, organizationId, id, now)
      if (current.verified_at !== null) return toClerkDomain(current, now)
      try {
        return await db.transaction(async (tx) => {
          const row = await store.findForUpdate(tx, instance.id, organizationId, id)
          if (!row) throw notFound('organization domain')
          if (row.verified_at === null) {
            await refuseHeldElsewhere(tx, instance, organizationId, row.name)
            await store.update(tx, id, { enrollmentMode: row.enrollment_mode, verifiedAt: now, strategy: 'manual_override' }, now)
          }
          const view = await viewOf(tx, instance, organizationId, id, now)
          if (row.verified_at === null) {
            await deps.outbox.enqueue(tx, [event('organizationDomain.updated', instance, toClerkDomain(view, now), id, now)], clock.now())
          }
          return toClerkDomain(view, now)
        })
      } catch (err) {
        if (isUniqueViolation(err)) throw heldElsewhere(current.name)
        throw err
      }
    },

    /**
     * Emails a 6-digit code to an address at the domain; typing it back (attemptAffiliation)
     * verifies the domain. A new code replaces the previous one and restores the tries.
     */
    async prepareAffiliation(instance: Instance, organizationId: string, id: string, rawEmail: string) {
      const email = normalizeEmail(rawEmail, 'affiliation_email_address')
      const now = clock.now(instance)
      return db.transaction(async (tx) => {
        const row = await store.findForUpdate(tx, instance.id, organizationId, id)
        if (!row) throw notFound('organization domain')
        if (row.verified_at !== null) {
          throw new ApiError(400, 'verification_already_verified', 'already verified', `${row.name} is already verified.`)
        }
        if (domainOf(email) !== row.name) {
          throw paramError(422, 'form_param_value_invalid', 'affiliation_email_address', 'is not at the domain',
            `affiliation_email_address must be an address at ${row.name}.`)
        }
        await store.setCode(tx, id, { nonce: newNonce(), expiresAt: now + CODE_TTL_MS, emailAddress: email }, now)
        await deps.outbox.enqueue(tx, [{
          id: newId('msg', now), instanceId: instance.id, kind: 'email', topic: 'affiliation_code', subjectId: id,
          payload: { domain_id: id, to: email, template_slug: 'affiliation_code' }, nextAttemptAt: clock.now(),
        }], clock.now())
        const view = await viewOf(tx, instance, organizationId, id, now)
        return toClerkDomain(view, now)
      })
    },

    /**
     * Checks the emailed code. Each try is spent before the comparison, so concurrent
     * guesses get five between them; a wrong code answers how many are left.
     */
    async attemptAffiliation(instance: Instance, organizationId: string, id: string, code: string) {
      const now = clock.now(instance)
      const row = await viewOf(db, instance, organizationId, id, now)
      if (row.verified_at !== null) return toClerkDomain(row, now)
      if (row.code_nonce === null) {
        throw paramError(400, 'verification_failed', 'code', 'no code was sent', 'Send a code first (prepare_affiliation_verification).')
      }
      if (row.code_expires_at! <= now) {
        throw paramError(400, 'verification_expired', 'code', 'This code has expired.', 'Send a new code (prepare_affiliation_verification).')
      }
      const tries = await store.spendTry(db, id, CODE_MAX_TRIES, now)
      if (tries === null) {
        throw paramError(400, 'verification_failed', 'code', 'Too many incorrect codes.', 'Too many incorrect codes: send a new one (prepare_affiliation_verification).')
      }
      if (!sameSecret(code.trim(), codeFor(row))) {
        const left = CODE_MAX_TRIES - tries
        throw paramError(422, 'form_code_incorrect', 'code', 'Incorrect code.',
          left > 0 ? `The code is incorrect: ${left} ${left === 1 ? 'try' : 'tries'} left.` : 'The code is incorrect, and that was the last try: send a new one.')
      }
      try {
        return await db.transaction(async (tx) => {
          if (!await store.markVerifiedByCode(tx, id, row.code_nonce!, now)) {
            throw paramError(400, 'verification_failed', 'code', 'This code is no longer valid.', 'A newer code was sent, or the domain changed: try again.')
          }
          await refuseHeldElsewhere(tx, instance, organizationId, row.name)
          const view = await viewOf(tx, instance, organizationId, id, now)
          await deps.outbox.enqueue(tx, [event('organizationDomain.updated', instance, toClerkDomain(view, now), id, now)], clock.now())
          return toClerkDomain(view, now)
        })
      } catch (err) {
        if (isUniqueViolation(err)) throw heldElsewhere(row.name)
        throw err
      }
    },

    /** Removes the domain; the invitations it made stay as they are. */
    async remove(instance: Instance, organizationId: string, id: string) {
      const now = clock.now(instance)
      await db.transaction(async (tx) => {
        if (!await store.remove(tx, instance.id, organizationId, id)) throw notFound('organization domain')
        await deps.outbox.enqueue(tx, [event('organizationDomain.deleted', instance, { object: 'organization_domain', id, deleted: true }, id, now)], clock.now())
      })
      return { object: 'organization_domain', id, deleted: true }
    },

    /**
     * For a user whose address was just verified (a sign-up, an operator-created user): each
     * organization holding the address's domain verified invites them (automatic_invitation)
     * or is suggested to them (automatic_suggestion). Runs in the caller's transaction, so the
     * person finds them the moment they are signed in.
     */
    async enroll(tx: Queryable, instance: Instance, user: { id: string; emailAddress: string }) {
      const now = clock.now(instance)
      for (const domain of await store.enrollingDomains(tx, instance.id, domainOf(user.emailAddress), user.id)) {
        if (domain.enrollment_mode === 'automatic_invitation') {
          await deps.inviteByDomain(tx, instance, domain.organization_id, user.emailAddress)
        } else {
          await store.insertSuggestion(tx, {
            id: newId('orgsug', now), instanceId: instance.id, organizationId: domain.organization_id, userId: user.id,
            domainId: domain.id, emailAddress: user.emailAddress, now,
          })
        }
      }
    },

    /** The signed-in person's pending suggestions. */
    suggestionsFor: (instance: Instance, userId: string) => store.pendingSuggestions(db, instance.id, userId),

    /** Dismisses one of the person's own suggestions; null when it is not theirs or not pending. */
    dismissSuggestion: (instance: Instance, userId: string, id: string) =>
      store.setSuggestionStatus(db, instance.id, userId, id, 'dismissed', clock.now(instance)),

    /** The domain's current code email: address, code and expiry; null once there is none to send. */
    async codeEmail(domainId: string) {
      const row = await store.findWithOrganization(db, domainId)
      if (!row || row.code_nonce === null || row.verified_at !== null || !row.affiliation_email_address) return null
      return {
        instanceId: row.instance_id, to: row.affiliation_email_address, code: codeFor(row), expiresAt: row.code_expires_at!,
        domain: row.name, organizationName: row.organization_name,
      }
    },
  }
}

export type DomainService = ReturnType<typeof createDomainService>
