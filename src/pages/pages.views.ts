import { html, raw, type HtmlValue, type SafeHtml } from '../platform/html.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../users/passwords.js'
import { USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH } from '../users/usernames.js'
import type { UsernameSettings } from '../instance/instance.schemas.js'
import { document } from './layout.js'

/** What every form needs: where it posts, its CSRF token, and the state it carries along. */
export interface FormTarget {
  action: string
  csrf: string
  hidden?: Record<string, string | null | undefined>
}

/** A message for the person, and the field it is about (to mark it invalid). */
export interface FormError {
  message: string
  param?: string
}

export const NAME_MAX_LENGTH = 100
const ERROR_ID = 'form-error'

const errorBox = (error?: FormError | null) => error && html`<div class="error" role="alert" id="${ERROR_ID}"><p>${error.message}</p></div>`
const noticeBox = (text?: string | null) => text && html`<div class="notice" role="status"><p>${text}</p></div>`

interface FieldProps {
  name: string
  label: string
  type?: 'text' | 'email' | 'password'
  value?: string | null
  autocomplete: string
  required?: boolean
  hint?: string
  /** The error is about this field (or the form has one and this is its first field). */
  error?: FormError | null
  autofocus?: boolean
  minlength?: number
  maxlength?: number
  inputmode?: 'numeric'
  pattern?: string
  className?: string
}

function field(p: FieldProps): SafeHtml {
  const invalid = !!p.error && p.error.param === p.name
  const hintId = p.hint ? `${p.name}-hint` : null
  const describedBy = [hintId, invalid ? ERROR_ID : null].filter(Boolean).join(' ')
  return html`<div class="field">
<label for="${p.name}">${p.label}</label>
${p.hint && html`<span class="hint" id="${hintId}">${p.hint}</span>\n`}<input id="${p.name}" name="${p.name}" type="${p.type ?? 'text'}" autocomplete="${p.autocomplete}"${p.value ? html` value="${p.value}"` : ''}${p.required && raw(' required')}${(p.autofocus || invalid) && raw(' autofocus')}${p.minlength && html` minlength="${p.minlength}"`} maxlength="${p.maxlength ?? 320}"${p.inputmode && html` inputmode="${p.inputmode}"`}${p.pattern && html` pattern="${p.pattern}"`}${p.className && html` class="${p.className}"`}${describedBy && html` aria-describedby="${describedBy}"`}${invalid && raw(' aria-invalid="true"')}>
</div>`
}

function form(target: FormTarget, submit: string, fields: HtmlValue = '', variant: 'primary' | 'secondary' = 'primary'): SafeHtml {
  const hidden = Object.entries(target.hidden ?? {}).filter((e): e is [string, string] => !!e[1])
  return html`<form method="post" action="${target.action}">
<input type="hidden" name="_csrf" value="${target.csrf}">
${hidden.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">\n`)}${fields}
<button type="submit" class="${variant}">${submit}</button>
</form>`
}

const links = (items: [string, string][]) => items.length > 0 && html`<p class="links">${items.map(([href, text], i) => html`${i > 0 && ' · '}<a href="${href}">${text}</a>`)}</p>`

const passwordField = (autocomplete: 'new-password' | 'current-password', error?: FormError | null, autofocus = false) => field({
  name: 'password', label: 'Password', type: 'password', autocomplete, required: true, error, autofocus,
  ...(autocomplete === 'new-password' ? { hint: `At least ${PASSWORD_MIN_LENGTH} characters.`, minlength: PASSWORD_MIN_LENGTH } : {}),
  maxlength: PASSWORD_MAX_LENGTH,
})

/** The username field, where the instance has usernames (its settings, else null). */
const usernameField = (settings: UsernameSettings | null | undefined, values: SignUpValues, error?: FormError | null) => settings?.enabled && field({
  name: 'username', label: 'Username', hint: `${settings.required ? '' : 'Optional. '}${USERNAME_MIN_LENGTH}–${USERNAME_MAX_LENGTH} letters, digits, _ or -.`,
  value: values.username, autocomplete: 'username', required: settings.required, minlength: USERNAME_MIN_LENGTH, maxlength: USERNAME_MAX_LENGTH, error,
})

const nameFields = (values: { firstName?: string | null; lastName?: string | null }, error?: FormError | null) => html`<div class="row">
${field({ name: 'first_name', label: 'First name', hint: 'Optional', value: values.firstName, autocomplete: 'given-name', maxlength: NAME_MAX_LENGTH, error })}
${field({ name: 'last_name', label: 'Last name', hint: 'Optional', value: values.lastName, autocomplete: 'family-name', maxlength: NAME_MAX_LENGTH, error })}
</div>`

export interface SignUpValues {
  emailAddress?: string | null
  username?: string | null
  firstName?: string | null
  lastName?: string | null
}

/**
 * Sign-up with an invitation. The address is shown, not asked for: it is the ticket's, and
 * the server reads it only from there. The nameless hidden input lets password managers
 * save the new password under it; having no name, it is never submitted.
 */
export const signUpWithTicketPage = (p: {
  app: string; organization?: string | null; email: string; form: FormTarget; values: SignUpValues; error?: FormError | null; signInUrl: string; usernames?: UsernameSettings | null
}) =>
  document('Create your account', p.app, html`<p>You have been invited to join ${p.organization ? html`<strong>${p.organization}</strong> on ${p.app}` : p.app}. Choose a password to accept the invitation.</p>
