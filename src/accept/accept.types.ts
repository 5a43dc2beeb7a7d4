import type { Instance } from '../instance/instance.schemas.js'
import type { InvitationRow } from '../invitations/invitations.schemas.js'
import type { UserRow } from '../users/users.store.js'
import type { OrgInvitationRow, OrgInvitationView } from '../organizations/org-invitations.schemas.js'
import type { MembershipDetails } from '../organizations/memberships.schemas.js'

/** The invitation a ticket belongs to: into the application, or into one of its organizations. */
export type TicketInvitation =
  | { target: 'application'; invitation: InvitationRow }
  | { target: 'organization'; invitation: OrgInvitationView }

/** What following an invitation link finds. 'declined' happens to organization invitations only. */
export type TicketState =
  | { kind: 'unknown' }
  | ({ kind: 'revoked' | 'declined' | 'expired' | 'accepted'; instance: Instance } & TicketInvitation)
  | ({ kind: 'usable'; instance: Instance; existingUser: UserRow | null } & TicketInvitation)

/** The invitation a sign-up or sign-in accepted, and for an organization invitation the membership it made. */
export interface Accepted {
  invitation: InvitationRow | OrgInvitationRow
  membership: MembershipDetails | null
}

/** A signed-in person: the cookie (or Frontend API client) carries `token`, the database only its hash. */
export interface SignedIn {
  instance: Instance
  user: UserRow
  session: {
    id: string; token: string; expiresAt: number; createdAt: number; lastActiveAt: number
    /** The organization it acts in (its tokens' `o`), while the person is a member of it. */
    activeOrganizationId: string | null
  }
}

/** What the Frontend API's User shows beyond the user row (see AcceptService.userFacts). */
export interface UserFacts {
  /** The emailed code that verified the address, if one did: its expiry and the wrong codes before it. */
  code: { expire_at: number; failed_attempts: number } | null
  memberships: MembershipDetails[]
}
