import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Ajv } from 'ajv'
import { ApiError } from '../platform/errors.js'
import { fromValidation } from '../platform/http.js'
import { UpdateInstanceBody } from '../instance/instance.schemas.js'
import type { DashboardContext, DashboardSection } from './dashboard.context.js'
import type { FormError } from './dashboard.views.js'
import type { ListName } from '../restrictions/restrictions.store.js'
import {
  RATE_LIMIT_LABELS, RATE_LIMIT_NAMES, settingsBody, settingsPath, valuesOf, type SettingsCard, type SettingsPageProps, type SettingsValues,
} from './settings.views.js'

// The same validator options and schema as the body of PATCH /v1/instance (see app.ts), so the
// form is held to exactly the API's rules and answers with the API's messages.
const validateBody = new Ajv({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: false }).compile(UpdateInstanceBody)

const FIELD_LABELS: Record<string, string> = {
  application_name: 'Application name',
  sign_up_mode: 'Sign-up mode',
  username: 'Usernames',
  home_url: 'Home URL',
  after_sign_up_url: 'After sign-up URL',
  allowed_redirect_origins: 'Allowed redirect origins',
  ...Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [`rate_limits.${name}`, `The rate limit "${RATE_LIMIT_LABELS[name]}"`])),
  'user_lockout.enabled': 'Lockout',
  'user_lockout.max_attempts': 'Wrong passwords before locking',
  'user_lockout.duration_in_minutes': 'Lock duration',
  remind_before_expiry_days: 'Reminder before expiry',
}

type FormBody = Record<string, unknown> | undefined
const field = (body: FormBody, name: string) => (typeof body?.[name] === 'string' ? body[name] as string : undefined)

/** The form as typed, over the instance's current values for any field not sent. */
export function settingsValues(body: FormBody, current: SettingsValues): SettingsValues {
  return {
    applicationName: field(body, 'application_name') ?? current.applicationName,
    signUpMode: field(body, 'sign_up_mode') ?? current.signUpMode,
    usernames: field(body, 'username') ?? current.usernames,
    homeUrl: field(body, 'home_url') ?? current.homeUrl,
    afterSignUpUrl: field(body, 'after_sign_up_url') ?? current.afterSignUpUrl,
    rateLimits: Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [name, field(body, `rate_limits.${name}`) ?? current.rateLimits[name]])) as SettingsValues['rateLimits'],
    lockout: {
      enabled: field(body, 'user_lockout.enabled') ?? current.lockout.enabled,
      maxAttempts: field(body, 'user_lockout.max_attempts') ?? current.lockout.maxAttempts,
      durationInMinutes: field(body, 'user_lockout.duration_in_minutes') ?? current.lockout.durationInMinutes,
    },
    allowedRedirectOrigins: field(body, 'allowed_redirect_origins') ?? current.allowedRedirectOrigins,
    remindBeforeExpiryDays: field(body, 'remind_before_expiry_days') ?? current.remindBeforeExpiryDays,
  }
}

/** The origins typed one per line (commas too); blank lines are nothing. */
const originLines = (text: string) => text.split(/[\r\n,]+/).map((line) => line.trim()).filter(Boolean)

/**
 * The PATCH /v1/instance body the form stands for, with only the fields sent (as PATCH does):
 * blank URLs are none (null); a number typed is sent as a number and anything else as typed,
 * so that the API's rules refuse it as they would refuse it there.
 */
export function updateBody(body: FormBody): Record<string, unknown> {
  const number = (text: string) => (/^-?\d+(?:\.\d+)?$/.test(text.trim()) ? Number(text.trim()) : text)
  const url = (text: string) => text.trim() || null
  const out: Record<string, unknown> = {}
  const name = field(body, 'application_name')
  if (name !== undefined) out.application_name = name
  const mode = field(body, 'sign_up_mode')
  if (mode !== undefined) out.sign_up_mode = mode
  const usernames = field(body, 'username')
  if (usernames !== undefined) {
    out.username = usernames === 'off' ? { enabled: false, required: false }
      : usernames === 'optional' || usernames === 'required' ? { enabled: true, required: usernames === 'required' } : usernames
  }
  const home = field(body, 'home_url')
  if (home !== undefined) out.home_url = url(home)
  const afterSignUp = field(body, 'after_sign_up_url')
  if (afterSignUp !== undefined) out.after_sign_up_url = url(afterSignUp)
  const limits = RATE_LIMIT_NAMES.flatMap((limit) => {
    const text = field(body, `rate_limits.${limit}`)
    return text === undefined ? [] : [[limit, number(text)] as const]
  })
  if (limits.length > 0) out.rate_limits = Object.fromEntries(limits)
  const lockout: Record<string, unknown> = {}
  const enabled = field(body, 'user_lockout.enabled')
  if (enabled !== undefined) lockout.enabled = enabled === 'on' ? true : enabled === 'off' ? false : enabled
  for (const key of ['max_attempts', 'duration_in_minutes'] as const) {
    const text = field(body, `user_lockout.${key}`)
    if (text !== undefined) lockout[key] = number(text)
  }
  if (Object.keys(lockout).length > 0) out.user_lockout = lockout
  const remind = field(body, 'remind_before_expiry_days')
  if (remind !== undefined) out.remind_before_expiry_days = number(remind)
  const origins = field(body, 'allowed_redirect_origins')
  if (origins !== undefined) out.allowed_redirect_origins = originLines(origins)
  return out
}

