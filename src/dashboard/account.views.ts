import { html, type SafeHtml } from '../platform/html.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../users/passwords.js'
import { csrfInput, errorBox, invalidIf, noticeBox, plainPage, when, type FormError } from './dashboard.views.js'
import type { OperatorSessionView } from './operator-security.service.js'
import { groupSecret } from './totp.js'

export const ACCOUNT_PATH = '/dashboard/account'
export const TOTP_PATH = '/dashboard/account/totp'

const codeField = (error: FormError | null | undefined, hint: string) => html`<div class="field">
<label for="code">Code</label>
<span class="hint">${hint}</span>
<input id="code" name="code" required autocomplete="one-time-code" inputmode="text" maxlength="32" spellcheck="false"${invalidIf(error, 'code')}>
</div>`

const passwordInput = (id: string, autocomplete: 'current-password' | 'new-password', error: FormError | null | undefined) => html`<div class="field">
<label for="${id}">${autocomplete === 'new-password' ? 'New password' : 'Password'}</label>
${autocomplete === 'new-password' && html`<span class="hint">At least ${PASSWORD_MIN_LENGTH} characters.</span>`}
<input id="${id}" name="password" type="password" autocomplete="${autocomplete}" required${autocomplete === 'new-password' && html` minlength="${PASSWORD_MIN_LENGTH}"`} maxlength="${PASSWORD_MAX_LENGTH}"${invalidIf(error, 'password')}>
</div>`

/** The second step of signing in: a code from the authenticator app, or a recovery code. */
export function signInCodePage(p: { csrf: string; next: string | null; error: FormError | null }): SafeHtml {
  return plainPage('Enter your code', html`${errorBox(p.error)}
<p>Your account asks for a one-time code too.</p>
<form method="post" action="/dashboard/sign-in/code">
${csrfInput(p.csrf)}
${p.next && html`<input type="hidden" name="next" value="${p.next}">`}
${codeField(p.error, 'The 6-digit code from your authenticator app, or one of your recovery codes.')}
<button type="submit">Continue</button>
</form>
<p><a href="/dashboard/sign-in">Start over</a></p>`)
}

