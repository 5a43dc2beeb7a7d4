import { html, raw, type HtmlValue, type SafeHtml } from '../platform/html.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../users/passwords.js'
import type { Instance } from '../instance/instance.schemas.js'
import { ASSETS } from './dashboard.assets.js'
import type { Operator } from './dashboard.service.js'

/** A message for the operator, and the field it is about (to mark that field invalid). */
export interface FormError {
  message: string
  param?: string
}

/** A section's entry in the nav: its path below `/dashboard/<instance id>/`. */
export interface NavItem {
  key: string
  label: string
  path: string
}

export const instancePath = (instanceId: string, path = '') => `/dashboard/${encodeURIComponent(instanceId)}${path ? `/${path}` : ''}`

export const csrfInput = (token: string) => html`<input type="hidden" name="_csrf" value="${token}">`
export const errorBox = (error?: FormError | null) => error && html`<div class="error" role="alert" id="form-error"><p>${error.message}</p></div>`
export const noticeBox = (text?: string | null) => text && html`<div class="notice" role="status"><p>${text}</p></div>`
export const invalidIf = (error: FormError | null | undefined, param: string) => error?.param === param && raw(' aria-invalid="true" aria-describedby="form-error" autofocus')

/** A date and time as operators read them, in UTC so that every operator reads the same. */
export const when = (ms: number | null | undefined) => ms == null ? '—' : new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC'

function head(title: string): SafeHtml {
  return html`<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Foyer dashboard</title>
<link rel="stylesheet" href="${ASSETS.css.path}">
<script src="${ASSETS.js.path}" defer></script>
</head>`
}

/** A page for someone not signed in (setup, sign-in) or outside any instance: no nav. */
export function plainPage(title: string, body: HtmlValue): SafeHtml {
  return html`<!doctype html>
<html lang="en">
${head(title)}
<body>
<header class="top"><a class="brand" href="/dashboard">Foyer</a></header>
<main class="card narrow">
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`
}

export interface LayoutProps {
  title: string
  operator: Operator
  csrf: string
  instances: readonly Instance[]
  /** The instance the page is about; null on pages about no instance (creating one). */
  instance: Instance | null
  nav: readonly NavItem[]
  /** The nav entry to mark current. */
  current: string | null
  body: HtmlValue
  /** Shows what only owners use: creating instances, the Operators page. */
  isOwner?: boolean
  /** A viewer: forms that change something are hidden (the server refuses them anyway). */
  readOnly?: boolean
}

/** Every signed-in page: the instance switcher, the nav of sections, the operator and sign-out. */
export function dashboardPage(p: LayoutProps): SafeHtml {
  const switcher = html`<form method="get" action="/dashboard/switch" data-autosubmit>
<label for="instance-switch" class="sr-only">Instance</label>
<select id="instance-switch" name="instance">
${p.instances.map((i) => html`<option value="${i.id}"${i.id === p.instance?.id && raw(' selected')}>${i.name} (${i.environmentType === 'production' ? 'live' : 'test'})</option>\n`)}</select>
<button type="submit" class="secondary small">Switch</button>
</form>`
  const nav = p.instance && html`<nav aria-label="Sections"><ul>
${p.nav.map((item) => html`<li><a href="${instancePath(p.instance!.id, item.path)}"${item.key === p.current && raw(' aria-current="page"')}>${item.label}</a></li>\n`)}</ul></nav>`
  return html`<!doctype html>
<html lang="en">
${head(p.instance ? `${p.title} · ${p.instance.name}` : p.title)}
<body${p.readOnly ? raw(' class="read-only"') : p.isOwner ? raw(' class="owner"') : ''}>
<header class="top">
<a class="brand" href="/dashboard">Foyer</a>
${switcher}
${p.isOwner && html`<a href="/dashboard/instances/new">New instance</a>
<a href="/dashboard/operators">Operators</a>
<a href="/dashboard/audit">Team audit</a>`}
<span class="spacer"></span>
<a class="who" href="/dashboard/account">${p.operator.emailAddress}</a>
<form method="post" action="/dashboard/sign-out">${csrfInput(p.csrf)}<button type="submit" class="link">Sign out</button></form>
</header>
<div class="shell">
${nav}
<main>
<h1>${p.title}</h1>
${p.readOnly && html`<p class="muted">You have read-only access.</p>`}
${p.body}
</main>
</div>
</body>
</html>
`
}