${errorBox(p.error)}
<dl class="fixed"><dt>Email address</dt><dd id="invited-email">${p.email}</dd></dl>
${form(p.form, 'Create account', html`<input type="text" autocomplete="username" value="${p.email}" hidden readonly>
${usernameField(p.usernames, p.values, p.error)}
${passwordField('new-password', p.error, true)}
${nameFields(p.values, p.error)}`)}
${links([[p.signInUrl, 'Already have an account? Sign in']])}`)

export const signUpPage = (p: { app: string; form: FormTarget; values: SignUpValues; error?: FormError | null; signInUrl: string; usernames?: UsernameSettings | null }) =>
  document('Create your account', p.app, html`${errorBox(p.error)}
${form(p.form, 'Continue', html`${field({ name: 'email_address', label: 'Email address', type: 'email', value: p.values.emailAddress, autocomplete: 'email', required: true, autofocus: true, error: p.error })}
${usernameField(p.usernames, p.values, p.error)}
${passwordField('new-password', p.error)}
${nameFields(p.values, p.error)}`)}
${links([[p.signInUrl, 'Already have an account? Sign in']])}`)

export const verifyCodePage = (p: { app: string; email: string; form: FormTarget; error?: FormError | null; restartUrl: string }) =>
  document('Check your email', p.app, html`<p>We sent a 6-digit code to <strong>${p.email}</strong>. Enter it below to finish creating your account.</p>
${errorBox(p.error)}
${form(p.form, 'Verify and create account', field({
    name: 'code', label: 'Verification code', autocomplete: 'one-time-code', inputmode: 'numeric', pattern: '[0-9]{6}',
    minlength: 6, maxlength: 6, required: true, autofocus: true, error: p.error ? { ...p.error, param: 'code' } : null, className: 'code',
  }))}
${links([[p.restartUrl, 'Didn\'t get it? Start again']])}`)

export const signInPage = (p: { app: string; form: FormTarget; email?: string | null; error?: FormError | null; notice?: string | null; signUpUrl?: string | null; usernames?: boolean }) =>
  document('Sign in', p.app, html`${noticeBox(p.notice)}
${errorBox(p.error)}
${form(p.form, 'Sign in', html`${field({ name: 'identifier', label: p.usernames ? 'Email address or username' : 'Email address', type: p.usernames ? 'text' : 'email', value: p.email, autocomplete: 'username', required: true, autofocus: !p.email, error: p.error })}
${passwordField('current-password', p.error, !!p.email)}`)}
${links(p.signUpUrl ? [[p.signUpUrl, 'No account yet? Sign up']] : [])}`)

export const waitlistPage = (p: { app: string; form: FormTarget; email?: string | null; error?: FormError | null; signInUrl: string }) =>
  document('Join the waitlist', p.app, html`<p>${p.app} is not open for sign-up yet. Leave your email address and you will get an invitation when a place opens up.</p>
