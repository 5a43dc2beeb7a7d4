import type { Db, Queryable } from '../platform/db/db.js'
import { DAY_MS, type Clock } from '../platform/clock.js'
import { isInstanceId, ksuid, newId } from '../platform/ids.js'
import { deriveTicket, newNonce, sha256 } from '../platform/secrets.js'
import { ApiError, paramError } from '../platform/errors.js'
import { normalizeEmail } from '../platform/validation.js'
import type { OutboxStore } from '../platform/outbox/outbox.store.js'
import { checkPassword, hashPassword } from '../users/passwords.js'
import { createDashboardStore, type DashboardStore } from './dashboard.store.js'
import { OPERATOR_SESSION_TTL_MS, type Operator } from './dashboard.service.js'
import { OPERATOR_ROLES, type OperatorAccess } from './authorization.js'
import { createOperatorStore, type OperatorInvitationRow, type OperatorRole, type OperatorStore } from './operators.store.js'
import { operatorInvitationEmail } from './operators.email.js'
import type { RenderedEmail } from '../email/email.templates.js'
import { randomBytes } from 'node:crypto'

/** Long enough to survive a weekend in an inbox; short enough that a forgotten link dies. */
export const OPERATOR_INVITATION_TTL_MS = 7 * DAY_MS
export const OPERATOR_INVITATION_TOPIC = 'operator_invitation'

/** Who may reach what: every instance, or the ones listed. */
export interface OperatorScope {
  allInstances: boolean
  instanceIds: string[]
}

export interface TeamOperator extends OperatorScope {
  id: string
  emailAddress: string
  role: OperatorRole
  createdAt: number
}

export interface OperatorInvitation extends OperatorScope {
  id: string
  emailAddress: string
  role: OperatorRole
  invitedBy: string | null
  createdAt: number
  expiresAt: number
}

/**
 * A change to the team, told to `record` inside the transaction that makes it (so an audit
 * entry is written, or not, with the change itself).
 */
export type TeamChange =
  | { action: 'operator.invited'; actor: Operator; invitation: OperatorInvitation }
  | { action: 'operator.invitation_revoked'; actor: Operator; invitation: OperatorInvitation }
  | { action: 'operator.joined'; operator: TeamOperator; invitationId: string }
  | { action: 'operator.role_changed'; actor: Operator; before: TeamOperator; after: TeamOperator }
  | { action: 'operator.removed'; actor: Operator; operator: TeamOperator }

interface Deps {
  db: Db
  clock: Clock
  serverSecret: Buffer
  publicUrl: string
  outbox: OutboxStore
  store?: OperatorStore
  dashboardStore?: DashboardStore
  record?: (q: Queryable, change: TeamChange) => Promise<void>
}

/** What the invitation form or the role form sent, before it is checked. */
export interface AccessInput {
  role: string
  /** 'all' for every instance; anything else means the ones in `instanceIds`. */
  scope: string
  instanceIds: readonly string[]
}

const lastOwner = (param: string) => paramError(422, 'form_param_value_invalid', param, 'would leave no owner',
  'This is the last owner: Foyer keeps at least one. Make another operator an owner first.')
const operatorNotFound = () => new ApiError(404, 'resource_not_found', 'not found', 'No such operator exists.')
const invitationInvalid = () => new ApiError(404, 'resource_not_found', 'not found',
  'This invitation link is not valid: it was already used, it expired, or it was revoked. Ask an owner for a new invitation.')

const toOperator = (row: { id: string; email_address: string; role: OperatorRole; all_instances: boolean; instance_ids: string[]; created_at: number }): TeamOperator => ({
  id: row.id, emailAddress: row.email_address, role: row.role, allInstances: row.all_instances,
  instanceIds: row.all_instances ? [] : [...row.instance_ids], createdAt: Number(row.created_at),
})

const toInvitation = (row: OperatorInvitationRow & { instance_ids: string[]; invited_by_email?: string | null }): OperatorInvitation => ({
  id: row.id, emailAddress: row.email_address, role: row.role, allInstances: row.all_instances,
  instanceIds: row.all_instances ? [] : [...row.instance_ids], invitedBy: row.invited_by_email ?? null,
  createdAt: Number(row.created_at), expiresAt: Number(row.expires_at),
})

/**
 * The dashboard's operators as a team: roles, reach, invitations by email and their
 * acceptance. Every change to an operator's role or existence runs under one lock, inside
 * which the owners are counted: two owners demoting each other at once cannot both succeed.
 */
