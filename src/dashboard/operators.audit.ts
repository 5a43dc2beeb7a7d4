import type { Queryable } from '../platform/db/db.js'
import type { Clock } from '../platform/clock.js'
import { recordAudit, type AuditEntry } from '../platform/audit/audit.js'
import type { TeamChange } from './operators.service.js'

const scopeText = (s: { allInstances: boolean; instanceIds: string[] }) => (s.allInstances ? '*' : [...s.instanceIds].sort().join(','))

/**
 * A change to the team as an audit record of no instance (the team belongs to none), listed on
 * the owners' Team audit page. A role change names what changed (`role`, `instances`), not the
 * values, as for metadata.
 */
export function teamAuditEntry(change: TeamChange): AuditEntry {
  switch (change.action) {
    case 'operator.invited':
    case 'operator.invitation_revoked':
      return { instanceId: null, action: change.action, target: { type: 'operator_invitation', id: change.invitation.id, label: change.invitation.emailAddress } }
    case 'operator.joined':
      return {
        instanceId: null, action: change.action, target: { type: 'operator', id: change.operator.id, label: change.operator.emailAddress },
        // The accept page is open to anyone: the person joining is who acts.
        actor: { type: 'operator', id: change.operator.id, label: change.operator.emailAddress },
      }
    case 'operator.role_changed':
      return {
        instanceId: null, action: change.action, target: { type: 'operator', id: change.after.id, label: change.after.emailAddress },
        changedKeys: [
          ...(change.before.role !== change.after.role ? ['role'] : []),
          ...(scopeText(change.before) !== scopeText(change.after) ? ['instances'] : []),
        ],
      }
    case 'operator.removed':
      return { instanceId: null, action: change.action, target: { type: 'operator', id: change.operator.id, label: change.operator.emailAddress } }
  }
}

/** What the team service is given to record its changes, each in the transaction that makes it. */
export const recordTeamChange = (clock: Clock) => (q: Queryable, change: TeamChange) => recordAudit(q, teamAuditEntry(change), clock.now())
