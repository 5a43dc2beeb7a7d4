// A parameter's letters may arrive percent-encoded, and encoded again inside an encoded
// redirect_url (`%2574` is `t`); so may its `=`. Its value runs to the next separator, or to
// an encoded `&` (the next parameter of an encoded URL).
const hex = (c: string) => c.charCodeAt(0).toString(16)
const encodable = (text: string) => [...text].map((c) => `(?:${c}|%(?:25)*(?:${hex(c.toLowerCase())}|${hex(c.toUpperCase())}))`).join('')
const SECRET_PARAM = new RegExp(
  `((?:${encodable('__clerk_')})?${encodable('ticket')}|${encodable('token')}|${encodable('nonce')}|${encodable('__clerk_handshake')}|${encodable('__session')}|${encodable('__clerk_db_jwt')})(=|%(?:25)*3d)(?:(?!%(?:25)*26)[^&#"'\\s\\\\<>])*`, 'gi')

/**
 * Tickets, setup tokens and the handshake's credentials (its nonce and token, the session token
 * and development-browser value an application sends along) in any text, plain or
 * percent-encoded (a ticket link inside a `redirect_url`), are redacted: a logged link would be
 * a working link.
 */
export const redactSecrets = (text: string) => text.replace(SECRET_PARAM, '$1$2[redacted]')
