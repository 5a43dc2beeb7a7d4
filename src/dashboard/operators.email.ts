import { html } from '../platform/html.js'
import { formatExpiry } from '../email/email.templates.js'
import type { RenderedEmail } from '../email/email.templates.js'
import type { OperatorRole } from './operators.store.js'

const ROLE_TEXT: Record<OperatorRole, string> = {
  owner: 'an owner (everything, including operators and keys)',
  admin: 'an admin (everything in its instances except keys and operators)',
  viewer: 'a viewer (read-only)',
}

/**
 * The operator invitation email. Fixed, not a template an instance can change: an admin of
 * the instance carrying the email could otherwise rewrite the link and collect an owner's
 * invitation. The subject is one line whatever the inviter's address holds.
 */
export function operatorInvitationEmail(p: { to: string; invitedBy: string | null; role: OperatorRole; url: string; expiresAt: number; publicUrl: string }): RenderedEmail {
  const host = new URL(p.publicUrl).host
  const who = p.invitedBy ?? 'An owner'
  const expires = formatExpiry(p.expiresAt)
  return {
    subject: `You are invited to operate Foyer at ${host}`.replace(/[\r\n]+/g, ' '),
    html: html`<!doctype html>
<html><body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1f2328; line-height: 1.5">
<div style="max-width: 560px; margin: 0 auto; padding: 24px">
<h1 style="font-size: 20px">Join the Foyer dashboard at ${host}</h1>
<p>${who} invited ${p.to} to the Foyer dashboard as ${ROLE_TEXT[p.role]}.</p>
<p><a href="${p.url}" style="display: inline-block; background: #1f883d; color: #fff; padding: 10px 16px; border-radius: 6px; text-decoration: none">Choose a password</a></p>
<p style="color: #656d76; font-size: 13px">This invitation works once and expires on ${expires}. If you did not expect it, you can ignore this email.</p>
</div></body></html>`.value,
    text: `Join the Foyer dashboard at ${host}

${who} invited ${p.to} to the Foyer dashboard as ${ROLE_TEXT[p.role]}.
Choose a password: ${p.url}

This invitation works once and expires on ${expires}. If you did not expect it, you can ignore this email.
`,
  }
}
