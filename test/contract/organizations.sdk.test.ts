import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ClerkClient } from '@clerk/backend'
import { APP_ORIGIN, PUBLIC_URL, uniqueEmail, type TestApp, forEachSdkTarget, startSdkServer, type SdkServer } from '../helpers/build-app.js'
import { assertMatchesSpec, loadBapiSpec } from '../helpers/spec.js'
import { createClerkClient, exchanges, recordEachTest, recorded, sdkError } from './sdk-recorder.js'

const spec = loadBapiSpec()
const DAY_MS = 24 * 60 * 60 * 1000

forEachSdkTarget('@clerk/backend organizations', (target) => {
  let server: SdkServer
  let t: TestApp
  let apiUrl: string

  before(async () => {
    server = await startSdkServer(target)
    t = server.t
    apiUrl = server.apiUrl
  })
  after(() => server.close())
  recordEachTest()

  const newClerk = async (): Promise<ClerkClient> => {
    const { secretKey } = await t.newInstance()
    return createClerkClient({ secretKey, apiUrl, telemetry: { disabled: true } })
  }

  /** An organization created by a new user, who is its admin. */
  async function orgWithAdmin(clerk: ClerkClient, name = 'Acme') {
    const admin = await clerk.users.createUser({ emailAddress: [uniqueEmail('admin')], firstName: 'Ada', lastName: 'Admin' })
    const org = await clerk.organizations.createOrganization({ name, createdBy: admin.id, maxAllowedMemberships: 5, publicMetadata: { tier: 'gold' }, privateMetadata: { crm: 1 } })
    return { admin, org }
  }

  it('createOrganization and getOrganization return an Organization the SDK reads, with spec-valid bodies', async () => {
    const clerk = await newClerk()
    const { admin, org } = await orgWithAdmin(clerk, 'Acme Rockets')
    const raw = recorded('POST', '/v1/organizations')
    assert.equal(raw.status, 200)
    assertMatchesSpec(spec.response('CreateOrganization', 200), raw.body, 'POST /v1/organizations 200 body')
    assert.match(org.id, /^org_/)
    assert.equal(org.name, 'Acme Rockets')
    assert.equal(org.slug, 'acme-rockets')
    assert.equal(org.createdBy, admin.id)
    assert.equal(org.maxAllowedMemberships, 5)
    assert.deepEqual(org.publicMetadata, { tier: 'gold' })
    assert.deepEqual(org.privateMetadata, { crm: 1 })

    const bySlug = await clerk.organizations.getOrganization({ slug: 'acme-rockets' })
    assertMatchesSpec(spec.response('GetOrganization', 200), recorded('GET', '/v1/organizations/acme-rockets').body, 'GET organization 200 body')
    assert.equal(bySlug.id, org.id)
    const list = await clerk.organizations.getOrganizationList({ query: 'rockets' })
    assert.equal(list.totalCount, 1)
    assert.equal(list.data[0]?.id, org.id)

    const err = await sdkError(clerk.organizations.createOrganization({ name: 'Other', slug: 'acme-rockets' }))
    assert.ok(err.status >= 400 && err.status < 500, String(err.status))
    assert.equal(err.errors[0]?.meta?.paramName, 'slug')
  })

  it('createOrganizationMembership adds an existing user; getOrganizationMembershipList lists members', async () => {
    const clerk = await newClerk()
    const { admin, org } = await orgWithAdmin(clerk)
    const grace = await clerk.users.createUser({ emailAddress: [uniqueEmail('grace')], firstName: 'Grace' })
    const membership = await clerk.organizations.createOrganizationMembership({ organizationId: org.id, userId: grace.id, role: 'org:member' })
    const raw = recorded('POST', `/v1/organizations/${org.id}/memberships`)
    assertMatchesSpec(spec.response('CreateOrganizationMembership', 200), raw.body, 'create membership 200 body')
    assert.match(membership.id, /^orgmem_/)
    assert.equal(membership.role, 'org:member')
    assert.equal(membership.organization.id, org.id)
    assert.equal(membership.publicUserData?.userId, grace.id)
    assert.equal(membership.publicUserData?.firstName, 'Grace')
    assert.ok(membership.permissions.includes('org:sys_memberships:read'))

    const list = await clerk.organizations.getOrganizationMembershipList({ organizationId: org.id })
    assertMatchesSpec(spec.response('ListOrganizationMemberships', 200), recorded('GET', `/v1/organizations/${org.id}/memberships`).body, 'list memberships 200 body')
    assert.equal(list.totalCount, 2)
    assert.deepEqual(new Set(list.data.map((m) => m.publicUserData?.userId)), new Set([admin.id, grace.id]))
    assert.equal(list.data.find((m) => m.publicUserData?.userId === admin.id)?.role, 'org:admin')

    const other = await clerk.organizations.createOrganization({ name: 'Other', createdBy: grace.id })
    const everywhere = await clerk.organizations.getInstanceOrganizationMembershipList({ orderBy: '+created_at' })
    assertMatchesSpec(spec.response('InstanceGetOrganizationMemberships', 200), recorded('GET', '/v1/organization_memberships').body, 'instance memberships 200 body')
    assert.equal(everywhere.totalCount, 3)
    assert.deepEqual(everywhere.data.map((m) => m.organization.id).sort(), [org.id, org.id, other.id].sort())
    const elsewhere = await (await newClerk()).organizations.getInstanceOrganizationMembershipList({})
    assert.equal(elsewhere.totalCount, 0, 'another instance sees none of them')

    const promoted = await clerk.organizations.updateOrganizationMembership({ organizationId: org.id, userId: grace.id, role: 'org:admin' })
    assert.equal(promoted.role, 'org:admin')
    const removed = await clerk.organizations.deleteOrganizationMembership({ organizationId: org.id, userId: grace.id })
    assert.equal(removed.publicUserData?.userId, grace.id)

    const again = await sdkError(clerk.organizations.createOrganizationMembership({ organizationId: org.id, userId: admin.id, role: 'org:member' }))
    assert.ok(again.status >= 400 && again.status < 500)
    const badRole = await sdkError(clerk.organizations.createOrganizationMembership({ organizationId: org.id, userId: grace.id, role: 'org:nobody' }))
    assert.equal(badRole.errors[0]?.meta?.paramName, 'role')
  })

  it('createOrganizationInvitation, getOrganizationInvitation, getOrganizationInvitationList and revokeOrganizationInvitation', async () => {
    const clerk = await newClerk()
    const { admin, org } = await orgWithAdmin(clerk)
    const emailAddress = uniqueEmail('invitee')
    const invitation = await clerk.organizations.createOrganizationInvitation({
      organizationId: org.id, inviterUserId: admin.id, emailAddress, role: 'org:member',
      redirectUrl: `${APP_ORIGIN}/join`, publicMetadata: { team: 'rockets' }, privateMetadata: { source: 'crm' }, expiresInDays: 7,
    })
    const raw = recorded('POST', `/v1/organizations/${org.id}/invitations`)
    assert.equal(raw.status, 200)
    assertMatchesSpec(spec.response('CreateOrganizationInvitation', 200), raw.body, 'create org invitation 200 body')
    assert.match(invitation.id, /^orginv_/)
    assert.equal(invitation.emailAddress, emailAddress)
    assert.equal(invitation.role, 'org:member')
    assert.equal(invitation.roleName, 'Member')
    assert.equal(invitation.organizationId, org.id)
    assert.equal(invitation.status, 'pending')
    assert.deepEqual(invitation.publicMetadata, { team: 'rockets' })
    assert.deepEqual(invitation.privateMetadata, { source: 'crm' })
    assert.equal(raw.body.inviter_id, admin.id)
    assert.ok(invitation.url?.startsWith(`${PUBLIC_URL}/v1/tickets/accept?ticket=`), invitation.url ?? 'no url')
    assert.equal(invitation.expiresAt, invitation.createdAt + 7 * DAY_MS)

    const one = await clerk.organizations.getOrganizationInvitation({ organizationId: org.id, invitationId: invitation.id })
    assertMatchesSpec(spec.response('GetOrganizationInvitation', 200), recorded('GET', `/v1/organizations/${org.id}/invitations/${invitation.id}`).body, 'get org invitation 200 body')
    assert.equal(one.id, invitation.id)

    const list = await clerk.organizations.getOrganizationInvitationList({ organizationId: org.id, status: ['pending'] })
    assertMatchesSpec(spec.response('ListOrganizationInvitations', 200), recorded('GET', `/v1/organizations/${org.id}/invitations`).body, 'list org invitations 200 body')
    assert.equal(list.totalCount, 1)
    assert.equal(list.data[0]?.id, invitation.id)

    const revoked = await clerk.organizations.revokeOrganizationInvitation({ organizationId: org.id, invitationId: invitation.id, requestingUserId: admin.id })
    assertMatchesSpec(spec.response('RevokeOrganizationInvitation', 200), recorded('POST', `/v1/organizations/${org.id}/invitations/${invitation.id}/revoke`).body, 'revoke 200 body')
    assert.equal(revoked.status, 'revoked')
    const twice = await sdkError(clerk.organizations.revokeOrganizationInvitation({ organizationId: org.id, invitationId: invitation.id, requestingUserId: admin.id }))
    assert.ok(twice.status >= 400 && twice.status < 500)
  })

  it('createOrganizationInvitationBulk is all or nothing; the rules surface as ClerkAPIResponseErrors naming the parameter', async () => {
    const clerk = await newClerk()
    const { admin, org } = await orgWithAdmin(clerk)
    const emails = [uniqueEmail('bulk1'), uniqueEmail('bulk2')]
    const bulk = await clerk.organizations.createOrganizationInvitationBulk(org.id, emails.map((emailAddress) => ({ emailAddress, role: 'org:member', inviterUserId: admin.id })))
    const raw = recorded('POST', `/v1/organizations/${org.id}/invitations/bulk`)
    assertMatchesSpec(spec.response('CreateOrganizationInvitationBulk', 200), raw.body, 'bulk 200 body')
    const created = Array.isArray(bulk) ? bulk : bulk.data
    assert.deepEqual(created.map((i) => i.emailAddress), emails)

    const fresh = uniqueEmail('bulk3')
    const refused = await sdkError(clerk.organizations.createOrganizationInvitationBulk(org.id, [
      { emailAddress: fresh, role: 'org:member' }, { emailAddress: emails[0]!, role: 'org:member' },
    ]))
    assert.ok(refused.status >= 400 && refused.status < 500)
    const pending = await clerk.organizations.getOrganizationInvitationList({ organizationId: org.id, status: ['pending'] })
    assert.equal(pending.totalCount, 2, 'nothing of the refused batch was kept')

    const unknownRole = await sdkError(clerk.organizations.createOrganizationInvitation({ organizationId: org.id, emailAddress: fresh, role: 'org:nobody' }))
    assert.equal(unknownRole.errors[0]?.meta?.paramName, 'role')
    const outsider = await clerk.users.createUser({ emailAddress: [uniqueEmail('outsider')] })
    const notAllowed = await sdkError(clerk.organizations.createOrganizationInvitation({ organizationId: org.id, emailAddress: fresh, role: 'org:member', inviterUserId: outsider.id }))
    assert.equal(notAllowed.status, 403)
    const member = await sdkError(clerk.organizations.createOrganizationInvitation({ organizationId: org.id, emailAddress: admin.primaryEmailAddress!.emailAddress, role: 'org:member' }))
    assert.ok(member.status >= 400 && member.status < 500)
  })

  it('organization domains: create, list, update and delete', async () => {
    // @clerk/backend 3.x has no OrganizationDomain class: its deserializer hands these objects
    // back as the JSON the API sent, so the wire names are what callers read.
    const clerk = await newClerk()
    const { org } = await orgWithAdmin(clerk)
    const name = `sdk${Date.now().toString(36)}.example.org`
    const domain = await clerk.organizations.createOrganizationDomain({ organizationId: org.id, name, enrollmentMode: 'automatic_invitation' }) as unknown as Record<string, any>
    const raw = recorded('POST', `/v1/organizations/${org.id}/domains`)
    assertMatchesSpec(spec.response('CreateOrganizationDomain', 200), raw.body, 'create domain 200 body')
    assert.deepEqual(domain, raw.body)
    assert.match(domain.id, /^orgdmn_/)
    assert.equal(domain.name, name)
    assert.equal(domain.enrollment_mode, 'automatic_invitation')
    const list = await clerk.organizations.getOrganizationDomainList({ organizationId: org.id })
    assertMatchesSpec(spec.response('ListOrganizationDomains', 200), recorded('GET', `/v1/organizations/${org.id}/domains`).body, 'list domains 200 body')
    assert.equal(list.totalCount, 1)
    const updated = await clerk.organizations.updateOrganizationDomain({ organizationId: org.id, domainId: domain.id, enrollmentMode: 'automatic_suggestion' }) as unknown as Record<string, any>
    assertMatchesSpec(spec.response('UpdateOrganizationDomain', 200), recorded('PATCH', `/v1/organizations/${org.id}/domains/${domain.id}`).body, 'update domain 200 body')
    assert.equal(updated.enrollment_mode, 'automatic_suggestion')
    const deleted = await clerk.organizations.deleteOrganizationDomain({ organizationId: org.id, domainId: domain.id })
    assert.equal(deleted.id, domain.id)
  })

  it('deleteOrganization removes it with its memberships and invitations', async () => {
    const clerk = await newClerk()
    const { org, admin } = await orgWithAdmin(clerk)
    await clerk.organizations.createOrganizationInvitation({ organizationId: org.id, emailAddress: uniqueEmail(), role: 'org:member' })
    const deleted = await clerk.organizations.deleteOrganization(org.id)
    assert.equal(deleted.id, org.id)
    const gone = await sdkError(clerk.organizations.getOrganization({ organizationId: org.id }))
    assert.equal(gone.status, 404)
    const memberships = await clerk.users.getOrganizationMembershipList({ userId: admin.id })
    assert.equal(memberships.totalCount, 0)
  })
})