${errorBox(p.error)}
${form(p.form, 'Join the waitlist', field({ name: 'email_address', label: 'Email address', type: 'email', value: p.email, autocomplete: 'email', required: true, autofocus: true, error: p.error }))}
${links([[p.signInUrl, 'Already have an account? Sign in']])}`)

export const signOutPage = (p: { app: string | null; form: FormTarget; signedInAs: string | null }) =>
  document('Sign out', p.app, html`<p>${p.signedInAs ? html`You are signed in as <strong>${p.signedInAs}</strong>.` : 'You are not signed in on this device.'}</p>
${form(p.form, p.signedInAs ? 'Sign out' : 'Continue')}`)

/**
 * Someone signed in opened another address's invitation. Nothing is consumed; the button
 * signs out and comes back to the same page, where the invited person can go on.
 */
export const wrongAccountPage = (p: { app: string; signedInAs: string; signedInApp: string | null; invitedEmail: string; signOut: FormTarget }) =>
  document('This invitation is for someone else', p.app, html`<p>You are signed in as <strong>${p.signedInAs}</strong>${p.signedInApp && html` on ${p.signedInApp}`}; this invitation is for <strong>${p.invitedEmail}</strong>.</p>
<p>To accept it, sign out and continue as ${p.invitedEmail}. The invitation stays valid until then.</p>
${form(p.signOut, 'Sign out and continue')}`)

/** A page that only tells something: a finished step, a refusal, an error. */
export const messagePage = (p: { app: string | null; title: string; text: HtmlValue[]; links?: [string, string][]; action?: { form: FormTarget; label: string } }) =>
  document(p.title, p.app, html`${p.text.map((t) => html`<p>${t}</p>\n`)}${p.action && html`<div class="actions">${form(p.action.form, p.action.label, '', 'secondary')}</div>`}
${links(p.links ?? [])}`)

/** One organization invitation as `/accept` shows it, with the two answers a person can give. */
export interface InvitationChoice {
  organization: string
  roleName: string
  /** The inviter's name and address, when someone invited (an automatic invitation has nobody). */
  inviter: string | null
  /** The inviter as a sentence names them: their name, else their address. */
  inviterName: string | null
  accept: FormTarget
  decline: FormTarget
}

/** A verified domain's suggestion: the person may ask to join, or dismiss it. */
export interface SuggestionChoice {
  organization: string
  request: FormTarget
  dismiss: FormTarget
}

const choices = (accept: FormTarget, acceptLabel: string, decline: FormTarget, declineLabel: string) =>
  html`<div class="choices">${form(accept, acceptLabel)}${form(decline, declineLabel, '', 'secondary')}</div>`

/**
 * A signed-in person's invitation into an organization, opened through its link. Nothing is
 * consumed until one of the two buttons is pressed.
 */
export const acceptInvitationPage = (p: { app: string; invitation: InvitationChoice; signedInAs: string; signOut: FormTarget }) => {
  const inv = p.invitation
  return document(`Join ${inv.organization}`, p.app, html`<p>${inv.inviterName ? html`<strong>${inv.inviterName}</strong> invited you` : 'You are invited'} to join <strong>${inv.organization}</strong> on ${p.app}.</p>
<dl class="fixed"><dt>Organization</dt><dd id="organization">${inv.organization}</dd>
<dt>Role</dt><dd id="role">${inv.roleName}</dd>
${inv.inviter && html`<dt>Invited by</dt><dd id="inviter">${inv.inviter}</dd>\n`}<dt>Signed in as</dt><dd id="signed-in-as">${p.signedInAs}</dd></dl>
${choices(inv.accept, 'Accept', inv.decline, 'Decline')}
<div class="actions">${form(p.signOut, 'Not you? Sign out', '', 'secondary')}</div>`)
}

/**
 * Everything waiting for a signed-in person: invitations to their addresses (sent by someone,
 * or automatic through a verified domain) and organizations suggested to them.
 */
export const pendingInvitationsPage = (p: { app: string; signedInAs: string; invitations: InvitationChoice[]; suggestions: SuggestionChoice[]; notice?: string | null; continueUrl: string }) =>
  document('Your invitations', p.app, html`${noticeBox(p.notice)}
