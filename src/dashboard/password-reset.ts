import type { Db } from '../platform/db/db.js'
import { recordAudit } from '../platform/audit/audit.js'
import type { Clock } from '../platform/clock.js'
import { ApiError } from '../platform/errors.js'
import { ksuid, newId } from '../platform/ids.js'
import { clientKey } from '../platform/rate-limit.js'
import { deriveTicket, newNonce, sha256 } from '../platform/secrets.js'
import { normalizeEmail } from '../platform/validation.js'
import type { OutboxStore } from '../platform/outbox/outbox.store.js'
import { checkPassword, hashPassword } from '../users/passwords.js'
import type { SignInLimits, SignInThrottle } from '../accept/sign-in-throttle.js'
import { formatExpiry, renderNow, type RenderedEmail } from '../email/email.templates.js'
import { createOperatorSecurityStore, type OperatorSecurityStore } from './operator-security.store.js'

export const PASSWORD_RESET_TTL_MS = 30 * 60 * 1000
/** The outbox topic (and development mailbox template) of the reset email. */
export const PASSWORD_RESET_TOPIC = 'operator_password_reset'
// Requests per address and per IP per hour, whether or not the address has an account (so
// the 429 tells nothing): enough for a person who lost an email, too few to probe with.
export const PASSWORD_RESET_LIMITS: SignInLimits = { perAccount: 5, perIp: 20, windowMs: 60 * 60 * 1000 }
// Emails per operator per hour, counted in the database so that several processes without
// Redis cannot send more between them. Past it a request is answered the same and sends nothing.
const RESET_EMAILS_PER_HOUR = 3
const THROTTLE_SCOPE = 'dashboard-reset'

// Foyer's own words, not an instance's template: the email is about the dashboard, and a
// tenant's template must not be able to rewrite (or drop) an operator's reset link.
const TEMPLATE = {
  subject: 'Reset your Foyer dashboard password',
  html: `<!doctype html>
<html><body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1f2328; line-height: 1.5">
<div style="max-width: 560px; margin: 0 auto; padding: 24px">
<h1 style="font-size: 20px">Reset your dashboard password</h1>
<p>Someone asked to reset the password of the Foyer dashboard operator {{ email_address }}.</p>
<p><a href="{{ url }}" style="display: inline-block; background: #2f6feb; color: #fff; padding: 10px 18px; border-radius: 6px; text-decoration: none">Choose a new password</a></p>
<p style="color: #656d76; font-size: 13px">The link works once, until {{ expires_at }}. Resetting signs the account out everywhere. If you did not ask for this, ignore this email: your password stays as it is.</p>
<p style="color: #656d76; font-size: 13px; word-break: break-all">If the button does not work, open this link: {{ url }}</p>
</div></body></html>`,
  text: `Reset your dashboard password

Someone asked to reset the password of the Foyer dashboard operator {{ email_address }}.
Choose a new password: {{ url }}

The link works once, until {{ expires_at }}. Resetting signs the account out everywhere. If you did not ask for this, ignore this email: your password stays as it is.
`,
}

const linkInvalid = () => new ApiError(404, 'resource_not_found', 'not found',
  'This password reset link is not valid: it was used already, it expired, or a newer reset replaced it. Ask for a new link.')

interface Deps {
  db: Db
  clock: Clock
  serverSecret: Buffer
  publicUrl: string
  outbox: Pick<OutboxStore, 'enqueue'>
  /** Counts requests per address and IP with PASSWORD_RESET_LIMITS; shared through Redis when there is one. */
  throttle: SignInThrottle
  store?: OperatorSecurityStore
}

/**
 * Password resets by email for operators. The link's token is derived from the server secret,
 * the reset's id and a nonce (like a ticket): the outbox item holds only the reset's id, the
 * table only the token's hash, and the email is rendered with the token at delivery.
 */
