import { Type } from 'typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { EmailService } from './email.service.js'
import type { Operator } from '../dashboard/dashboard.service.js'
import { operatorSignIn } from '../dashboard/operator-session.js'

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;' }[c]!))
const when = (ms: number) => new Date(Number(ms)).toISOString().replace('T', ' ').slice(0, 19) + ' UTC'

// The message's own HTML is shown only inside a sandboxed iframe (no scripts, no same-origin;
// its links open in a new tab so the developer can follow them), and this page itself runs
// no script, so a hostile email cannot act as Foyer's origin. Like every other page, it may
// not be framed itself.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; frame-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

const page = (title: string, body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 960px; color: #1f2328; padding: 0 1rem }
table { border-collapse: collapse; width: 100% } td, th { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #d0d7de }
iframe { width: 100%; height: 32rem; border: 1px solid #d0d7de } pre { white-space: pre-wrap; background: #f6f8fa; padding: 1rem }
.muted { color: #656d76 }
</style></head><body>${body}</body></html>`

/**
 * The development mailbox: only registered while no SMTP_URL is set. It holds every
 * instance's working invitation links and sign-up codes, and Foyer listens on every interface
 * by default, so only a signed-in dashboard operator may read it: anyone else is sent to the
 * dashboard's sign-in, which leads back here. Every stored string is escaped on the way out.
 */
export const devMailboxRoutes = ({ email, operatorOf, mayRead = async () => true }: {
  email: EmailService
  /** The dashboard's own session check. */
  operatorOf: (req: FastifyRequest) => Promise<Operator | null>
  /**
   * Whether this operator may read it: it holds every instance's links and operators'
   * invitation links, so an operator limited to some instances, or any role but owner, may not.
   */
  mayRead?: (operator: Operator) => Promise<boolean>
}): FastifyPluginAsyncTypebox => async (app) => {
  // On every answer, the sign-in redirect included: never cached, framed or referred from
  // (the message views' URLs and bodies are working links).
  app.addHook('onRequest', async (req, reply) => {
    reply.headers({
      'content-security-policy': CSP,
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    })
    const operator = await operatorOf(req)
    if (!operator) return reply.redirect(operatorSignIn(req.url), 303)
    if (!await mayRead(operator)) {
      return reply.code(403).type('text/html; charset=utf-8').send(page('Not allowed', '<h1>Only owners read the dev mailbox</h1><p>It holds every instance\'s links and operators\' invitations. <a href="/dashboard">Back to the dashboard</a></p>'))
    }
  })

  app.get('/dev/mailbox', { schema: { hide: true } }, async (_req, reply) => {
    const messages = await email.devMessages(200)
    const rows = messages.map((m) => `<tr>
<td class="muted">${escapeHtml(when(m.created_at))}</td><td>${escapeHtml(m.app_name)}</td><td>${escapeHtml(m.to_address)}</td>
<td><a href="/dev/mailbox/${encodeURIComponent(m.id)}">${escapeHtml(m.subject)}</a></td></tr>`).join('\n')
    reply.type('text/html; charset=utf-8')
    return page('Dev mailbox', `<h1>Dev mailbox</h1>
<p class="muted">Emails Foyer would have sent, newest first. Set SMTP_URL to send real email instead.</p>
${messages.length === 0 ? '<p>No messages yet.</p>' : `<table><thead><tr><th>Sent</th><th>Application</th><th>To</th><th>Subject</th></tr></thead><tbody>${rows}</tbody></table>`}`)
  })

  app.get('/dev/mailbox/:id', { schema: { hide: true, params: Type.Object({ id: Type.String({ maxLength: 100 }) }) } }, async (req, reply) => {
    const m = await email.devMessage(req.params.id)
    reply.type('text/html; charset=utf-8')
    if (!m) return reply.code(404).send(page('Not found', '<h1>No such message</h1><p><a href="/dev/mailbox">Back to the mailbox</a></p>'))
    return page(m.subject, `<p><a href="/dev/mailbox">&larr; Dev mailbox</a></p>
<h1>${escapeHtml(m.subject)}</h1>
<table>
<tr><th>To</th><td>${escapeHtml(m.to_address)}</td></tr>
<tr><th>Application</th><td>${escapeHtml(m.app_name)}</td></tr>
<tr><th>Template</th><td>${escapeHtml(m.template_slug)}</td></tr>
<tr><th>Sent</th><td>${escapeHtml(when(m.created_at))}</td></tr>
</table>
<h2>HTML</h2>
<iframe sandbox="allow-popups allow-popups-to-escape-sandbox" referrerpolicy="no-referrer" title="HTML part" srcdoc="${escapeHtml('<base target="_blank">' + m.html)}"></iframe>
<h2>Text</h2>
<pre>${escapeHtml(m.text)}</pre>`)
  })
}
