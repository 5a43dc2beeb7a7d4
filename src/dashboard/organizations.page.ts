import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, paramError } from '../platform/errors.js'
import { effectiveOrgInvitationStatus } from '../organizations/org-invitations.schemas.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { DashboardContext, DashboardSection } from './dashboard.context.js'
import type { FormError } from './dashboard.views.js'
import {
  EMPTY_CREATE_ORG, EMPTY_ORG_VALUES, orgDetailBody, orgDetailPath, orgInvitationBody, orgsListBody, orgsPath,
  type CreateOrgValues, type OrgForm, type OrgFormValues, type OrgListState,
} from './organizations.views.js'

const PAGE_SIZE = 20
const MAX_OFFSET = 100_000
// Rows of each list shown on an organization's page; the rest are counted.
const SHOWN = 100

// Fixed texts, chosen by a code in the redirect's query: nothing typed into a URL is echoed.
const NOTICES: Record<string, string> = {
  created: 'The organization was created.',
  role: 'The member\'s role was changed.',
  removed: 'The member was removed from the organization.',
  invited: 'The invitation was created.',
  revoked: 'The invitation was revoked; its link no longer works.',
  domain_added: 'The domain was added.',
  domain_deleted: 'The domain was deleted.',
}

type Query = Record<string, string | undefined>
type Params = { organization_id: string; user_id?: string; invitation_id?: string; domain_id?: string }

const field = (req: FastifyRequest, name: string): string => {
  const value = (req.body as Query | undefined)?.[name]
  return typeof value === 'string' ? value : ''
}

function listState(query: Query): OrgListState {
  const offset = /^\d{1,9}$/.test(query.offset ?? '') ? Math.min(Number(query.offset), MAX_OFFSET) : 0
  return { q: (query.q ?? '').trim().slice(0, 256), offset, limit: PAGE_SIZE }
}

/**
 * A refusal the operator can fix on the same page (a bad value, the last-admin rule, a full
 * organization, a duplicate), worded by the service; anything else (not found, a failure)
 * goes on to the error page.
 */
function refusal(err: unknown): FormError & { status: number } {
  if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429) throw err
  const param = typeof err.meta.param_name === 'string' ? err.meta.param_name : undefined
  // A 404 about the thing in the path is the answer itself; one naming a field (a role) is a refusal.
  if (err.status === 404 && !param) throw err
  return { status: err.status, message: err.longMessage, ...(param ? { param } : {}) }
}

function maxMembersOf(text: string): number | undefined {
  const value = text.trim()
  if (!value) return undefined
  if (!/^\d{1,10}$/.test(value) || Number(value) > 2_147_483_647) {
    throw paramError(422, 'form_param_format_invalid', 'max_allowed_memberships', 'is invalid', 'Max members must be a whole number, 0 for no limit.')
  }
  return Number(value)
}

/**
 * The organizations of the instance in the path: list with search and create; a detail page
 * with the members (change role, remove), the pending invitations (invite with a role,
 * revoke) and the verified domains (add, delete). Everything goes through the organizations,
 * memberships, roles, orgInvitations and domains services.
 */
