import { html, raw, type SafeHtml } from '../platform/html.js'
import { DEFAULT_RATE_LIMITS, DEFAULT_USER_LOCKOUT, MAX_INSTANCE_ORIGINS, SIGN_UP_MODES, type Instance, type RateLimitName } from '../instance/instance.schemas.js'
import { ROLL_GRACE_PERIODS_MS, type SecretKeyInfo } from '../instance/instance.service.js'
import type { SigningKeyInfo } from '../sessions/signing-keys.service.js'
import type { ListedIdentifierRow, ListName } from '../restrictions/restrictions.store.js'
import { csrfInput, errorBox, instancePath, invalidIf, noticeBox, when, type FormError } from './dashboard.views.js'

/** The settings form as typed, kept to fill the form again when something is refused. */
export interface SettingsValues {
  applicationName: string
  signUpMode: string
  /** `username`: 'off', 'optional' or 'required'. */
  usernames: string
  homeUrl: string
  afterSignUpUrl: string
  rateLimits: Record<RateLimitName, string>
  /** `user_lockout`: 'on' or 'off', and the two numbers as typed. */
  lockout: { enabled: string; maxAttempts: string; durationInMinutes: string }
  /** One origin per line. */
  allowedRedirectOrigins: string
  remindBeforeExpiryDays: string
}

export const RATE_LIMIT_NAMES = Object.keys(DEFAULT_RATE_LIMITS) as RateLimitName[]

export const RATE_LIMIT_LABELS: Record<RateLimitName, string> = {
  create_invitation: 'Invitations created',
  create_invitation_bulk: 'Bulk invitation requests',
  create_organization_invitation: 'Organization invitations created',
  create_organization_invitation_bulk: 'Bulk organization invitation requests',
}

export const USERNAME_CHOICES = {
  off: 'Off — people sign up and in with their email address only.',
  optional: 'Optional — people may choose a username, and sign in with it or their email address.',
  required: 'Required — everyone signing up chooses a username, and may sign in with it.',
}

const MODE_TEXT: Record<string, string> = {
  public: 'Public — anyone can sign up.',
  restricted: 'Restricted — only people with an invitation can sign up.',
  waitlist: 'Waitlist — people without an invitation join a waitlist.',
}

export const settingsPath = (instance: Instance) => instancePath(instance.id, 'settings')

export function valuesOf(instance: Instance): SettingsValues {
  return {
    applicationName: instance.name,
    signUpMode: instance.signUpMode,
    usernames: instance.username.required ? 'required' : instance.username.enabled ? 'optional' : 'off',
    homeUrl: instance.homeUrl ?? '',
    afterSignUpUrl: instance.afterSignUpUrl ?? '',
    rateLimits: Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [name, String(instance.rateLimits[name])])) as Record<RateLimitName, string>,
    lockout: {
      enabled: instance.userLockout.enabled ? 'on' : 'off',
      maxAttempts: String(instance.userLockout.max_attempts),
      durationInMinutes: String(instance.userLockout.duration_in_minutes),
    },
    allowedRedirectOrigins: instance.allowedRedirectOrigins.join('\n'),
    remindBeforeExpiryDays: String(instance.remindBeforeExpiryDays),
  }
}

/** Which card of the page a refusal belongs to. */
export type SettingsCard = 'application' | 'origins' | 'keys' | ListName

const GRACE_LABELS: Record<number, string> = {
  0: 'Stop the old key now',
  [60 * 60 * 1000]: 'Keep the old key working for 1 hour',
  [24 * 60 * 60 * 1000]: 'Keep the old key working for 24 hours',
  [7 * 24 * 60 * 60 * 1000]: 'Keep the old key working for 7 days',
}

export interface SettingsPageProps {
  instance: Instance
  csrf: string
  values: SettingsValues
  /** `keyId`: the key whose form was refused (a wrong password for its Reveal). */
  error: (FormError & { card: SettingsCard; keyId?: string }) | null
  notice: string | null
  /** FOYER_ALLOWED_REDIRECT_ORIGINS, which every instance allows. */
  serverOrigins: readonly string[]
  keys: readonly SecretKeyInfo[]
  /** A key shown in full in this answer (to a POST) only. */
  revealed: { keyId: string; secretKey: string } | null
  /** The key a roll just made, marked as new. */
  fresh: string | null
  /** The current session-token signing key (public parts only). */
  signingKey: SigningKeyInfo
  /** The entries of each list, newest first. */
  lists: Record<ListName, readonly ListedIdentifierRow[]>
  /** What was typed into a list's form that was refused. */
  typed?: { list: ListName; identifier: string } | null
}

