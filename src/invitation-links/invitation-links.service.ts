import { isUniqueViolation, type Db, type Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { newId } from '../platform/ids.js'
import { deriveCode, deriveTicket, newNonce, sameSecret, sha256 } from '../platform/secrets.js'
import { ApiError, notFound, paramError } from '../platform/errors.js'
import { checkMetadataSize, normalizeEmail } from '../platform/validation.js'
import { toInstance, type Instance } from '../instance/instance.schemas.js'
import type { InstanceStore } from '../instance/instance.store.js'
import type { OutboxItem } from '../platform/outbox/outbox.store.js'
import type { RestrictionStore } from '../restrictions/restrictions.store.js'
import { refuseBlocked } from '../restrictions/restrictions.service.js'
import type { UserStore } from '../users/users.store.js'
import type { OrgInvitationStore } from '../organizations/org-invitations.store.js'
import type { InvitationService } from '../invitations/invitations.service.js'
import type { OrgInvitationService } from '../organizations/org-invitations.service.js'
import type { TicketService } from '../tickets/tickets.service.js'
import { CODE_MAX_FAILURES, CODE_TTL_MS, type CodeEmails } from '../accept/code-emails.js'
import type { InvitationLinkStore, LinkAttemptRow } from './invitation-links.store.js'
import {
  MAX_ALLOWED_DOMAINS, linkStatus, toClerkInvitationLink, toClerkInvitationLinkUse,
  type CreateInvitationLinkBody, type InvitationLinkRow, type InvitationLinkUseRow, type ListInvitationLinksQuery, type ListUsesQuery,
} from './invitation-links.schemas.js'

interface Deps {
  db: Db
  clock: Clock
  serverSecret: Buffer
  publicUrl: string
  store: InvitationLinkStore
  instances: InstanceStore
  users: UserStore
  restrictions: RestrictionStore
  orgInvitationStore: OrgInvitationStore
  invitations: InvitationService
  orgInvitations: OrgInvitationService
  tickets: TicketService
  codeEmails: CodeEmails
}

/** How long the personal invitation a use issues waits for its sign-up or sign-in to complete. */
const PERSONAL_INVITATION_DAYS = 1

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/

export type LinkState =
  | { kind: 'unknown' }
  | { kind: 'revoked' | 'expired' | 'used_up'; link: InvitationLinkRow; instance: Instance }
  | { kind: 'usable'; link: InvitationLinkRow; instance: Instance; organizationName: string | null }

/** What a proven address leads to. */
export type Redeemed =
  | { kind: 'invitation'; url: string }
  | { kind: 'has_account' | 'already_used' | 'already_member' | 'pending_invitation'; instance: Instance; emailAddress: string; organizationName: string | null }

/** A webhook event with the link (less its url, which carries the token) as `data`. */
function linkEvent(type: string, row: InvitationLinkRow, now: number, extra: Record<string, unknown> = {}): OutboxItem {
  const { url: _url, ...link } = toClerkInvitationLink(row, now, '')
  return { id: newId('msg', now), kind: 'webhook', topic: type, payload: { data: { ...link, ...extra }, object: 'event', type, timestamp: now, instance_id: row.instance_id } }
}

/**
 * Shareable invitation links (Foyer extension): one link, any number of people up to its
 * limit. Opening it changes nothing. An address is proven by an emailed code first; only
 * then is a use counted, and the link issues that address a personal invitation (never
 * emailed) that the person redeems at once, through the invitation flows: sign-up, or
 * sign-in for an account that exists.
 */
export function createInvitationLinkService(deps: Deps) {
  const { db, clock, store } = deps
  const tokenOf = (row: Pick<InvitationLinkRow, 'id' | 'token_nonce'>) => deriveTicket(deps.serverSecret, row.id, row.token_nonce)
  const urlOf = (row: Pick<InvitationLinkRow, 'id' | 'token_nonce'>) => `${deps.publicUrl}/join?token=${tokenOf(row)}`
  const codeFor = (attempt: Pick<LinkAttemptRow, 'id' | 'code_nonce'>) => deriveCode(deps.serverSecret, 'link', attempt.id, attempt.code_nonce)

  function checkDomains(raw: string[] | null | undefined): string[] {
    const domains = new Set<string>()
    for (const [i, value] of (raw ?? []).entries()) {
      const domain = value.trim().toLowerCase().replace(/^@/, '')
      if (!DOMAIN.test(domain)) throw paramError(422, 'form_param_format_invalid', `allowed_domains[${i}]`, 'is invalid', `allowed_domains[${i}] must be a domain name, such as example.com.`)
      domains.add(domain)
    }
    if (domains.size > MAX_ALLOWED_DOMAINS) throw paramError(422, 'form_param_value_invalid', 'allowed_domains', 'is invalid', `At most ${MAX_ALLOWED_DOMAINS} domains.`)
    return [...domains]
  }

  async function instanceById(q: Queryable, id: string): Promise<Instance | null> {
    const row = await deps.instances.findById(q, id)
    return row ? toInstance(row) : null
  }

  async function stateOf(q: Queryable, link: InvitationLinkRow | null): Promise<LinkState> {
    const instance = link && await instanceById(q, link.instance_id)
    if (!link || !instance) return { kind: 'unknown' }
    const status = linkStatus(link, clock.now(instance))
    if (status !== 'active') return { kind: status, link, instance }
    let organizationName: string | null = null
    if (link.organization_id) {
      const described = await deps.orgInvitationStore.describeInvite(q, { instanceId: instance.id, organizationId: link.organization_id, role: link.role ?? '', inviterUserId: null })
      if (!described.organization) return { kind: 'unknown' }
      organizationName = described.organization.name
    }
    return { kind: 'usable', link, instance, organizationName }
  }

  /** The link a token opens, and whether it can be used; reading it changes nothing. */
  async function resolve(token: string | null | undefined): Promise<LinkState> {
    if (!token || token.length > 100 || !/^[A-Za-z0-9_-]+$/.test(token)) return { kind: 'unknown' }
    return stateOf(db, await store.findByTokenHash(db, sha256(token)))
  }

  async function attemptOf(id: string | undefined): Promise<{ attempt: LinkAttemptRow; state: LinkState } | null> {
    const attempt = id && id.length <= 100 ? await store.findAttempt(db, id) : null
    if (!attempt) return null
    return { attempt, state: await stateOf(db, await store.findAnyById(db, attempt.link_id)) }
  }

  const present = (instance: Instance) => (row: InvitationLinkRow) => toClerkInvitationLink(row, clock.now(instance), urlOf(row))

  async function find(instance: Instance, id: string): Promise<InvitationLinkRow> {
    const row = id.length <= 100 ? await store.findById(db, instance.id, id) : null
    if (!row) throw notFound('invitation link')
    return row
  }

  return {
    present,
    urlOf,
    codeFor,
    resolve,

    async create(instance: Instance, body: CreateInvitationLinkBody): Promise<InvitationLinkRow> {
      const now = clock.now(instance)
      const organizationId = body.organization_id?.trim() || null
      const role = body.role?.trim() || null
      if (role && !organizationId) throw paramError(422, 'form_param_value_invalid', 'role', 'is invalid', 'role is for organization links only: pass organization_id with it, or leave role out.')
      if (organizationId && !role) throw paramError(422, 'form_param_missing', 'role', 'is missing', 'An organization link needs the role people join with, e.g. org:member.')
      if (body.expires_at != null && body.expires_at <= now) throw paramError(422, 'form_param_value_invalid', 'expires_at', 'is invalid', 'expires_at must be in the future (Unix time in milliseconds).')
      const publicMetadata = (body.public_metadata ?? {}) as Record<string, unknown>
      checkMetadataSize(publicMetadata)
      const allowedDomains = checkDomains(body.allowed_domains)
      if (organizationId) {
        const described = await deps.orgInvitationStore.describeInvite(db, { instanceId: instance.id, organizationId, role: role!, inviterUserId: null })
        if (!described.organization) throw paramError(404, 'resource_not_found', 'organization_id', 'not found', 'Given organization not found.')
        if (described.role_name === null) throw paramError(404, 'resource_not_found', 'role', 'not found', `Organization role ${role} not found.`)
      }
      const id = newId('invlink', now)
      const nonce = newNonce()
      const link = {
        id, instance_id: instance.id, organization_id: organizationId, role, public_metadata: publicMetadata, allowed_domains: allowedDomains,
        max_uses: body.max_uses ?? null, token_nonce: nonce, token_hash: sha256(tokenOf({ id, token_nonce: nonce })), expires_at: body.expires_at ?? null,
        created_at: now, updated_at: now,
      }
      const event = linkEvent('invitationLink.created', { ...link, use_count: 0, status: 'active' }, now)
      return store.insert(db, link, [event], clock.now())
    },

    async list(instance: Instance, query: ListInvitationLinksQuery) {
      const { rows, total } = await store.page(db, instance.id, {
        organizationId: query.organization_id?.trim() || null, limit: query.limit ?? 10, offset: query.offset ?? 0,
      }, query.paginated === true)
      return { data: rows, totalCount: total }
    },

    get: find,

    async uses(instance: Instance, id: string, query: ListUsesQuery) {
      const link = await find(instance, id)
      const { rows, total } = await store.uses(db, link.id, { limit: query.limit ?? 10, offset: query.offset ?? 0 }, query.paginated === true)
      return { data: rows.map(toClerkInvitationLinkUse), totalCount: total }
    },

    /** Only an active link can be revoked (an expired or used-up one too: it stays so); its URL stops working at once. */
    async revoke(instance: Instance, id: string): Promise<InvitationLinkRow> {
      const current = await find(instance, id)
      const now = clock.now(instance)
      const row = await store.revoke(db, instance.id, current.id, now, clock.now(), [linkEvent('invitationLink.revoked', { ...current, status: 'revoked', updated_at: now }, now)])
      if (row) return row
      throw new ApiError(400, 'invitation_link_not_active', 'not active', 'This invitation link is revoked already.')
    },

    /**
     * The link page's first step: checks the address (format, the link's domains, the
     * blocklist) and emails it a code. Nothing is counted yet. The code email counts in the
     * inbox's hourly budget shared with sign-up codes (429 past it).
     */
    async start(token: string, rawEmail: string): Promise<{ attemptId: string; instance: Instance }> {
      const state = await resolve(token)
      if (state.kind !== 'usable') throw linkUnusable(state)
      const { link, instance } = state
      const email = normalizeEmail(rawEmail)
      const domain = email.slice(email.lastIndexOf('@') + 1)
      if (link.allowed_domains.length > 0 && !link.allowed_domains.includes(domain)) {
        throw paramError(422, 'form_param_value_invalid', 'email_address', 'is not allowed',
          `This link is for addresses at ${link.allowed_domains.join(', ')} only.`)
      }
      await refuseBlocked(db, deps.restrictions, instance.id, email, 403, 'email_address')
      const now = clock.now(instance)
      const attempt = { id: newId('linkatt', now), link_id: link.id, instance_id: instance.id, email_address: email, code_nonce: newNonce(), code_expires_at: now + CODE_TTL_MS, created_at: now }
      await db.transaction(async (tx) => {
        await deps.codeEmails.spend(tx, attempt, now)
        await store.insertAttempt(tx, attempt)
        await deps.codeEmails.send(tx, attempt, { link_attempt_id: attempt.id }, now)
      })
      return { attemptId: attempt.id, instance }
    },

    /** An attempt waiting for its code, with its link's state; null when unknown. */
    attempt: attemptOf,

    /** The link's URL again (the page to start over from), for an attempt's link. */
    linkUrlOf: async (linkId: string) => {
      const link = await store.findAnyById(db, linkId)
      return link ? urlOf(link) : null
    },

    /** The current code of an attempt still waiting, for its `verification_code` email. */
    async codeEmail(attemptId: string): Promise<{ instanceId: string; to: string; code: string; expiresAt: number; url: string } | null> {
      const attempt = await store.findAttempt(db, attemptId)
      if (!attempt || attempt.status !== 'pending') return null
      return {
        instanceId: attempt.instance_id, to: attempt.email_address, code: codeFor(attempt), expiresAt: Number(attempt.code_expires_at),
        url: `${deps.publicUrl}/join/verify?attempt=${encodeURIComponent(attempt.id)}`,
      }
    },

    /**
     * The code comes back: the address is proven. Then, in one transaction, the attempt
     * completes, one use is counted (guarded: never past max_uses) and the address gets a
     * personal invitation, not emailed, whose URL the person follows at once. Nothing is
     * counted for an address that cannot join through it: one with an account already (an
     * application link), a member already, one with a pending invitation, or one that used
     * the link before (it is led back to its invitation while that waits).
     */
    async redeem(attemptId: string, code: string): Promise<Redeemed> {
      const found = await attemptOf(attemptId)
      if (!found) throw notFound('sign-up')
      const { attempt, state } = found
      if (state.kind !== 'usable') throw linkUnusable(state)
      const { link, instance } = state
      const now = clock.now(instance)
      const dead = () => paramError(400, 'verification_failed', 'code', 'This code can no longer be used.', 'Too many incorrect codes, or it was used already: open the link again to get a new code.')
      if (attempt.status !== 'pending') throw dead()
      if (attempt.code_expires_at <= now) throw paramError(400, 'verification_expired', 'code', 'This code has expired.', 'Open the link again to get a new code.')
      const tries = await store.spendTry(db, attempt.id, CODE_MAX_FAILURES, now)
      if (tries === null) throw dead()
      if (!sameSecret(code.trim(), codeFor(attempt))) {
        const left = CODE_MAX_FAILURES - tries
        throw paramError(422, 'form_code_incorrect', 'code', 'Incorrect code.',
          left > 0 ? `The code is incorrect: ${left} ${left === 1 ? 'try' : 'tries'} left.` : 'The code is incorrect, and that was the last try: open the link again to get a new code.')
      }
      const email = attempt.email_address
      const about = { instance, emailAddress: email, organizationName: state.organizationName }
      const previous = await store.findUse(db, link.id, email)
      if (previous?.joined_user_id) {
        await store.completeAttempt(db, attempt.id, now)
        return { kind: 'already_used', ...about }
      }
      if (previous) {
        // Counted already, but not joined: back to its invitation while that waits, else a new
        // one (the first expired unused), without counting again.
        const waiting = previous.invitation_id ? await pendingInvitationUrl(instance, previous.invitation_id) : null
        if (waiting) {
          await store.completeAttempt(db, attempt.id, now)
          return { kind: 'invitation', url: waiting }
        }
        return refusing(about, () => db.transaction(async (tx) => {
          if (!await store.completeAttempt(tx, attempt.id, now)) throw dead()
          return { kind: 'invitation' as const, url: await issue(tx, instance, link, email, previous.id) }
        }))
      }
      const user = await deps.users.findByVerifiedEmail(db, instance.id, email)
      if (user && !link.organization_id) {
        await store.completeAttempt(db, attempt.id, now)
        return { kind: 'has_account', ...about }
      }
      return refusing(about, () => db.transaction(async (tx) => {
        if (!await store.completeAttempt(tx, attempt.id, now)) throw dead()
        const use: Omit<InvitationLinkUseRow, 'invitation_id'> = { id: newId('linkuse', now), link_id: link.id, instance_id: instance.id, email_address: email, user_id: user?.id ?? null, created_at: now }
        const counted = { ...link, use_count: Number(link.use_count) + 1, updated_at: now }
        const event = linkEvent('invitationLink.used', counted, now, { use: toClerkInvitationLinkUse({ ...use, invitation_id: null, joined_user_id: null }) })
        const used = await store.use(tx, use, now, clock.now(), [event])
        if (!used) throw linkUnusable(await stateOf(tx, await store.findById(tx, instance.id, link.id)))
        return { kind: 'invitation' as const, url: await issue(tx, instance, link, email, use.id) }
      }))
    },
  }

  /** The personal invitation of a use (never emailed), in the use's transaction: the URL the person follows. */
  async function issue(tx: Queryable, instance: Instance, link: InvitationLinkRow, email: string, useId: string): Promise<string> {
    const invitation = link.organization_id
      ? await deps.orgInvitations.create(instance, link.organization_id, {
        email_address: email, role: link.role!, public_metadata: link.public_metadata, expires_in_days: PERSONAL_INVITATION_DAYS,
      }, { q: tx, source: 'link', notify: false })
      : await deps.invitations.create(instance, {
        email_address: email, public_metadata: link.public_metadata, notify: false, ignore_existing: true, expires_in_days: PERSONAL_INVITATION_DAYS,
      }, tx)
    await store.setUseInvitation(tx, useId, invitation.id)
    return deps.tickets.url(invitation)
  }

  /** Refusals that mean "nothing to join here" become answers for the page; the rest are thrown on. */
  async function refusing(about: { instance: Instance; emailAddress: string; organizationName: string | null }, run: () => Promise<Redeemed>): Promise<Redeemed> {
    try {
      return await run()
    } catch (err) {
      if (err instanceof ApiError && err.code === 'already_a_member_in_organization') return { kind: 'already_member', ...about }
      if (err instanceof ApiError && err.code === 'organization_invitation_not_unique') return { kind: 'pending_invitation', ...about }
      // The same address, proven twice at once: the other request counted it.
      if (isUniqueViolation(err)) return { kind: 'already_used', ...about }
      throw err
    }
  }

  /** The URL of a use's personal invitation while it can still be accepted. */
  async function pendingInvitationUrl(instance: Instance, invitationId: string): Promise<string | null> {
    const pending = await store.pendingInvitation(db, instance.id, invitationId, clock.now(instance))
    return pending ? deps.tickets.url(pending) : null
  }
}

/** Why a link cannot be used, as the page and the API say it. */
export function linkUnusable(state: LinkState): ApiError {
  switch (state.kind) {
    case 'unknown': return new ApiError(404, 'resource_not_found', 'not found', 'This invitation link is not valid. Check that you opened all of it, or ask for a new one.')
    case 'revoked': return new ApiError(410, 'ticket_invalid', 'revoked', 'This invitation link was withdrawn. Ask the person who shared it for a new one.')
    case 'expired': return new ApiError(410, 'ticket_expired', 'expired', 'This invitation link has expired. Ask the person who shared it for a new one.')
    case 'used_up': return new ApiError(410, 'ticket_invalid', 'used up', 'This invitation link has been used as many times as it allows. Ask the person who shared it for a new one.')
    case 'usable': return new ApiError(500, 'internal_clerk_error', 'usable', 'The link is usable.')
  }
}

export type InvitationLinkService = ReturnType<typeof createInvitationLinkService>
