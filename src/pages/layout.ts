import { createHash } from 'node:crypto'
import type { FastifyReply } from 'fastify'
import { html, raw, type HtmlValue, type SafeHtml } from '../platform/html.js'

// One small stylesheet, inline. The CSP allows exactly this text by its hash, so no other
// style (and no script at all) can run on these pages even if markup were injected.
const CSS = `
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
[hidden]{display:none!important}
body{margin:0;background:#f6f8fa;color:#1f2328;font:1rem/1.5 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif}
main{max-width:28rem;margin:3rem auto;padding:2rem;background:#fff;border:1px solid #d0d7de;border-radius:12px}
.app{margin:0 0 .25rem;color:#57606a;font-size:.9rem;font-weight:600;overflow-wrap:anywhere}
h1{margin:0 0 1rem;font-size:1.5rem;line-height:1.25}
p{margin:0 0 1rem;overflow-wrap:anywhere}
label{display:block;margin:0 0 .25rem;font-weight:600}
.field{margin:0 0 1rem}
.hint{display:block;margin:-.25rem 0 .25rem;color:#57606a;font-size:.875rem}
input{display:block;width:100%;padding:.6rem .75rem;font:inherit;color:inherit;background:#fff;border:1px solid #8c959f;border-radius:6px}
input[aria-invalid=true]{border-color:#cf222e}
.code{font-size:1.5rem;letter-spacing:.4em;font-variant-numeric:tabular-nums}
.fixed{margin:0 0 1rem;padding:.6rem .75rem;background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;overflow-wrap:anywhere}
.fixed dt{font-weight:600}.fixed dd{margin:0}
button{display:block;width:100%;padding:.7rem 1rem;font:inherit;font-weight:600;color:#fff;background:#0550ae;border:1px solid transparent;border-radius:6px;cursor:pointer}
button:hover{background:#033d8b}
button.secondary{color:#0550ae;background:#fff;border:1px solid #0550ae}
a{color:#0550ae}
:focus-visible{outline:3px solid #0969da;outline-offset:2px}
.error,.notice{margin:0 0 1rem;padding:.75rem 1rem;border-radius:6px}
.error{color:#82071e;background:#ffebe9;border:1px solid #ff818266}
.notice{color:#0a3069;background:#ddf4ff;border:1px solid #54aeff66}
.error p,.notice p{margin:0}
.row{display:flex;gap:.75rem}.row>.field{flex:1;min-width:0}
.actions{display:grid;gap:.75rem;margin:1.5rem 0 0}
.links{margin:1.5rem 0 0;color:#57606a;font-size:.95rem}
h2{margin:0 0 .25rem;font-size:1.125rem;line-height:1.3;overflow-wrap:anywhere}
.card{margin:0 0 1rem;padding:1rem;border:1px solid #d0d7de;border-radius:8px}
.card p{margin:0 0 .75rem;color:#57606a;font-size:.95rem}
.choices{display:flex;gap:.75rem;margin:1rem 0 0}.choices>form{flex:1;min-width:0}
.card .choices{margin:0}
@media (max-width:32rem){main{margin:0;min-height:100vh;border:0;border-radius:0;padding:1.5rem 1.25rem}.row{display:block}}
`.trim()

const STYLE_HASH = createHash('sha256').update(CSS).digest('base64')

/**
 * Form posts may end in a redirect to the application (after sign-up, after sign-in), and
 * browsers apply `form-action` to that redirect too: it names the origins such URLs may
 * have (FOYER_ALLOWED_REDIRECT_ORIGINS, which CSP's own `host:*` syntax matches).
 */
export function contentSecurityPolicy(redirectOrigins: readonly string[]): string {
  return [
    "default-src 'none'",
    `style-src 'sha256-${STYLE_HASH}'`,
    `form-action 'self' ${redirectOrigins.join(' ')}`.trim(),
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ')
}

/**
 * Headers of every hosted page and of every redirect it answers with. No page may be cached
 * (they show who is signed in) or framed (clickjacking), and none sends a Referer: their
 * URLs may carry a ticket, which is a working invitation.
 */
export function setPageHeaders(reply: FastifyReply, csp: string): FastifyReply {
  return reply.headers({
    'content-security-policy': csp,
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  })
}

export function document(title: string, appName: string | null, body: HtmlValue): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}${appName ? ` · ${appName}` : ''}</title>
<style>${raw(CSS)}</style>
</head>
<body>
<main>
${appName ? html`<p class="app">${appName}</p>` : ''}
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`
}
