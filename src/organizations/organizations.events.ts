import { newId } from '../platform/ids.js'
import type { NewOutboxItem } from '../platform/outbox/outbox.store.js'
import { toClerkOrganization, type OrganizationRow } from './organizations.schemas.js'
import { toClerkMembership, type MembershipDetails } from './memberships.schemas.js'

export type OrganizationEventType = 'organization.created' | 'organization.updated' | 'organization.deleted'
export type MembershipEventType = 'organizationMembership.created' | 'organizationMembership.updated' | 'organizationMembership.deleted'

const event = (type: string, instanceId: string, subjectId: string, data: unknown, now: number, queuedAt: number): NewOutboxItem => ({
  id: newId('msg', now),
  instanceId,
  kind: 'webhook',
  topic: type,
  subjectId,
  payload: { data, object: 'event', type, timestamp: now, instance_id: instanceId },
  // The outbox runs on wall time, whatever the instance's (test) clock says.
  nextAttemptAt: queuedAt,
})

/**
 * `organization.created|updated` with Clerk's Organization as `data`; `organization.deleted`
 * with Clerk's DeletedObject. Queue it in the transaction of the change.
 */
export function organizationEvent(type: OrganizationEventType, org: OrganizationRow, now: number, queuedAt: number): NewOutboxItem {
  const data = type === 'organization.deleted'
    ? { object: 'organization', id: org.id, slug: org.slug, deleted: true }
    : toClerkOrganization(org)
  return event(type, org.instance_id, org.id, data, now, queuedAt)
}

/**
 * `organizationMembership.*` with Clerk's OrganizationMembership as `data` (for `deleted`, the
 * membership as it was). Its subject is the member: the data holds their address, so deleting
 * the user takes undelivered events about them along (see users.store.ts `remove`).
 */
export function membershipEvent(type: MembershipEventType, membership: MembershipDetails, now: number, queuedAt: number): NewOutboxItem {
  return event(type, membership.instance_id, membership.user_id, toClerkMembership(membership), now, queuedAt)
}