export function createOperatorTeam({ db, clock, serverSecret, publicUrl, outbox, store = createOperatorStore(), dashboardStore = createDashboardStore(), record }: Deps) {
  const tokenFor = (row: { id: string; token_nonce: string }) => deriveTicket(serverSecret, row.id, row.token_nonce)
  const urlFor = (row: { id: string; token_nonce: string }) => `${publicUrl}/dashboard/invitations/accept?token=${tokenFor(row)}`
  const tell = async (q: Queryable, change: TeamChange) => { if (record) await record(q, change) }

  /** The role and reach the form asks for, checked: an owner always reaches every instance. */
  async function accessFrom(q: Queryable, input: AccessInput): Promise<{ role: OperatorRole } & OperatorScope> {
    const role = OPERATOR_ROLES.find((r) => r === input.role)
    if (!role) throw paramError(422, 'form_param_value_invalid', 'role', 'is invalid', 'Choose a role: owner, admin or viewer.')
    if (role === 'owner' || input.scope === 'all') return { role, allInstances: true, instanceIds: [] }
    const wanted = [...new Set(input.instanceIds)].filter(isInstanceId)
    if (wanted.length === 0) throw paramError(422, 'form_param_missing', 'instance_ids', 'is missing', 'Choose at least one instance, or all instances.')
    const found = await store.existingInstanceIds(q, wanted)
    if (found.length !== new Set(input.instanceIds).size) throw paramError(422, 'form_param_value_invalid', 'instance_ids', 'is invalid', 'One of the chosen instances does not exist.')
    return { role, allInstances: false, instanceIds: found.sort() }
  }

  return {
    /** The operator's role and reach now; null once they were removed. */
    async accessOf(operatorId: string): Promise<OperatorAccess | null> {
      const row = await store.findAccess(db, operatorId)
      return row && { role: row.role, allInstances: row.all_instances, instanceIds: row.all_instances ? [] : row.instance_ids }
    },

    async list(): Promise<{ operators: TeamOperator[]; invitations: OperatorInvitation[] }> {
      const [operators, invitations] = await Promise.all([store.listOperators(db), store.listPendingInvitations(db)])
      return { operators: operators.map(toOperator), invitations: invitations.map(toInvitation) }
    },

    /**
     * Invites `emailAddress` to join with a role and reach, and queues the email through the
     * outbox (a dead SMTP server delays it, never loses it). 422 for an address that is an
     * operator already or has a pending invitation, or an invalid role or scope.
     */
    async invite(actor: Operator, input: { emailAddress: string } & AccessInput): Promise<OperatorInvitation> {
      const emailAddress = normalizeEmail(input.emailAddress, 'email_address')
      return db.transaction(async (tx) => {
        // Serialises invitations with each other and with acceptance's check for an operator of that address.
        await store.lockOperators(tx)
        const access = await accessFrom(tx, input)
        const now = clock.now()
        if (await store.findOperatorIdByEmail(tx, emailAddress)) {
          throw paramError(422, 'form_identifier_exists', 'email_address', 'is taken', 'That address is an operator already: change their role instead.')
        }
        const pending = await store.findPendingInvitationByEmail(tx, emailAddress)
        if (pending && pending.expires_at > now) {
          throw paramError(422, 'duplicate_record', 'email_address', 'is invited already', 'That address has a pending invitation: revoke it first to send a new one.')
        }
        // An expired one only stands in the way: inviting again replaces it.
        if (pending) await store.revokeInvitation(tx, pending.id, now)
        const carrier = await store.findCarrierInstance(tx)
        if (!carrier) throw new ApiError(422, 'form_param_value_invalid', 'no instance', 'Create an instance first: operator emails are sent through the default instance\'s outbox.')
        const id = `opinv_${ksuid(now)}`
        const nonce = newNonce()
        const row = await store.insertInvitation(tx, {
          id, email_address: emailAddress, role: access.role, all_instances: access.allInstances, token_nonce: nonce,
          token_hash: sha256(tokenFor({ id, token_nonce: nonce })), invited_by: actor.id, created_at: now, expires_at: now + OPERATOR_INVITATION_TTL_MS,
        }, access.instanceIds)
        // The link is derived again when the email is sent: the outbox holds no working token.
        await outbox.enqueue(tx, [{
          id: newId('msg', now), instanceId: carrier.id, kind: 'email', topic: OPERATOR_INVITATION_TOPIC, subjectId: id,
          payload: { operator_invitation_id: id, to: emailAddress, template_slug: OPERATOR_INVITATION_TOPIC }, nextAttemptAt: clock.now(),
        }], clock.now())
        const invitation = toInvitation({ ...row, instance_ids: access.instanceIds, invited_by_email: actor.emailAddress })
        await tell(tx, { action: 'operator.invited', actor, invitation })
        return invitation
      })
    },

    /** Revokes a pending invitation: its link stops working. 404 when it is not pending. */
    async revokeInvitation(actor: Operator, invitationId: string): Promise<OperatorInvitation> {
      return db.transaction(async (tx) => {
        const row = await store.revokeInvitation(tx, invitationId, clock.now())
        if (!row) throw new ApiError(404, 'resource_not_found', 'not found', 'No such pending invitation exists.')
        const invitation = toInvitation({ ...(await store.findInvitation(tx, row.id))! })
        await tell(tx, { action: 'operator.invitation_revoked', actor, invitation })
        return invitation
      })
    },

    /**
     * Changes an operator's role and reach; their sessions read it on their next request. The
     * last owner cannot be demoted (422 naming `role`). 404 for an unknown operator.
     */
    async changeAccess(actor: Operator, operatorId: string, input: AccessInput): Promise<TeamOperator> {
      return db.transaction(async (tx) => {
        await store.lockOperators(tx)
        const before = await store.findOperator(tx, operatorId)
        if (!before) throw operatorNotFound()
        const access = await accessFrom(tx, input)
        if (before.role === 'owner' && access.role !== 'owner' && await store.countOwners(tx) <= 1) throw lastOwner('role')
        await store.updateOperatorAccess(tx, operatorId, access, clock.now())
        const after = toOperator({ ...before, role: access.role, all_instances: access.allInstances, instance_ids: access.instanceIds })
        await tell(tx, { action: 'operator.role_changed', actor, before: toOperator(before), after })
        return after
      })
    },

    /** Removes an operator and ends their sessions. The last owner cannot be removed (422). */
    async remove(actor: Operator, operatorId: string): Promise<TeamOperator> {
      return db.transaction(async (tx) => {
        await store.lockOperators(tx)
        const row = await store.findOperator(tx, operatorId)
        if (!row) throw operatorNotFound()
        if (row.role === 'owner' && await store.countOwners(tx) <= 1) throw lastOwner('operator_id')
        await store.deleteOperator(tx, operatorId)
        const operator = toOperator(row)
        await tell(tx, { action: 'operator.removed', actor, operator })
        return operator
      })
    },

    /** The invitation a link's token opens, while it can still be accepted; else null. */
    async invitationForToken(token: string): Promise<OperatorInvitation | null> {
      if (!token) return null
      const row = await store.findUsableInvitationByTokenHash(db, sha256(token), clock.now())
      return row && toInvitation({ ...(await store.findInvitation(db, row.id))! })
    },

    /**
     * Accepts an invitation: makes the operator with the password chosen and signs them in.
     * The token works once (a guarded update: of two submissions, one wins). 404 when it is
     * unknown, used, revoked or expired, or the address became an operator meanwhile; 422 for
     * a password that is refused.
     */
    async accept(token: string, input: { password: string; ip?: string | null; userAgent?: string | null }): Promise<{ operator: TeamOperator; sessionToken: string }> {
      // A dead link costs a lookup, not a password hash: junk tokens cannot buy scrypt work.
      if (!token || !await store.findUsableInvitationByTokenHash(db, sha256(token), clock.now())) throw invitationInvalid()
      checkPassword(input.password)
      const passwordHash = await hashPassword(input.password)
      return db.transaction(async (tx) => {
        await store.lockOperators(tx)
        const now = clock.now()
        const invitation = await store.acceptInvitation(tx, sha256(token), now)
        if (!invitation || await store.findOperatorIdByEmail(tx, invitation.email_address)) throw invitationInvalid()
        const id = `op_${ksuid(now)}`
        await store.insertOperator(tx, {
          id, email_address: invitation.email_address, password_hash: passwordHash, role: invitation.role,
          all_instances: invitation.all_instances, instance_ids: invitation.instance_ids, now,
        })
        const sessionToken = randomBytes(32).toString('base64url')
        await dashboardStore.insertSession(tx, {
          token_hash: sha256(sessionToken), operator_id: id, created_at: now, expires_at: now + OPERATOR_SESSION_TTL_MS,
          id: `opss_${ksuid(now)}`, ip: input.ip ?? null, user_agent: input.userAgent?.slice(0, 400) ?? null,
        })
        const operator = toOperator({ id, email_address: invitation.email_address, role: invitation.role, all_instances: invitation.all_instances, instance_ids: invitation.instance_ids, created_at: now })
        await tell(tx, { action: 'operator.joined', operator, invitationId: invitation.id })
        return { operator, sessionToken }
      })
    },

    /**
     * The invitation email as it reads now, for the outbox's email delivery; a reason to skip
     * it once the invitation was revoked, accepted or expired.
     */
    async email(invitationId: string): Promise<{ to: string; url: string; rendered: RenderedEmail } | { skipped: 'invitation_revoked' | 'invitation_accepted' | 'invitation_expired' | 'invitation_deleted' }> {
      const row = await store.findInvitation(db, invitationId)
      if (!row) return { skipped: 'invitation_deleted' }
      if (row.status !== 'pending') return { skipped: `invitation_${row.status}` }
      if (row.expires_at <= clock.now()) return { skipped: 'invitation_expired' }
      const inviter = row.invited_by ? (await store.findOperator(db, row.invited_by))?.email_address ?? null : null
      const url = urlFor(row)
      return { to: row.email_address, url, rendered: operatorInvitationEmail({ to: row.email_address, invitedBy: inviter, role: row.role, url, expiresAt: Number(row.expires_at), publicUrl }) }
    },
  }
}

export type OperatorTeam = ReturnType<typeof createOperatorTeam>