export const organizationsSection: DashboardSection = {
  key: 'organizations',
  label: 'Organizations',
  path: 'organizations',
  routes: (ctx: DashboardContext) => async (app: FastifyInstance) => {
    const { organizations, memberships, roles, orgInvitations, domains, email } = ctx.deps.services

    async function listPage(req: FastifyRequest, reply: FastifyReply, create: { values: CreateOrgValues; error: FormError | null; open: boolean }, status = 200) {
      const instance = req.instance
      const query = req.query as Query
      const state = listState(query)
      const { data, totalCount } = await organizations.list(instance, {
        ...(state.q ? { query: state.q } : {}), include_members_count: true, limit: state.limit, offset: state.offset,
      })
      return ctx.render(req, reply, {
        status, title: 'Organizations', section: 'organizations',
        body: orgsListBody({ instance, csrf: ctx.csrf(reply), state, rows: data, total: totalCount, notice: status === 200 ? NOTICES[query.notice ?? ''] ?? null : null, create }),
      })
    }

    async function detailPage(req: FastifyRequest, reply: FastifyReply, extra: { error: { form: OrgForm; error: FormError & { status: number } } | null; values: OrgFormValues }) {
      const instance = req.instance
      const org = await organizations.get(instance, (req.params as Params).organization_id, { include_members_count: true })
      const id = org.row.id
      const [members, roleList, invitations, domainList] = await Promise.all([
        memberships.list(instance, id, { limit: SHOWN, order_by: '+created_at' }),
        roles.list(instance, { limit: 100 }),
        orgInvitations.listPending(instance, id, { limit: SHOWN }),
        domains.list(instance, id, { limit: SHOWN }),
      ])
      return ctx.render(req, reply, {
        status: extra.error?.error.status ?? 200, title: org.row.name, section: 'organizations',
        body: orgDetailBody({
          instance, csrf: ctx.csrf(reply), org,
          members: members.data, membersTotal: members.totalCount,
          roles: roleList.data.map((r) => ({ key: r.key, name: r.name })),
          invitations: invitations.data, invitationsTotal: invitations.totalCount,
          domains: domainList.data,
          notice: extra.error ? null : NOTICES[(req.query as Query).notice ?? ''] ?? null,
          error: extra.error, values: extra.values,
        }),
      })
    }

    /** Runs a change from the detail page: on success back to it with a notice, on a refusal the page again with the message in `form`. */
    async function act(req: FastifyRequest, reply: FastifyReply, form: OrgForm, notice: string, values: OrgFormValues, change: (instance: Instance, organizationId: string) => Promise<unknown>) {
      const instance = req.instance
      // The organization first: another instance's or a deleted one is a 404 page, not a form error.
      const org = await organizations.get(instance, (req.params as Params).organization_id)
      try {
        await change(instance, org.row.id)
      } catch (err) {
        return detailPage(req, reply, { error: { form, error: refusal(err) }, values })
      }
      return reply.redirect(`${orgDetailPath(instance, org.row.id)}?notice=${notice}#${form}`, 303)
    }

    app.get('/organizations', { schema: { hide: true } }, async (req, reply) =>
      listPage(req, reply, { values: EMPTY_CREATE_ORG, error: null, open: false }))

    app.post('/organizations', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const values: CreateOrgValues = { name: field(req, 'name'), slug: field(req, 'slug'), maxMembers: field(req, 'max_allowed_memberships') }
      try {
        const maxAllowed = maxMembersOf(values.maxMembers)
        const created = await organizations.create(instance, {
          name: values.name, ...(values.slug.trim() ? { slug: values.slug.trim() } : {}),
          ...(maxAllowed !== undefined ? { max_allowed_memberships: maxAllowed } : {}),
        })
        return reply.redirect(`${orgDetailPath(instance, created.id)}?notice=created`, 303)
      } catch (err) {
        const error = refusal(err)
        return listPage(req, reply, { values, error, open: true }, error.status)
      }
    })

    app.get('/organizations/:organization_id', { schema: { hide: true } }, async (req, reply) =>
      detailPage(req, reply, { error: null, values: EMPTY_ORG_VALUES }))

    app.post('/organizations/:organization_id/members/:user_id/role', { schema: { hide: true } }, async (req, reply) =>
      act(req, reply, 'members', 'role', EMPTY_ORG_VALUES, (instance, orgId) =>
        memberships.update(instance, orgId, (req.params as Params).user_id!, { role: field(req, 'role') })))

    app.post('/organizations/:organization_id/members/:user_id/remove', { schema: { hide: true } }, async (req, reply) =>
      act(req, reply, 'members', 'removed', EMPTY_ORG_VALUES, (instance, orgId) =>
        memberships.remove(instance, orgId, (req.params as Params).user_id!)))

    app.post('/organizations/:organization_id/invitations', { schema: { hide: true } }, async (req, reply) => {
      const values: OrgFormValues = { ...EMPTY_ORG_VALUES, inviteEmail: field(req, 'email_address'), inviteRole: field(req, 'role') }
      return act(req, reply, 'invite', 'invited', values, (instance, orgId) =>
        orgInvitations.create(instance, orgId, { email_address: values.inviteEmail, role: values.inviteRole, notify: field(req, 'notify') !== '' }))
    })

    app.get('/organizations/:organization_id/invitations/:invitation_id', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const params = req.params as Params
      const org = await organizations.get(instance, params.organization_id)
      const invitation = await orgInvitations.get(instance, org.row.id, params.invitation_id!)
      const emails = await email.organizationHistory(instance, org.row.id, invitation.id)
      return ctx.render(req, reply, {
        title: `Invitation for ${invitation.email_address}`, section: 'organizations',
        body: orgInvitationBody({ instance, org: org.row, invitation, status: effectiveOrgInvitationStatus(invitation, ctx.deps.clock.now(instance)), emails }),
      })
    })

    app.post('/organizations/:organization_id/invitations/:invitation_id/revoke', { schema: { hide: true } }, async (req, reply) =>
      act(req, reply, 'invite', 'revoked', EMPTY_ORG_VALUES, (instance, orgId) =>
        orgInvitations.revoke(instance, orgId, (req.params as Params).invitation_id!, {})))

    app.post('/organizations/:organization_id/domains', { schema: { hide: true } }, async (req, reply) => {
      const mode = field(req, 'enrollment_mode')
      const values: OrgFormValues = { ...EMPTY_ORG_VALUES, domainName: field(req, 'name'), domainMode: mode || EMPTY_ORG_VALUES.domainMode }
      return act(req, reply, 'domains', 'domain_added', values, (instance, orgId) =>
        // The service words the refusal of a mode it does not know.
        domains.create(instance, orgId, { name: values.domainName, enrollment_mode: mode || null }))
    })

    app.post('/organizations/:organization_id/domains/:domain_id/delete', { schema: { hide: true } }, async (req, reply) =>
      act(req, reply, 'domains', 'domain_deleted', EMPTY_ORG_VALUES, (instance, orgId) =>
        domains.remove(instance, orgId, (req.params as Params).domain_id!)))
  },
}