export function settingsBody(p: SettingsPageProps): SafeHtml {
  const { instance, values } = p
  const errorIn = (card: SettingsCard) => (p.error?.card === card ? p.error : null)
  const error = errorIn('application')
  const urlField = (name: 'home_url' | 'after_sign_up_url', label: string, hint: string, value: string) => html`<div class="field">
<label for="${name}">${label} <span class="hint">${hint}</span></label>
<input id="${name}" name="${name}" type="url" maxlength="2048" value="${value}"${invalidIf(error, name)}>
</div>`
  return html`${noticeBox(p.notice)}
<div class="card" id="settings">
<form method="post" action="${settingsPath(instance)}">
${csrfInput(p.csrf)}
<h2>Application</h2>
${errorBox(error)}
<div class="field">
<label for="application_name">Application name <span class="hint">Shown on the sign-up and sign-in pages and in emails.</span></label>
<input id="application_name" name="application_name" required maxlength="256" value="${values.applicationName}"${invalidIf(error, 'application_name')}>
</div>
<div class="field">
<label for="sign_up_mode">Sign-up mode</label>
<select id="sign_up_mode" name="sign_up_mode"${invalidIf(error, 'sign_up_mode')}>
${SIGN_UP_MODES.map((mode) => html`<option value="${mode}"${values.signUpMode === mode && raw(' selected')}>${MODE_TEXT[mode]}</option>\n`)}</select>
</div>
<div class="field">
<label for="username">Usernames</label>
<select id="username" name="username"${invalidIf(error, 'username')}>
${Object.entries(USERNAME_CHOICES).map(([choice, text]) => html`<option value="${choice}"${values.usernames === choice && raw(' selected')}>${text}</option>\n`)}</select>
</div>
${urlField('home_url', 'Home URL', 'Where people go after signing in; blank for Foyer\'s welcome page. On an allowed origin.', values.homeUrl)}
${urlField('after_sign_up_url', 'After sign-up URL', 'Where people go after signing up; blank for Foyer\'s welcome page. On an allowed origin.', values.afterSignUpUrl)}
<h2>Rate limits</h2>
<p class="muted">Requests per hour for this instance's secret key; 0 lifts a limit.</p>
<div class="row">
${RATE_LIMIT_NAMES.map((name) => html`<div class="field">
<label for="rate_limits.${name}">${RATE_LIMIT_LABELS[name]} <span class="hint">Default ${DEFAULT_RATE_LIMITS[name]}.</span></label>
<input id="rate_limits.${name}" name="rate_limits.${name}" type="number" min="0" max="1000000" step="1" required value="${values.rateLimits[name]}"${invalidIf(error, `rate_limits.${name}`)}>
</div>
`)}</div>
<h2>Account lockout</h2>
<p class="muted">Wrong passwords in a row lock an account for a while; locking a user from the API lasts as long.</p>
<div class="row">
<div class="field">
<label for="user_lockout.enabled">Lockout</label>
<select id="user_lockout.enabled" name="user_lockout.enabled"${invalidIf(error, 'user_lockout.enabled')}>
<option value="on"${values.lockout.enabled === 'on' && raw(' selected')}>On</option>
<option value="off"${values.lockout.enabled === 'off' && raw(' selected')}>Off</option>
</select>
</div>
<div class="field">
<label for="user_lockout.max_attempts">Wrong passwords before locking <span class="hint">Default ${DEFAULT_USER_LOCKOUT.max_attempts}.</span></label>
<input id="user_lockout.max_attempts" name="user_lockout.max_attempts" type="number" min="1" max="1000" step="1" required value="${values.lockout.maxAttempts}"${invalidIf(error, 'user_lockout.max_attempts')}>
</div>
<div class="field">
<label for="user_lockout.duration_in_minutes">Lock duration in minutes <span class="hint">Default ${DEFAULT_USER_LOCKOUT.duration_in_minutes}.</span></label>
<input id="user_lockout.duration_in_minutes" name="user_lockout.duration_in_minutes" type="number" min="1" max="525600" step="1" required value="${values.lockout.durationInMinutes}"${invalidIf(error, 'user_lockout.duration_in_minutes')}>
</div>
</div>
<h2>Invitation reminders</h2>
<p class="muted">A pending invitation sent by email gets one reminder (the <code>invitation_reminder</code> or <code>organization_invitation_reminder</code> template, with the same link) this many days before it expires.</p>
<div class="field">
<label for="remind_before_expiry_days">Reminder before expiry, in days <span class="hint">0 sends no reminders.</span></label>
<input id="remind_before_expiry_days" name="remind_before_expiry_days" type="number" min="0" max="365" step="1" required value="${values.remindBeforeExpiryDays}"${invalidIf(error, 'remind_before_expiry_days')}>
</div>
<button type="submit">Save settings</button>
</form>
</div>
${originsCard(p)}
${listCard(p, 'allowlist')}
${listCard(p, 'blocklist')}
${keysCard(p)}
${signingKeyCard(p)}`
}

