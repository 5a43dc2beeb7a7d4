import { DAY_MS } from '../platform/clock.js'
import { ApiError, paramError } from '../platform/errors.js'
import { checkInput, forbiddenKey } from '../platform/http.js'
import type { CreateInvitationBody } from '../invitations/invitations.schemas.js'
import type { FormError } from './dashboard.views.js'

/** The invite form as typed, kept to fill the form again when something is refused. */
export interface InviteValues {
  emails: string
  expiresInDays: string
  expiresOn: string
  redirectUrl: string
  publicMetadata: string
  notify: boolean
}

export const EMPTY_INVITE: InviteValues = { emails: '', expiresInDays: '30', expiresOn: '', redirectUrl: '', publicMetadata: '', notify: true }
// Several addresses go in one all-or-nothing transaction; a paste of a whole team fits, a
// mailing list does not (that is the bulk API's job).
export const MAX_EMAILS = 50
const MAX_DAYS = 365

export function inviteValues(body: Record<string, unknown> | undefined): InviteValues {
  const s = (name: string) => (typeof body?.[name] === 'string' ? body[name] as string : '')
  return {
    emails: s('emails'), expiresInDays: s('expires_in_days'), expiresOn: s('expires_on'),
    redirectUrl: s('redirect_url'), publicMetadata: s('public_metadata'), notify: s('notify') !== '',
  }
}

const invalid = (param: string, message: string) => paramError(422, 'form_param_format_invalid', param, 'is invalid', message)

/** The addresses typed, one per line (commas and semicolons too), without blanks or repeats. */
export function emailsOf(text: string): string[] {
  const seen = new Set<string>()
  return text.split(/[\n\r,;]+/).map((e) => e.trim()).filter((e) => {
    const key = e.toLowerCase()
    if (!e || seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/**
 * Days from now until the invitation expires: typed as a number of days, or as a date (the
 * invitation then expires on that day, at this time of day, UTC). Throws a 422 naming the field.
 */
export function expiryDays(values: InviteValues, now: number): number {
  if (values.expiresOn.trim()) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(values.expiresOn.trim())
    const day = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN
    if (!Number.isFinite(day)) throw invalid('expires_on', 'Enter the expiration date as YYYY-MM-DD.')
    const days = Math.ceil((day - now) / DAY_MS)
    if (days < 1) throw invalid('expires_on', 'The expiration date must be after today.')
    if (days > MAX_DAYS) throw invalid('expires_on', `The expiration date can be at most ${MAX_DAYS} days away.`)
    return days
  }
  const text = values.expiresInDays.trim() || '30'
  const days = /^\d{1,4}$/.test(text) ? Number(text) : NaN
  if (!(days >= 1 && days <= MAX_DAYS)) throw invalid('expires_in_days', `Expires in must be a whole number of days from 1 to ${MAX_DAYS}.`)
  return days
}

/** The metadata typed: blank is none; anything but a JSON object is refused with the reason. */
export function metadataOf(text: string): Record<string, unknown> | undefined {
  if (!text.trim()) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw invalid('public_metadata', `Public metadata is not valid JSON: ${err instanceof Error ? err.message : String(err)}.`)
  }
  // Same prototype-pollution guard as JSON bodies of the API get.
  const forbidden = forbiddenKey(value, 'public_metadata')
  if (forbidden) throw invalid('public_metadata', `Public metadata may not use the key ${forbidden.replace(/^public_metadata\./, '')}.`)
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid('public_metadata', 'Public metadata must be a JSON object, such as {"plan": "pro"}.')
  }
  checkInput(value, 'public_metadata', 1)
  return value as Record<string, unknown>
}

/** The create bodies the form asks for, in the order typed. Throws a 422 naming the field. */
export function invitationBodies(values: InviteValues, now: number): CreateInvitationBody[] {
  const emails = emailsOf(values.emails)
  if (emails.length === 0) throw paramError(422, 'form_param_missing', 'emails', 'is missing', 'Enter at least one email address.')
  if (emails.length > MAX_EMAILS) throw invalid('emails', `At most ${MAX_EMAILS} addresses can be invited at once; this list has ${emails.length}.`)
  const expiresInDays = expiryDays(values, now)
  const publicMetadata = metadataOf(values.publicMetadata)
  const redirectUrl = values.redirectUrl.trim() || null
  return emails.map((email) => ({
    email_address: email, expires_in_days: expiresInDays, redirect_url: redirectUrl, notify: values.notify,
    ...(publicMetadata ? { public_metadata: publicMetadata } : {}),
  }))
}

const FIELD_LABELS: Record<string, string> = { redirect_url: 'The redirect URL', public_metadata: 'Public metadata' }

/**
 * A refusal from the invitations service, worded for this form: which address (by line) and
 * why. Anything that is not a refusal of the input is thrown on, to the error page.
 */
export function inviteError(err: unknown, emails: readonly string[]): FormError & { status: number } {
  if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429) throw err
  const rawParam = typeof err.meta.param_name === 'string' ? err.meta.param_name : ''
  const item = /^\[(\d+)\]\.(.+)$/.exec(rawParam)
  const param = item ? item[2]! : rawParam
  const email = item ? emails[Number(item[1])] : emails.length === 1 ? emails[0] : undefined
  const which = email ?? 'An address'
  if (param === 'email_address') {
    const message = err.code === 'duplicate_record' ? `${which} already has a pending invitation. Resend or revoke that one instead.`
      : err.code === 'form_identifier_exists' ? `${which} already belongs to a user of this instance.`
        : `${which} is not a valid email address.`
    return { status: err.status, param: 'emails', message }
  }
  const label = FIELD_LABELS[param]
  const message = label && err.longMessage.startsWith(param) ? label + err.longMessage.slice(param.length) : err.longMessage
  return { status: err.status, message, ...(param ? { param } : {}) }
}