<p>Signed in as <strong>${p.signedInAs}</strong>.</p>
${p.invitations.length === 0 && p.suggestions.length === 0 ? html`<p>You have no pending invitations.</p>\n` : ''}${p.invitations.map((inv) => html`<section class="card invitation">
<h2>${inv.organization}</h2>
<p>Role: ${inv.roleName}${inv.inviter ? html` · Invited by ${inv.inviter}` : ' · Invited automatically for your email address'}</p>
${choices(inv.accept, 'Accept', inv.decline, 'Decline')}
</section>
`)}${p.suggestions.length > 0 && html`<h2>Organizations you can join</h2>
<p>Your email address belongs to these organizations' domains. Ask to join, and your request goes to the organization, whose admins can add you.</p>
${p.suggestions.map((s) => html`<section class="card suggestion">
<h2>${s.organization}</h2>
${choices(s.request, 'Ask to join', s.dismiss, 'Dismiss')}
</section>
`)}`}${links([[p.continueUrl, `Continue to ${p.app}`]])}`)

/** One of the person's addresses on `/account`, with what can be done to it. */
export interface AccountAddress {
  email: string
  isPrimary: boolean
  isVerified: boolean
  /** For an unverified address: send a (new) code, and type it in. */
  sendCode?: FormTarget
  verify?: FormTarget
  /** Any address but the primary one. */
  remove?: FormTarget
}

/** A signed-in person's email addresses: add one, prove it by the code emailed to it, remove one. */
export const accountPage = (p: { app: string; signedInAs: string; addresses: AccountAddress[]; add: FormTarget; addValue?: string | null; error?: FormError | null; notice?: string | null; continueUrl: string }) =>
  document('Your email addresses', p.app, html`${noticeBox(p.notice)}
${errorBox(p.error)}
<p>Signed in as <strong>${p.signedInAs}</strong>.</p>
${p.addresses.map((a) => html`<section class="card address">
<h2>${a.email}</h2>
<p>${[a.isPrimary && 'Primary', a.isVerified ? 'Verified' : 'Unverified'].filter(Boolean).join(' · ')}</p>
${a.verify && form(a.verify, 'Verify', field({
    name: 'code', label: 'Verification code', autocomplete: 'one-time-code', inputmode: 'numeric', pattern: '[0-9]{6}', minlength: 6, maxlength: 6, required: true, className: 'code',
  }))}${a.sendCode && form(a.sendCode, 'Send a new code', '', 'secondary')}${a.remove && form(a.remove, 'Remove', '', 'secondary')}
</section>
`)}<h2>Add an email address</h2>
${form(p.add, 'Add and send a code', field({ name: 'email_address', label: 'Email address', type: 'email', value: p.addValue, autocomplete: 'email', required: true, error: p.error }))}
${links([[p.continueUrl, `Continue to ${p.app}`]])}`)

/** An invitation link's page: who it lets in, and the address to prove first. */
export const joinLinkPage = (p: { app: string; organization: string | null; domains: string[]; form: FormTarget; email?: string | null; error?: FormError | null }) =>
  document(p.organization ? `Join ${p.organization}` : `Join ${p.app}`, p.app, html`<p>${p.organization
    ? html`You were invited to join <strong>${p.organization}</strong> on ${p.app}.`
    : html`You were invited to join <strong>${p.app}</strong>.`} Enter your email address: we will send you a code to confirm it.</p>
${p.domains.length > 0 ? html`<p>This link is for addresses at ${p.domains.join(', ')}.</p>` : ''}
${errorBox(p.error)}
${form(p.form, 'Send code', field({ name: 'email_address', label: 'Email address', type: 'email', value: p.email, autocomplete: 'email', required: true, autofocus: true, error: p.error }))}`)

/** The code step of an invitation link. */
export const joinCodePage = (p: { app: string; email: string; form: FormTarget; error?: FormError | null; restartUrl: string | null }) =>
  document('Check your email', p.app, html`<p>We sent a 6-digit code to <strong>${p.email}</strong>. Enter it below to continue.</p>
${errorBox(p.error)}
${form(p.form, 'Continue', field({
    name: 'code', label: 'Verification code', autocomplete: 'one-time-code', inputmode: 'numeric', pattern: '[0-9]{6}',
    minlength: 6, maxlength: 6, required: true, autofocus: true, error: p.error ? { ...p.error, param: 'code' } : null, className: 'code',
  }))}
${links(p.restartUrl ? [[p.restartUrl, 'Didn\'t get it? Start again']] : [])}`)