function signingKeyCard(p: SettingsPageProps): SafeHtml {
  const key = p.signingKey
  return html`<div class="card" id="signing-key">
<h2>Session signing key</h2>
<p class="muted">Session tokens of this instance are signed with this RSA key (RS256). Applications verify them through <code>GET /v1/jwks</code> with the secret key, or offline with this public key as <code>jwtKey</code> / <code>CLERK_JWT_KEY</code>. The private key never leaves Foyer, and is kept sealed with the server secret.</p>
<dl class="facts">
<dt>Key id (kid)</dt><dd class="mono">${key.kid}</dd>
<dt>Created</dt><dd>${when(key.createdAt)}</dd>
</dl>
<div class="field">
<label for="jwt-public-key">Public key (PEM) <span class="hint">For <code>CLERK_JWT_KEY</code>; it changes when the key is rotated.</span></label>
<textarea id="jwt-public-key" class="mono" rows="9" readonly spellcheck="false">${key.publicKeyPem}</textarea>
<button type="button" class="secondary" data-copy="jwt-public-key" hidden>Copy</button>
</div>
<h3>Rotate the signing key</h3>
<form method="post" action="${settingsPath(p.instance)}/signing-key/rotate">
${csrfInput(p.csrf)}
<p class="muted">A new key signs from now on. The old one stays published in the JWKS for 10 minutes, so tokens it signed keep verifying until they expire; an application configured with the PEM above needs the new one.</p>
<button type="submit" class="danger">Rotate signing key</button>
</form>
</div>`
}

const LIST_TEXT: Record<ListName, { title: string; text: string }> = {
  allowlist: { title: 'Allowlist', text: 'In the restricted sign-up mode, these addresses (or everyone at these domains) may sign up without an invitation.' },
  blocklist: { title: 'Blocklist', text: 'These addresses (or everyone at these domains) cannot be invited, sign up or sign in.' },
}

function listCard(p: SettingsPageProps, list: ListName): SafeHtml {
  const error = p.error?.card === list ? p.error : null
  const action = `${settingsPath(p.instance)}/${list}`
  const rows = p.lists[list].map((row) => html`<tr>
<td class="mono">${row.identifier}</td>
<td>${when(row.created_at)}</td>
<td class="actions"><form method="post" action="${action}/${encodeURIComponent(row.id)}/delete">${csrfInput(p.csrf)}
<button type="submit" class="secondary small">Remove ${row.identifier}</button></form></td>
</tr>
`)
  return html`<div class="card" id="${list}">
<h2>${LIST_TEXT[list].title}</h2>
<p class="muted">${LIST_TEXT[list].text}</p>
${rows.length === 0
    ? html`<p>The ${list} is empty.</p>`
    : html`<div class="table-wrap"><table>
<thead><tr><th scope="col">Identifier</th><th scope="col">Added</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows}</tbody>
</table></div>`}
<form method="post" action="${action}">
${csrfInput(p.csrf)}
${errorBox(error)}
<div class="field">
<label for="${list}-identifier">Add to the ${list} <span class="hint">An email address, or <code>*@example.com</code> for a whole domain.</span></label>
<input id="${list}-identifier" name="identifier" required maxlength="320" value="${p.typed?.list === list ? p.typed.identifier : ''}"${invalidIf(error, 'identifier')}>
</div>
${list === 'allowlist' && html`<div class="field"><label><input type="checkbox" name="notify" value="on"> Send an invitation to this address</label></div>`}
<button type="submit">Add</button>
</form>
</div>`
}

function originsCard(p: SettingsPageProps): SafeHtml {
  const error = p.error?.card === 'origins' ? p.error : null
  return html`<div class="card" id="allowed-origins">
<h2>Allowed redirect origins</h2>
<p class="muted">Invitation redirect URLs, home and after-sign-up URLs must be on one of these origins, and only pages on them may call the Frontend API with a person's session.</p>
<h3>Every instance</h3>
${p.serverOrigins.length === 0
    ? html`<p>None. Set <code>FOYER_ALLOWED_REDIRECT_ORIGINS</code> to allow origins for every instance.</p>`
    : html`<ul>${p.serverOrigins.map((o) => html`<li class="mono">${o}</li>`)}</ul>
<p class="muted">From <code>FOYER_ALLOWED_REDIRECT_ORIGINS</code>; change it and restart Foyer to change these.</p>`}
<form method="post" action="${settingsPath(p.instance)}">
${csrfInput(p.csrf)}
${errorBox(error)}
<div class="field">
<label for="allowed_redirect_origins">This instance also allows <span class="hint">One origin per line, up to ${MAX_INSTANCE_ORIGINS}: <code>https://app.example.com</code>, or <code>http://localhost:*</code> for any port. No paths.</span></label>
<textarea id="allowed_redirect_origins" name="allowed_redirect_origins" rows="4" spellcheck="false" placeholder="https://app.example.com"${invalidIf(error, 'allowed_redirect_origins')}>${p.values.allowedRedirectOrigins}</textarea>
</div>
<button type="submit">Save origins</button>
</form>
</div>`
}

