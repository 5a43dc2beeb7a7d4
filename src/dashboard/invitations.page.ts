import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { notFound } from '../platform/errors.js'
import type { Instance } from '../instance/instance.schemas.js'
import { effectiveStatus } from '../invitations/invitations.schemas.js'
import { createInvitationStore } from '../invitations/invitations.store.js'
import type { DashboardContext, DashboardSection } from './dashboard.context.js'
import { EMPTY_INVITE, emailsOf, invitationBodies, inviteError, inviteValues, type InviteValues } from './invitations.form.js'
import {
  deleteConfirmBody, invitationDetailBody, invitationsListBody, invitationsPath, TABS,
  type ListState, type SortColumn, type Tab,
} from './invitations.views.js'
import type { FormError } from './dashboard.views.js'

const PAGE_SIZE = 20
// Far beyond any page a person clicks to; it keeps OFFSET from being used to make the database walk.
const MAX_OFFSET = 100_000

// Fixed texts, chosen by a code in the redirect's query: nothing typed into a URL is echoed.
const NOTICES: Record<string, (n: number) => string> = {
  invited: (n) => (n === 1 ? 'The invitation was created.' : `${n} invitations were created.`),
  resent: () => 'The invitation email was queued again.',
  revoked: () => 'The invitation was revoked; its link no longer works.',
  deleted: () => 'The invitation was deleted.',
}

type Query = Record<string, string | undefined>

function listState(query: Query): ListState {
  const tab = (TABS as readonly string[]).includes(query.status ?? '') ? query.status as Tab : 'pending'
  const order = /^([+-]?)(created_at|email_address|expires_at)$/.exec((query.order_by ?? '').replace(/^ /, '+'))
  const offset = /^\d{1,9}$/.test(query.offset ?? '') ? Math.min(Number(query.offset), MAX_OFFSET) : 0
  return {
    tab, q: (query.q ?? '').trim().slice(0, 320),
    sort: (order?.[2] ?? 'created_at') as SortColumn, descending: order ? order[1] !== '+' : true,
    offset, limit: PAGE_SIZE,
  }
}

function noticeOf(query: Query): string | null {
  const notice = NOTICES[query.notice ?? '']
  const n = /^\d{1,3}$/.test(query.n ?? '') ? Number(query.n) : 1
  return notice ? notice(n) : null
}