export function createPasswordResets({ db, clock, serverSecret, publicUrl, outbox, throttle, store = createOperatorSecurityStore() }: Deps) {
  const tokenOf = (reset: { id: string; nonce: string }) => deriveTicket(serverSecret, `operator password reset:${reset.id}`, reset.nonce)
  const linkOf = (token: string) => `${publicUrl}/dashboard/reset-password?token=${encodeURIComponent(token)}`

  return {
    /**
     * Emails a reset link if an operator has this address. Answers the same whether or not one
     * does; 422 only for a missing or malformed address, 429 past the per-address or per-IP limit.
     */
    async request(input: { emailAddress: string; ip: string | null }): Promise<void> {
      const emailAddress = normalizeEmail(input.emailAddress, 'email_address')
      try {
        // Never taken back: every request counts, answered alike for known and unknown addresses.
        await throttle.begin({ instanceId: THROTTLE_SCOPE, identifier: emailAddress, ip: input.ip ? `${THROTTLE_SCOPE}:${clientKey(input.ip)}` : null })
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 429) throw err
        throw new ApiError(429, 'too_many_requests', 'Too many requests',
          `Too many password resets were asked for. Retry after ${err.headers['retry-after'] ?? 'a few'} seconds.`, {}, err.headers)
      }
      const operator = await store.findOperatorByEmail(db, emailAddress)
      if (!operator) return
      await db.transaction(async (tx) => {
        const now = clock.now()
        if (await store.resetsSince(tx, operator.id, now - 60 * 60 * 1000) >= RESET_EMAILS_PER_HOUR) return
        // Dashboard emails travel in an instance's outbox (its retries, its development mailbox):
        // the default instance's, which every Foyer has unless all instances were deleted.
        const instanceId = await store.mailInstanceId(tx)
        if (!instanceId) return
        const reset = { id: `oppr_${ksuid(now)}`, operator_id: operator.id, nonce: newNonce(), created_at: now, expires_at: now + PASSWORD_RESET_TTL_MS }
        // Only the newest link works: an older email found later cannot be used behind this one's back.
        await store.retireResets(tx, operator.id, now)
        await store.insertReset(tx, { ...reset, token_hash: sha256(tokenOf(reset)) })
        await recordAudit(tx, { instanceId: null, action: 'operator.password_reset_requested', target: { type: 'operator', id: operator.id, label: operator.email_address } }, now)
        await outbox.enqueue(tx, [{
          id: newId('msg', now), instanceId, kind: 'email', topic: PASSWORD_RESET_TOPIC, subjectId: reset.id,
          payload: { reset_id: reset.id, to: operator.email_address, template_slug: PASSWORD_RESET_TOPIC }, nextAttemptAt: now,
        }], now)
      })
    },

    /** Whether a reset link still works (to show its form or say it does not). */
    async usable(token: string): Promise<boolean> {
      return token.length > 0 && await store.findUsableReset(db, sha256(token), clock.now()) !== null
    },

    /**
     * Sets the new password through a link, once: the link and every other open one of the
     * operator die, and so do all their sessions and sign-ins halfway. 404 for a link used,
     * expired or unknown; 422 naming `password` for a password that cannot be used.
     */
    async reset(token: string, password: string): Promise<{ operatorId: string }> {
      if (!token || !await store.findUsableReset(db, sha256(token), clock.now())) throw linkInvalid()
      checkPassword(password)
      const passwordHash = await hashPassword(password)
      return db.transaction(async (tx) => {
        const now = clock.now()
        const used = await store.useReset(tx, sha256(token), now)
        if (!used) throw linkInvalid()
        await store.setPassword(tx, used.operator_id, passwordHash, now)
        await store.deleteSessionsOf(tx, used.operator_id)
        await store.deleteChallengesOf(tx, used.operator_id)
        // Whoever holds the emailed link acts as its operator.
        await recordAudit(tx, { instanceId: null, action: 'operator.password_reset', target: { type: 'operator', id: used.operator_id }, actor: { type: 'operator', id: used.operator_id, label: null } }, now)
        return { operatorId: used.operator_id }
      })
    },

    /**
     * The reset email as it reads now, for the email outbox; null once the link is used or
     * expired (a delayed email is then not sent at all).
     */
    async emailFor(resetId: string, now: number): Promise<{ to: string; url: string; rendered: RenderedEmail } | null> {
      const reset = await store.findReset(db, resetId)
      if (!reset || reset.used_at !== null || reset.expires_at <= now) return null
      const url = linkOf(tokenOf(reset))
      const rendered = await renderNow(TEMPLATE, {
        app_name: 'Foyer', email_address: reset.email_address, url, expires_at: formatExpiry(reset.expires_at), expires_at_iso: new Date(reset.expires_at).toISOString(),
      })
      return { to: reset.email_address, url, rendered }
    },
  }
}

export type PasswordResets = ReturnType<typeof createPasswordResets>
