import { html, raw, type SafeHtml } from '../platform/html.js'
import { DEFAULT_RATE_LIMITS, SIGN_UP_MODES, type Instance, type RateLimitName } from '../instance/instance.schemas.js'
import { csrfInput, errorBox, instancePath, invalidIf, noticeBox, type FormError } from './dashboard.views.js'

/** The settings form as typed, kept to fill the form again when something is refused. */
export interface SettingsValues {
  applicationName: string
  signUpMode: string
  homeUrl: string
  afterSignUpUrl: string
  rateLimits: Record<RateLimitName, string>
}

export const RATE_LIMIT_NAMES = Object.keys(DEFAULT_RATE_LIMITS) as RateLimitName[]

export const RATE_LIMIT_LABELS: Record<RateLimitName, string> = {
  create_invitation: 'Invitations created',
  create_invitation_bulk: 'Bulk invitation requests',
  create_organization_invitation: 'Organization invitations created',
  create_organization_invitation_bulk: 'Bulk organization invitation requests',
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
    homeUrl: instance.homeUrl ?? '',
    afterSignUpUrl: instance.afterSignUpUrl ?? '',
    rateLimits: Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [name, String(instance.rateLimits[name])])) as Record<RateLimitName, string>,
  }
}

export interface SettingsPageProps {
  instance: Instance
  csrf: string
  values: SettingsValues
  error: FormError | null
  notice: string | null
  allowedRedirectOrigins: readonly string[]
}

export function settingsBody(p: SettingsPageProps): SafeHtml {
  const { instance, values, error } = p
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
<button type="submit">Save settings</button>
</form>
</div>
<div class="card" id="allowed-origins">
<h2>Allowed redirect origins</h2>
<p class="muted">Read-only here: they are configuration, shared by every instance. Change <code>FOYER_ALLOWED_REDIRECT_ORIGINS</code> (comma-separated; <code>*</code> allowed for a port, such as <code>http://localhost:*</code>) and restart Foyer.</p>
${p.allowedRedirectOrigins.length === 0
    ? html`<p>None: redirect URLs, home and after-sign-up URLs are refused until an origin is allowed.</p>`
    : html`<ul>${p.allowedRedirectOrigins.map((o) => html`<li class="mono">${o}</li>`)}</ul>`}
</div>
<div class="card" id="api-keys">
<h2>API keys</h2>
<dl class="facts">
<dt>Instance id</dt><dd class="mono">${instance.id}</dd>
<dt>Environment</dt><dd>${instance.environmentType === 'production' ? 'production (sk_live_ key)' : 'development (sk_test_ key)'}</dd>
<dt>Publishable key</dt><dd class="mono">${instance.publishableKey}</dd>
<dt>Secret key</dt><dd>Shown once, when the instance was created (or printed at first start). Foyer stores only its hash, so it cannot be revealed again.</dd>
</dl>
<p class="muted">Rotating the secret key is not available from the dashboard yet: Foyer has no operation that issues a new key for an existing instance. For the default instance, set <code>FOYER_SECRET_KEY</code> to a new key and restart; it replaces the old one. For another instance, create a new instance.</p>
</div>`
}