type CardError = FormError & { card: SettingsCard; status: number }

/**
 * A refusal of the input, worded for this form with the field named as it is labelled, and
 * placed on the card it is about. Origins are one list here (`allowed_redirect_origins[2]` is
 * the list's field), and the reason quotes the origin refused.
 */
function settingsError(err: unknown, card?: SettingsCard): CardError {
  if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429) throw err
  const raw = typeof err.meta.param_name === 'string' ? err.meta.param_name : ''
  const param = raw.startsWith('allowed_redirect_origins') ? 'allowed_redirect_origins' : raw
  const label = FIELD_LABELS[param]
  const message = label && err.longMessage.startsWith(raw) ? label + err.longMessage.slice(raw.length) : err.longMessage
  return { status: err.status, message, card: card ?? (param === 'allowed_redirect_origins' ? 'origins' : 'application'), ...(param ? { param } : {}) }
}

const HOUR_MS = 60 * 60 * 1000
const NOTICES: Record<string, string> = {
  saved: 'The settings were saved.',
  'key-deleted': 'The key was deleted: requests with it are refused from now on.',
  'key-rolled': 'A new secret key was made, marked new below: reveal it to copy it into your application.',
  'signing-key-rotated': 'A new signing key signs session tokens from now on; the old one stays in the JWKS for 10 minutes.',
  'allowlist-added': 'The identifier was added to the allowlist.',
  'blocklist-added': 'The identifier was added to the blocklist.',
  'allowlist-removed': 'The identifier was removed from the allowlist.',
  'blocklist-removed': 'The identifier was removed from the blocklist.',
}

/**
 * The instance's settings: application name, sign-up mode, usernames, home and after-sign-up URLs, rate
 * limits and the instance's own allowed redirect origins, changed through the instance service
 * with PATCH /v1/instance's rules; and its secret keys: reveal, roll with a grace period,
 * delete. A key is shown only in the answer to a POST, never in a URL or a redirect. And the
 * session signing key: its kid and public PEM, and rotation. And the allowlist and blocklist:
 * entries added and removed through the same service as `/v1/allowlist_identifiers`.
 */
