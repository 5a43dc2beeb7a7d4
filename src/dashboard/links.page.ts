import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError, paramError } from '../platform/errors.js'
import { DAY_MS } from '../platform/clock.js'
import type { CreateInvitationLinkBody } from '../invitation-links/invitation-links.schemas.js'
import type { DashboardContext, DashboardSection } from './dashboard.context.js'
import type { FormError } from './dashboard.views.js'
import { metadataOf } from './invitations.form.js'
import { EMPTY_LINK, linkDetailBody, linksListBody, linksPath, type LinkTarget, type LinkValues } from './links.views.js'

const LINKS_PAGE = 50
const USES_PAGE = 50
const ORGANIZATIONS_SHOWN = 500
const MAX_OFFSET = 100_000

// Fixed texts, chosen by a code in the redirect's query: nothing typed into a URL is echoed.
const NOTICES: Record<string, string> = {
  created: 'The link was created. Copy it and share it.',
  revoked: 'The link was revoked: it no longer works. Invitations it already issued are not affected.',
}

type Query = Record<string, string | undefined>
const noticeOf = (query: unknown) => NOTICES[(query as Query).notice ?? ''] ?? null
const offsetOf = (query: unknown) => {
  const raw = (query as Query).offset ?? ''
  return /^\d{1,9}$/.test(raw) ? Math.min(Number(raw), MAX_OFFSET) : 0
}

function linkValues(body: unknown): LinkValues {
  const b = (body ?? {}) as Record<string, unknown>
  const s = (name: keyof typeof FIELDS) => (typeof b[FIELDS[name]] === 'string' ? (b[FIELDS[name]] as string) : '')
  return {
    organizationId: s('organizationId').trim(), role: s('role').trim(), maxUses: s('maxUses').trim(), expiresInDays: s('expiresInDays').trim(),
    allowedDomains: s('allowedDomains'), publicMetadata: s('publicMetadata'),
  }
}
const FIELDS = {
  organizationId: 'organization_id', role: 'role', maxUses: 'max_uses', expiresInDays: 'expires_in_days', allowedDomains: 'allowed_domains', publicMetadata: 'public_metadata',
} as const

const wholeNumber = (text: string, param: string, max: number): number | null => {
  if (text === '') return null
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1 || Number(text) > max) throw paramError(422, 'form_param_value_invalid', param, 'is invalid', `Enter a whole number from 1 to ${max}, or leave it blank.`)
  return Number(text)
}

/** The API body the form stands for; the service checks it as it checks the API's. */
function bodyOf(values: LinkValues, now: number): CreateInvitationLinkBody {
  const days = wholeNumber(values.expiresInDays, 'expires_at', 3650)
  const metadata = metadataOf(values.publicMetadata)
  return {
    ...(values.organizationId ? { organization_id: values.organizationId, role: values.role } : {}),
    max_uses: wholeNumber(values.maxUses, 'max_uses', 1_000_000),
    expires_at: days === null ? null : now + days * DAY_MS,
    allowed_domains: values.allowedDomains.split(/[\s,]+/).filter(Boolean),
    ...(metadata ? { public_metadata: metadata } : {}),
  }
}

function refusal(err: unknown): FormError & { status: number } {
  if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429) throw err
  const param = typeof err.meta.param_name === 'string' ? err.meta.param_name.replace(/\[\d+\]$/, '') : undefined
  return { status: err.status, message: err.longMessage, ...(param ? { param } : {}) }
}

/**
 * Invitation links: list and create (the application or an organization with a role, a
 * limit, an expiry, allowed domains, public metadata), copy, and per link its uses and a
 * revoke. Everything goes through the invitation links service, as the API does.
 */
export const linksSection: DashboardSection = {
  key: 'links',
  label: 'Links',
  path: 'links',
  routes: (ctx: DashboardContext) => async (app: FastifyInstance) => {
    const { invitationLinks: links, organizations } = ctx.deps.services
    const { clock } = ctx.deps
    const idOf = (req: FastifyRequest) => (req.params as { link_id: string }).link_id

    const organizationsOf = async (req: FastifyRequest): Promise<LinkTarget[]> =>
      (await organizations.list(req.instance, { limit: ORGANIZATIONS_SHOWN, offset: 0, order_by: '+name' })).data.map(({ row }) => ({ id: row.id, name: row.name }))

    async function listPage(req: FastifyRequest, reply: FastifyReply, create: { values: LinkValues; error: FormError | null; open: boolean }, status = 200) {
      const instance = req.instance
      const offset = offsetOf(req.query)
      const { data, totalCount } = await links.list(instance, { limit: LINKS_PAGE, offset, paginated: true })
      return ctx.render(req, reply, {
        status, title: 'Links', section: 'links',
        body: linksListBody({
          instance, csrf: ctx.csrf(reply), links: data.map(links.present(instance)), total: totalCount ?? 0, offset, limit: LINKS_PAGE,
          organizations: await organizationsOf(req), notice: status === 200 ? noticeOf(req.query) : null, create,
        }),
      })
    }

    app.get('/links', { schema: { hide: true } }, async (req, reply) => listPage(req, reply, { values: EMPTY_LINK, error: null, open: false }))

    app.post('/links', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const values = linkValues(req.body)
      try {
        const created = await links.create(instance, bodyOf(values, clock.now(instance)))
        return reply.redirect(`${linksPath(instance, `/${created.id}`)}?notice=created`, 303)
      } catch (err) {
        const error = refusal(err)
        return listPage(req, reply, { values, error, open: true }, error.status)
      }
    })

    app.get('/links/:link_id', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const link = await links.get(instance, idOf(req))
      const offset = offsetOf(req.query)
      const { data, totalCount } = await links.uses(instance, link.id, { limit: USES_PAGE, offset, paginated: true })
      const organizationName = link.organization_id ? (await organizations.get(instance, link.organization_id).catch(() => null))?.row.name ?? null : null
      return ctx.render(req, reply, {
        title: 'Invitation link', section: 'links',
        body: linkDetailBody({
          instance, csrf: ctx.csrf(reply), link: links.present(instance)(link), organizationName, uses: data, total: totalCount ?? 0, offset, limit: USES_PAGE,
          notice: noticeOf(req.query),
        }),
      })
    })

    app.post('/links/:link_id/revoke', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const revoked = await links.revoke(instance, idOf(req))
      return reply.redirect(`${linksPath(instance, `/${revoked.id}`)}?notice=revoked`, 303)
    })
  },
}
