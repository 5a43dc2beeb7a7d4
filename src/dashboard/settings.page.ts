import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Ajv } from 'ajv'
import { ApiError } from '../platform/errors.js'
import { fromValidation } from '../platform/http.js'
import { UpdateInstanceBody } from '../instance/instance.schemas.js'
import type { DashboardContext, DashboardSection } from './dashboard.context.js'
import type { FormError } from './dashboard.views.js'
import { RATE_LIMIT_LABELS, RATE_LIMIT_NAMES, settingsBody, settingsPath, valuesOf, type SettingsValues } from './settings.views.js'

// The same validator options and schema as the body of PATCH /v1/instance (see app.ts), so the
// form is held to exactly the API's rules and answers with the API's messages.
const validateBody = new Ajv({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: false }).compile(UpdateInstanceBody)

const FIELD_LABELS: Record<string, string> = {
  application_name: 'Application name',
  sign_up_mode: 'Sign-up mode',
  home_url: 'Home URL',
  after_sign_up_url: 'After sign-up URL',
  ...Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [`rate_limits.${name}`, `The rate limit "${RATE_LIMIT_LABELS[name]}"`])),
}

type FormBody = Record<string, unknown> | undefined
const field = (body: FormBody, name: string) => (typeof body?.[name] === 'string' ? body[name] as string : undefined)

/** The form as typed, over the instance's current values for any field not sent. */
export function settingsValues(body: FormBody, current: SettingsValues): SettingsValues {
  return {
    applicationName: field(body, 'application_name') ?? current.applicationName,
    signUpMode: field(body, 'sign_up_mode') ?? current.signUpMode,
    homeUrl: field(body, 'home_url') ?? current.homeUrl,
    afterSignUpUrl: field(body, 'after_sign_up_url') ?? current.afterSignUpUrl,
    rateLimits: Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [name, field(body, `rate_limits.${name}`) ?? current.rateLimits[name]])) as SettingsValues['rateLimits'],
  }
}

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
  const home = field(body, 'home_url')
  if (home !== undefined) out.home_url = url(home)
  const afterSignUp = field(body, 'after_sign_up_url')
  if (afterSignUp !== undefined) out.after_sign_up_url = url(afterSignUp)
  const limits = RATE_LIMIT_NAMES.flatMap((limit) => {
    const text = field(body, `rate_limits.${limit}`)
    return text === undefined ? [] : [[limit, number(text)] as const]
  })
  if (limits.length > 0) out.rate_limits = Object.fromEntries(limits)
  return out
}

/** A refusal of the input, worded for this form with the field named as it is labelled. */
function settingsError(err: unknown): FormError & { status: number } {
  if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429) throw err
  const param = typeof err.meta.param_name === 'string' ? err.meta.param_name : ''
  const label = FIELD_LABELS[param]
  const message = label && err.longMessage.startsWith(param) ? label + err.longMessage.slice(param.length) : err.longMessage
  return { status: err.status, message, ...(param ? { param } : {}) }
}

/**
 * The instance's settings: application name, sign-up mode, home and after-sign-up URLs and
 * rate limits, changed through the instance service with PATCH /v1/instance's rules; the
 * allowed redirect origins and the keys, which are configuration, shown read-only.
 */
export const settingsSection: DashboardSection = {
  key: 'settings',
  label: 'Settings',
  path: 'settings',
  routes: (ctx: DashboardContext) => async (app: FastifyInstance) => {
    const { instances } = ctx.deps.services

    const page = (req: FastifyRequest, reply: FastifyReply, p: { values: SettingsValues; error: FormError | null; notice: string | null; status?: number }) =>
      ctx.render(req, reply, {
        status: p.status ?? 200, title: 'Settings', section: 'settings',
        body: settingsBody({ instance: req.instance, csrf: ctx.csrf(reply), values: p.values, error: p.error, notice: p.notice, allowedRedirectOrigins: ctx.deps.config.allowedRedirectOrigins }),
      })

    app.get('/settings', { schema: { hide: true } }, async (req, reply) => {
      // A fixed text chosen by a code: nothing typed into the URL is echoed.
      const notice = (req.query as { notice?: string }).notice === 'saved' ? 'The settings were saved.' : null
      return page(req, reply, { values: valuesOf(req.instance), error: null, notice })
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
        return page(req, reply, { values, error, notice: null, status: error.status })
      }
    })
  },
}