export const settingsSection: DashboardSection = {
  key: 'settings',
  label: 'Settings',
  path: 'settings',
  // Keys are owners' alone: a secret key or the signing key is the instance itself.
  access: {
    'POST /settings/keys/:key_id/reveal': 'owner',
    'POST /settings/keys/roll': 'owner',
    'POST /settings/keys/:key_id/delete': 'owner',
    'POST /settings/signing-key/rotate': 'owner',
  },
  routes: (ctx: DashboardContext) => async (app: FastifyInstance) => {
    const { instances, signingKeys, restrictions } = ctx.deps.services
    type PageState = Pick<SettingsPageProps, 'values' | 'error' | 'notice' | 'revealed' | 'typed'> & { fresh?: string | null; status?: number }
    const entries = async (req: FastifyRequest, list: ListName) => (await restrictions.list(req.instance, list, { limit: 500 })).data

    const page = async (req: FastifyRequest, reply: FastifyReply, p: PageState) =>
      ctx.render(req, reply, {
        status: p.status ?? 200, title: 'Settings', section: 'settings',
        body: settingsBody({
          instance: req.instance, csrf: ctx.csrf(reply), values: p.values, error: p.error, notice: p.notice, revealed: p.revealed, fresh: p.fresh ?? null,
          serverOrigins: instances.serverOrigins, keys: await instances.listKeys(req.instance), signingKey: await signingKeys.current(req.instance),
          lists: { allowlist: await entries(req, 'allowlist'), blocklist: await entries(req, 'blocklist') }, typed: p.typed ?? null,
        }),
      })
    const plain = (req: FastifyRequest): PageState => ({ values: valuesOf(req.instance), error: null, notice: null, revealed: null })
    const keyId = (req: FastifyRequest) => (req.params as { key_id: string }).key_id
    const audit = (req: FastifyRequest, what: string, id: string) =>
      req.log.info({ operatorId: req.operator.id, instanceId: req.instance.id, keyId: id }, what)

    /** A key operation, with its refusal shown on the keys card (by the key's form, for a wrong password). */
    async function onKeys(req: FastifyRequest, reply: FastifyReply, run: () => Promise<FastifyReply>) {
      try {
        return await run()
      } catch (err) {
        const error = { ...settingsError(err, 'keys'), keyId: (req.params as { key_id?: string }).key_id }
        return page(req, reply, { ...plain(req), error, status: error.status })
      }
    }

    app.get('/settings', { schema: { hide: true } }, async (req, reply) => {
      // A fixed text chosen by a code: nothing typed into the URL is echoed.
      const query = req.query as { notice?: string; key?: string }
      const notice = NOTICES[query.notice ?? ''] ?? null
      return page(req, reply, { ...plain(req), notice, fresh: query.notice === 'key-rolled' ? query.key ?? null : null })
    })

    app.post('/settings', { schema: { hide: true } }, async (req, reply) => {
      const values = settingsValues(req.body as FormBody, valuesOf(req.instance))
      const body = updateBody(req.body as FormBody)
      try {
        if (!validateBody(body)) throw fromValidation(validateBody.errors ?? [], 'body')
        await instances.update(req.instance, body as UpdateInstanceBody)
        return reply.redirect(`${settingsPath(req.instance)}?notice=saved`, 303)
      } catch (err) {
        const error = settingsError(err)
        return page(req, reply, { values, error, notice: null, revealed: null, status: error.status })
      }
    })

    app.post('/settings/keys/:key_id/reveal', { schema: { hide: true } }, async (req, reply) => onKeys(req, reply, async () => {
      await ctx.dashboard.confirmPassword(req.operator, field(req.body as FormBody, 'password') ?? '', req.ip)
      const { key, secretKey } = await instances.revealKey(req.instance, keyId(req))
      audit(req, 'secret key revealed', key.id)
      return page(req, reply, { ...plain(req), revealed: { keyId: key.id, secretKey } })
    }))

    app.post('/settings/keys/roll', { schema: { hide: true } }, async (req, reply) => onKeys(req, reply, async () => {
      const hours = field(req.body as FormBody, 'grace_period') ?? ''
      const graceMs = /^\d{1,4}$/.test(hours) ? Number(hours) * HOUR_MS : -1
      const { key } = await instances.rollKey(req.instance, graceMs)
      audit(req, 'secret key rolled', key.id)
      // Redirected, so that reloading the page cannot roll again (and stop the key just made).
      return reply.redirect(`${settingsPath(req.instance)}?notice=key-rolled&key=${encodeURIComponent(key.id)}#api-keys`, 303)
    }))

    app.post('/settings/signing-key/rotate', { schema: { hide: true } }, async (req, reply) => onKeys(req, reply, async () => {
      const key = await signingKeys.rotate(req.instance)
      req.log.info({ operatorId: req.operator.id, instanceId: req.instance.id, kid: key.kid }, 'signing key rotated')
      // Redirected, so that reloading the page cannot rotate again.
      return reply.redirect(`${settingsPath(req.instance)}?notice=signing-key-rotated#signing-key`, 303)
    }))

    for (const list of ['allowlist', 'blocklist'] as const) {
      app.post(`/settings/${list}`, { schema: { hide: true } }, async (req, reply) => {
        const identifier = field(req.body as FormBody, 'identifier') ?? ''
        try {
          await restrictions.create(req.instance, list, { identifier, notify: field(req.body as FormBody, 'notify') === 'on' })
          return reply.redirect(`${settingsPath(req.instance)}?notice=${list}-added#${list}`, 303)
        } catch (err) {
          const error = settingsError(err, list)
          return page(req, reply, { ...plain(req), error, typed: { list, identifier }, status: error.status })
        }
      })

      app.post(`/settings/${list}/:identifier_id/delete`, { schema: { hide: true } }, async (req, reply) => {
        await restrictions.remove(req.instance, list, (req.params as { identifier_id: string }).identifier_id)
        return reply.redirect(`${settingsPath(req.instance)}?notice=${list}-removed#${list}`, 303)
      })
    }

    app.post('/settings/keys/:key_id/delete', { schema: { hide: true } }, async (req, reply) => onKeys(req, reply, async () => {
      await instances.deleteKey(req.instance, keyId(req))
      audit(req, 'secret key deleted', keyId(req))
      return reply.redirect(`${settingsPath(req.instance)}?notice=key-deleted#api-keys`, 303)
    }))
  },
}