/** `back` from a form, if it is one of this instance's invitation pages (no open redirect). */
function backOr(instance: Instance, back: unknown, fallback: string): string {
  const base = invitationsPath(instance)
  if (typeof back !== 'string' || !back.startsWith(base) || !/^(?:[/?]|$)/.test(back.slice(base.length)) || /[\\\s]|\/\//.test(back)) return fallback
  return back
}

const withNotice = (url: string, notice: string, n?: number) => {
  const [path, query = ''] = url.split('?', 2) as [string, string?]
  const params = new URLSearchParams(query)
  params.set('notice', notice)
  if (n !== undefined) params.set('n', String(n))
  else params.delete('n')
  return `${path}?${params}`
}

/**
 * The invitations of the instance in the path: list with tabs, search, sort and pages;
 * inviting one or several people; resend, revoke and delete; a detail page with the email
 * delivery history. Everything goes through the invitations and email services.
 */
export const invitationsSection: DashboardSection = {
  key: 'invitations',
  label: 'Invitations',
  path: 'invitations',
  routes: (ctx: DashboardContext) => async (app: FastifyInstance) => {
    const { invitations, email, tickets } = ctx.deps.services
    const { clock, db } = ctx.deps
    // Stateless; reading one invitation by id has no service verb.
    const invitationStore = createInvitationStore()

    async function findInvitation(instance: Instance, id: string) {
      const row = await invitationStore.findById(db, instance.id, id)
      if (!row) throw notFound('invitation')
      return row
    }

    async function listPage(req: FastifyRequest, reply: FastifyReply, invite: { values: InviteValues; error: FormError | null; open: boolean }, status = 200) {
      const instance = req.instance
      const query = req.query as Query
      const state = listState(query)
      const { data, totalCount } = await invitations.list(instance, {
        ...(state.tab === 'all' ? {} : { status: state.tab }),
        ...(state.q ? { query: state.q } : {}),
        order_by: `${state.descending ? '-' : '+'}${state.sort}`,
        limit: state.limit, offset: state.offset, paginated: true,
      })
      const now = clock.now(instance)
      const rows = data.map((row) => {
        const rowStatus = effectiveStatus(row, now)
        return { id: row.id, emailAddress: row.email_address, status: rowStatus, createdAt: row.created_at, expiresAt: row.expires_at, url: rowStatus === 'pending' ? tickets.url(row) : null }
      })
      return ctx.render(req, reply, {
        status, title: 'Invitations', section: 'invitations',
        body: invitationsListBody({ instance, csrf: ctx.csrf(reply), state, rows, total: totalCount, notice: status === 200 ? noticeOf(query) : null, invite }),
      })
    }

    app.get('/invitations', { schema: { hide: true } }, async (req, reply) =>
      listPage(req, reply, { values: EMPTY_INVITE, error: null, open: false }))

    app.post('/invitations', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const values = inviteValues(req.body as Record<string, unknown> | undefined)
      const emails = emailsOf(values.emails)
      try {
        const bodies = invitationBodies(values, clock.now(instance))
        // One address: the same rules as POST /v1/invitations. Several: one all-or-nothing batch.
        const created = bodies.length === 1 ? [await invitations.create(instance, bodies[0]!)] : await invitations.createBulk(instance, bodies)
        return reply.redirect(withNotice(invitationsPath(instance), 'invited', created.length), 303)
      } catch (err) {
        const error = inviteError(err, emails)
        return listPage(req, reply, { values, error, open: true }, error.status)
      }
    })

    app.get('/invitations/:invitation_id', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const invitation = await findInvitation(instance, (req.params as { invitation_id: string }).invitation_id)
      const status = effectiveStatus(invitation, clock.now(instance))
      const emails = await email.history(instance, invitation.id)
      return ctx.render(req, reply, {
        title: 'Invitation', section: 'invitations',
        body: invitationDetailBody({ instance, csrf: ctx.csrf(reply), invitation, status, url: status === 'pending' ? tickets.url(invitation) : null, emails, notice: noticeOf(req.query as Query) }),
      })
    })

    app.post('/invitations/:invitation_id/revoke', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      await invitations.revoke(instance, (req.params as { invitation_id: string }).invitation_id)
      return reply.redirect(withNotice(backOr(instance, (req.body as Query | undefined)?.back, invitationsPath(instance)), 'revoked'), 303)
    })

    app.post('/invitations/:invitation_id/resend', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      await invitations.resend(instance, (req.params as { invitation_id: string }).invitation_id, {})
      return reply.redirect(withNotice(backOr(instance, (req.body as Query | undefined)?.back, invitationsPath(instance)), 'resent'), 303)
    })

    // Deleting asks first: a GET shows what will be deleted, only the POST from that page deletes.
    app.get('/invitations/:invitation_id/delete', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const invitation = await findInvitation(instance, (req.params as { invitation_id: string }).invitation_id)
      const back = backOr(instance, (req.query as Query).back, invitationsPath(instance))
      return ctx.render(req, reply, {
        title: 'Delete invitation', section: 'invitations',
        body: deleteConfirmBody({ instance, csrf: ctx.csrf(reply), invitation, status: effectiveStatus(invitation, clock.now(instance)), back }),
      })
    })

    app.post('/invitations/:invitation_id/delete', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const id = (req.params as { invitation_id: string }).invitation_id
      await invitations.remove(instance, id)
      // Back to where the operator came from, unless that was the deleted invitation's own page.
      const back = backOr(instance, (req.body as Query | undefined)?.back, invitationsPath(instance))
      const target = back.split('?')[0]!.startsWith(invitationsPath(instance, `/${id}`)) ? invitationsPath(instance) : back
      return reply.redirect(withNotice(target, 'deleted'), 303)
    })

  },
}