const emailField = (value: string | null, error: FormError | null | undefined, autocomplete: string) => html`<div class="field">
<label for="email_address">Email address</label>
<input id="email_address" name="email_address" type="email" autocomplete="${autocomplete}" required maxlength="320"${value ? html` value="${value}"` : ''}${invalidIf(error, 'email_address')}>
</div>`

const passwordField = (autocomplete: 'new-password' | 'current-password', error: FormError | null | undefined) => html`<div class="field">
<label for="password">Password</label>
${autocomplete === 'new-password' && html`<span class="hint">At least ${PASSWORD_MIN_LENGTH} characters.</span>`}
<input id="password" name="password" type="password" autocomplete="${autocomplete}" required${autocomplete === 'new-password' && html` minlength="${PASSWORD_MIN_LENGTH}"`} maxlength="${PASSWORD_MAX_LENGTH}"${invalidIf(error, 'password')}>
</div>`

export function setupPage(p: { token: string; csrf: string; email: string | null; error: FormError | null }): SafeHtml {
  return plainPage('Create the first operator', html`<p>This account signs in to the Foyer dashboard, where you manage every instance. It is not a user of any application.</p>
${errorBox(p.error)}
<form method="post" action="/dashboard/setup">
${csrfInput(p.csrf)}
<input type="hidden" name="token" value="${p.token}">
${emailField(p.email, p.error, 'username')}
${passwordField('new-password', p.error)}
<button type="submit">Create operator</button>
</form>`)
}

export function signInPage(p: { csrf: string; email: string | null; next: string | null; error: FormError | null; notice: string | null }): SafeHtml {
  return plainPage('Sign in to the dashboard', html`${noticeBox(p.notice)}${errorBox(p.error)}
<form method="post" action="/dashboard/sign-in">
${csrfInput(p.csrf)}
${p.next && html`<input type="hidden" name="next" value="${p.next}">`}
${emailField(p.email, p.error, 'username')}
${passwordField('current-password', p.error)}
<button type="submit">Sign in</button>
</form>
<p><a href="/dashboard/forgot-password">Forgot your password?</a></p>`)
}

export function newInstanceBody(p: { csrf: string; name: string | null; error: FormError | null }): SafeHtml {
  return html`<div class="card">
<p>A new instance has its own users, invitations and keys. It starts as a development instance (an <code>sk_test_</code> key).</p>
${errorBox(p.error)}
<form method="post" action="/dashboard/instances">
${csrfInput(p.csrf)}
<div class="field">
<label for="name">Name</label>
<input id="name" name="name" required maxlength="100"${p.name ? html` value="${p.name}"` : ''}${invalidIf(p.error, 'name')}>
</div>
<button type="submit">Create instance</button>
</form>
</div>`
}

export function instanceCreatedBody(p: { instance: Instance; secretKey: string }): SafeHtml {
  return html`<div class="notice" role="status"><p>The instance ${p.instance.name} was created.</p></div>
<div class="card">
<h2>Secret key</h2>
<p><strong>Copy it into your application.</strong> It can be revealed again, or rolled, under this instance's Settings.</p>
<div class="link-box">
<label for="secret-key" class="sr-only">Secret key</label>
<input id="secret-key" class="secret" readonly value="${p.secretKey}">
<button type="button" class="secondary" data-copy="secret-key" hidden>Copy</button>
</div>
</div>
<div class="card">
<dl class="facts">
<dt>Instance id</dt><dd class="mono">${p.instance.id}</dd>
<dt>Publishable key</dt><dd class="mono">${p.instance.publishableKey}</dd>
</dl>
</div>
<p><a class="button" href="${instancePath(p.instance.id, 'invitations')}">Go to ${p.instance.name}</a></p>`
}

export function messageBody(text: HtmlValue, links: [string, string][] = []): SafeHtml {
  return html`<p>${text}</p>${links.length > 0 && html`<p>${links.map(([href, label], i) => html`${i > 0 && ' · '}<a href="${href}">${label}</a>`)}</p>`}`
}