function keysCard(p: SettingsPageProps): SafeHtml {
  const { instance } = p
  const error = p.error?.card === 'keys' ? p.error : null
  const keyAction = (key: SecretKeyInfo, action: string) => settingsPath(instance) + `/keys/${encodeURIComponent(key.id)}/${action}`
  const isPinned = p.keys.some((k) => k.isPinned)
  const rows = p.keys.map((key) => {
    const shown = p.revealed?.keyId === key.id ? p.revealed : null
    return html`<tr data-key="${key.id}">
<td><span class="mono">${key.hint ?? 'made before keys were kept for revealing'}</span>${key.isPinned && html` <span class="status status-pending">FOYER_SECRET_KEY</span>`}${key.id === p.fresh && html` <span class="status status-sent">new</span>`}<div class="mono muted">${key.id}</div>
${shown && html`<div class="link-box">
<label for="secret-key-${key.id}" class="sr-only">Secret key</label>
<input id="secret-key-${key.id}" class="secret" readonly value="${shown.secretKey}">
<button type="button" class="secondary" data-copy="secret-key-${key.id}" hidden>Copy</button>
</div>`}</td>
<td>${when(key.createdAt)}</td>
<td>${key.expiresAt === null ? html`<span class="status status-accepted">active</span>` : html`<span class="status status-expired">stops ${when(key.expiresAt)}</span>`}</td>
<td class="actions">${shown
    ? html`<a class="button secondary small" href="${settingsPath(instance)}#api-keys">Hide</a>`
    : key.canReveal && html`<details${p.error?.param === 'password' && p.error.keyId === key.id && raw(' open')}><summary>Reveal</summary>
<form method="post" action="${keyAction(key, 'reveal')}">${csrfInput(p.csrf)}
<label for="password-${key.id}">Your password <span class="hint">Asked again before a key is shown.</span></label>
<input id="password-${key.id}" name="password" type="password" autocomplete="current-password" required${p.error?.keyId === key.id && invalidIf(p.error, 'password')}>
<button type="submit" class="secondary small">Reveal key</button></form></details>`}
${!key.isPinned && p.keys.some((k) => k.id !== key.id && k.expiresAt === null) && html`<details><summary>Delete</summary>
<form method="post" action="${keyAction(key, 'delete')}">${csrfInput(p.csrf)}
<p class="muted">Requests with this key are refused from now on.</p>
<button type="submit" class="danger small">Delete this key now</button></form></details>`}</td>
</tr>
`
  })
  return html`<div class="card" id="api-keys">
<h2>API keys</h2>
<dl class="facts">
<dt>Instance id</dt><dd class="mono">${instance.id}</dd>
<dt>Environment</dt><dd>${instance.environmentType === 'production' ? 'production (sk_live_ keys)' : 'development (sk_test_ keys)'}</dd>
<dt>Publishable key</dt><dd class="mono">${instance.publishableKey}</dd>
</dl>
<h3>Secret keys</h3>
${errorBox(error)}
<div class="table-wrap"><table>
<thead><tr><th scope="col">Key</th><th scope="col">Created</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows}</tbody>
</table></div>
<p class="muted">Foyer looks keys up by their hash and keeps them sealed with the server secret, which is never in the database: a copy of the database alone reveals no key. Revealing a key is written to the log, without the key.</p>
${isPinned
    ? html`<p class="muted">This instance's key is set by <code>FOYER_SECRET_KEY</code>, so it is rolled there: change the variable and restart Foyer.</p>`
    : html`<h3>Roll the secret key</h3>
<form method="post" action="${settingsPath(instance)}/keys/roll">
${csrfInput(p.csrf)}
<div class="field">
<label for="grace_period">Grace period <span class="hint">A new key is made at once; give your deployments time to switch to it before the old one stops.</span></label>
<select id="grace_period" name="grace_period">
${ROLL_GRACE_PERIODS_MS.map((ms) => html`<option value="${String(ms / 3_600_000)}"${ms === 24 * 60 * 60 * 1000 && raw(' selected')}>${GRACE_LABELS[ms]}</option>\n`)}</select>
</div>
<button type="submit" class="danger">Roll secret key</button>
</form>`}
</div>`
}