function sessionsTable(csrf: string, sessions: readonly OperatorSessionView[]): SafeHtml {
  return html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Device</th><th scope="col">IP address</th><th scope="col">Signed in</th><th scope="col">Last seen</th><th scope="col">Expires</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
<tbody>
${sessions.map((s) => html`<tr${s.current && html` aria-current="true"`}>
<td>${s.userAgent ?? 'Unknown'}${s.current && html` <span class="status">This session</span>`}</td>
<td class="mono">${s.ip ?? '—'}</td>
<td>${when(s.createdAt)}</td>
<td>${when(s.lastSeenAt)}</td>
<td>${when(s.expiresAt)}</td>
<td class="actions"><form method="post" action="${`${ACCOUNT_PATH}/sessions/${encodeURIComponent(s.id)}/end`}">${csrfInput(csrf)}<button type="submit" class="secondary small">${s.current ? 'End this session' : 'End session'}</button></form></td>
</tr>
`)}</tbody></table></div>`
}

export interface AccountProps {
  csrf: string
  notice: string | null
  error: FormError | null
  sessions: readonly OperatorSessionView[]
  totpEnabled: boolean
  recoveryCodesLeft: number
  requireTotp: boolean
  canManageSecurity: boolean
}

/** The operator's own account: one-time codes, sessions, and (for those allowed) the dashboard-wide rule. */
export function accountBody(p: AccountProps): SafeHtml {
  const totp = p.totpEnabled
    ? html`<p>One-time codes are <strong>on</strong>: signing in asks for a code from your authenticator app after your password. ${p.recoveryCodesLeft} of your recovery codes are unused.</p>
${!p.requireTotp && html`<details><summary>Turn off one-time codes</summary>
<form method="post" action="${`${TOTP_PATH}/disable`}">
${csrfInput(p.csrf)}
${passwordInput('disable-password', 'current-password', p.error)}
${codeField(p.error, 'A current code from your app, or a recovery code.')}
<button type="submit" class="danger">Turn off</button>
</form>
</details>`}`
    : html`<p>One-time codes are <strong>off</strong>. With them on, signing in takes a code from an authenticator app as well as your password.</p>
<p><a class="button" href="${TOTP_PATH}">Set up one-time codes</a></p>`
  const others = p.sessions.filter((s) => !s.current).length
  return html`${noticeBox(p.notice)}${errorBox(p.error)}<div class="card">
<h2>One-time codes</h2>
${totp}
</div>
<div class="card">
<h2>Sessions</h2>
<p>Where your operator account is signed in. Ending a session signs that browser out at once.</p>
${sessionsTable(p.csrf, p.sessions)}
${others > 0 && html`<form method="post" action="${`${ACCOUNT_PATH}/sessions/end-others`}" class="toolbar">${csrfInput(p.csrf)}<button type="submit" class="secondary">End all other sessions</button></form>`}
</div>
${p.canManageSecurity && html`<div class="card">
<h2>Dashboard security</h2>
<p>${p.requireTotp
    ? 'Every operator must use one-time codes: an operator without them is sent to set them up right after signing in, and can open nothing else until they have.'
    : 'Operators choose for themselves whether to use one-time codes.'}</p>
<form method="post" action="${`${ACCOUNT_PATH}/require-totp`}">
${csrfInput(p.csrf)}
<input type="hidden" name="require_totp" value="${p.requireTotp ? 'off' : 'on'}">
<button type="submit" class="${p.requireTotp ? 'secondary' : ''}">${p.requireTotp ? 'Stop requiring one-time codes' : 'Require one-time codes for every operator'}</button>
</form>
</div>`}`
}

/** Before a secret exists: what this is, and the button making one. */
export function totpIntroBody(p: { csrf: string; required: boolean }): SafeHtml {
  return html`${p.required && noticeBox('This dashboard requires one-time codes of every operator. Set them up to continue.')}<div class="card">
<p>You need an authenticator app on your phone or computer (such as 1Password, Google Authenticator, Authy or Bitwarden). It shows a new 6-digit code every 30 seconds, which Foyer asks for after your password.</p>
<form method="post" action="${`${TOTP_PATH}/start`}">
${csrfInput(p.csrf)}
<button type="submit">Start</button>
</form>
</div>`
}

/** The new secret, as text to paste or type into the app, and the form confirming it with a first code. */
export function totpEnrolBody(p: { csrf: string; secret: string; uri: string; error: FormError | null }): SafeHtml {
  return html`${errorBox(p.error)}<div class="card">
<h2>1. Add Foyer to your authenticator app</h2>
<p>In the app, add an account by entering a setup key, and type or paste this key (time-based):</p>
<div class="link-box">
<label for="totp-secret" class="sr-only">Setup key</label>
<input id="totp-secret" class="secret" readonly value="${groupSecret(p.secret)}">
<button type="button" class="secondary" data-copy="totp-secret" hidden>Copy</button>
</div>
<p class="hint">Apps that open links can take this instead:</p>
<div class="link-box">
<label for="totp-uri" class="sr-only">Setup link</label>
<input id="totp-uri" class="secret" readonly value="${p.uri}">
<button type="button" class="secondary" data-copy="totp-uri" hidden>Copy</button>
</div>
</div>
<div class="card">
<h2>2. Enter the code it shows</h2>
<form method="post" action="${`${TOTP_PATH}/confirm`}">
${csrfInput(p.csrf)}
${codeField(p.error, 'The 6-digit code your app shows now.')}
<button type="submit">Turn on one-time codes</button>
</form>
</div>`
}

/** The recovery codes, shown this once. */
export function recoveryCodesBody(p: { codes: readonly string[] }): SafeHtml {
  return html`<div class="notice" role="status"><p>One-time codes are on. From now on, signing in asks for a code after your password.</p></div>
<div class="card">
<h2>Recovery codes</h2>
<p><strong>Save these now: they are not shown again.</strong> Each signs you in once instead of a code, if you lose your authenticator app.</p>
<pre class="mono" id="recovery-codes">${p.codes.join('\n')}</pre>
<p><a class="button" href="${ACCOUNT_PATH}">I saved them</a></p>
</div>`
}

export function forgotPasswordPage(p: { csrf: string; email: string | null; error: FormError | null; sent: boolean }): SafeHtml {
  if (p.sent) {
    return plainPage('Check your email', html`<div class="notice" role="status"><p>If an operator account uses that address, an email with a link to choose a new password is on its way. The link works once, for 30 minutes.</p></div>
<p><a href="/dashboard/sign-in">Back to sign-in</a></p>`)
  }
  return plainPage('Reset your password', html`${errorBox(p.error)}
<p>Enter your operator account's email address, and Foyer emails you a link to choose a new password.</p>
<form method="post" action="/dashboard/forgot-password">
${csrfInput(p.csrf)}
<div class="field">
<label for="email_address">Email address</label>
<input id="email_address" name="email_address" type="email" autocomplete="username" required maxlength="320"${p.email ? html` value="${p.email}"` : ''}${invalidIf(p.error, 'email_address')}>
</div>
<button type="submit">Email me a link</button>
</form>
<p><a href="/dashboard/sign-in">Back to sign-in</a></p>`)
}

export function resetPasswordPage(p: { csrf: string; token: string; error: FormError | null }): SafeHtml {
  return plainPage('Choose a new password', html`${errorBox(p.error)}
<p>Your new password replaces the old one, and every session of your account ends.</p>
<form method="post" action="/dashboard/reset-password">
${csrfInput(p.csrf)}
<input type="hidden" name="token" value="${p.token}">
${passwordInput('password', 'new-password', p.error)}
<button type="submit">Set password</button>
</form>`)
}
