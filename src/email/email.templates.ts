import { Liquid, type FS, type LiquidOptions, type Template } from 'liquidjs'

export const EMAIL_TEMPLATE_SLUGS = [
  'invitation', 'waitlist_invitation', 'organization_invitation', 'invitation_reminder', 'organization_invitation_reminder', 'verification_code', 'affiliation_code',
] as const
export type EmailTemplateSlug = (typeof EMAIL_TEMPLATE_SLUGS)[number]
/** The templates of organization invitations: they get the inviter's and organization's names, and read that table. */
export const isOrganizationSlug = (slug: string) => slug === 'organization_invitation' || slug === 'organization_invitation_reminder'
export const isTemplateSlug = (slug: string): slug is EmailTemplateSlug => (EMAIL_TEMPLATE_SLUGS as readonly string[]).includes(slug)

export const TEMPLATE_PARTS = ['subject', 'html', 'text'] as const
export type TemplatePart = (typeof TEMPLATE_PARTS)[number]
export type TemplateSource = Record<TemplatePart, string>

/** What a template can use. Organization templates also get the inviter's and organization's names. */
export interface TemplateVariables {
  app_name: string
  email_address: string
  url: string
  /** Human-readable, in UTC ("January 31, 2026 at 12:00 PM UTC"). */
  expires_at: string
  expires_at_iso: string
  inviter_name?: string
  organization_name?: string
  /** The 6-digit code of a sign-up without an invitation (`verification_code`) or of a domain (`affiliation_code`). */
  code?: string
  /** The domain an organization is verifying (`affiliation_code` only). */
  domain?: string
}

export interface RenderedEmail {
  subject: string
  html: string
  text: string
}

const layout = (body: string) => `<!doctype html>
<html><body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1f2328; line-height: 1.5">
<div style="max-width: 560px; margin: 0 auto; padding: 24px">
${body}
<p style="color: #656d76; font-size: 13px">This invitation expires on {{ expires_at }}. If you did not expect it, you can ignore this email.</p>
<p style="color: #656d76; font-size: 13px; word-break: break-all">If the button does not work, open this link: {{ url }}</p>
</div></body></html>`

const button = (label: string) =>
  `<p><a href="{{ url }}" style="display: inline-block; background: #2f6feb; color: #fff; padding: 10px 18px; border-radius: 6px; text-decoration: none">${label}</a></p>`

export const DEFAULT_TEMPLATES: Record<EmailTemplateSlug, TemplateSource> = {
  invitation: {
    subject: 'You are invited to join {{ app_name }}',
    html: layout(`<h1 style="font-size: 20px">You are invited to join {{ app_name }}</h1>
<p>{{ email_address }} has been invited to create an account on {{ app_name }}.</p>
${button('Accept invitation')}`),
    text: `You are invited to join {{ app_name }}

{{ email_address }} has been invited to create an account on {{ app_name }}.
Accept the invitation: {{ url }}

This invitation expires on {{ expires_at }}. If you did not expect it, you can ignore this email.
`,
  },
  waitlist_invitation: {
    subject: 'Your spot on {{ app_name }} is ready',
    html: layout(`<h1 style="font-size: 20px">You are off the waitlist for {{ app_name }}</h1>
<p>Thanks for waiting. {{ email_address }} can now create an account on {{ app_name }}.</p>
${button('Create your account')}`),
    text: `You are off the waitlist for {{ app_name }}

Thanks for waiting. {{ email_address }} can now create an account on {{ app_name }}.
Create your account: {{ url }}

This invitation expires on {{ expires_at }}. If you did not expect it, you can ignore this email.
`,
  },
  organization_invitation: {
    subject: '{{ inviter_name }} invited you to join {{ organization_name }} on {{ app_name }}',
    html: layout(`<h1 style="font-size: 20px">Join {{ organization_name }} on {{ app_name }}</h1>
<p>{{ inviter_name }} has invited {{ email_address }} to join the organization {{ organization_name }} on {{ app_name }}.</p>
${button('Join organization')}`),
    text: `Join {{ organization_name }} on {{ app_name }}

{{ inviter_name }} has invited {{ email_address }} to join the organization {{ organization_name }} on {{ app_name }}.
Join: {{ url }}

This invitation expires on {{ expires_at }}. If you did not expect it, you can ignore this email.
`,
  },
  invitation_reminder: {
    subject: 'Reminder: your invitation to {{ app_name }} expires soon',
    html: layout(`<h1 style="font-size: 20px">Your invitation to {{ app_name }} expires soon</h1>
<p>{{ email_address }} was invited to create an account on {{ app_name }}, and the invitation is still waiting.</p>
${button('Accept invitation')}`),
    text: `Your invitation to {{ app_name }} expires soon

{{ email_address }} was invited to create an account on {{ app_name }}, and the invitation is still waiting.
Accept the invitation: {{ url }}

This invitation expires on {{ expires_at }}. If you did not expect it, you can ignore this email.
`,
  },
  organization_invitation_reminder: {
    subject: 'Reminder: join {{ organization_name }} on {{ app_name }} before your invitation expires',
    html: layout(`<h1 style="font-size: 20px">Your invitation to {{ organization_name }} expires soon</h1>
<p>{{ inviter_name }} invited {{ email_address }} to join the organization {{ organization_name }} on {{ app_name }}, and the invitation is still waiting.</p>
${button('Join organization')}`),
    text: `Your invitation to {{ organization_name }} expires soon

{{ inviter_name }} invited {{ email_address }} to join the organization {{ organization_name }} on {{ app_name }}, and the invitation is still waiting.
Join: {{ url }}

This invitation expires on {{ expires_at }}. If you did not expect it, you can ignore this email.
`,
  },
  verification_code: {
    subject: '{{ code }} is your {{ app_name }} verification code',
    html: `<!doctype html>
<html><body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1f2328; line-height: 1.5">
<div style="max-width: 560px; margin: 0 auto; padding: 24px">
<h1 style="font-size: 20px">Verify your email address</h1>
<p>Enter this code on {{ app_name }} to finish creating the account for {{ email_address }}:</p>
<p style="font-size: 32px; font-weight: 600; letter-spacing: 6px">{{ code }}</p>
<p style="color: #656d76; font-size: 13px">The code expires on {{ expires_at }}. If you did not try to sign up, you can ignore this email.</p>
</div></body></html>`,
    text: `Verify your email address

Enter this code on {{ app_name }} to finish creating the account for {{ email_address }}:

{{ code }}

The code expires on {{ expires_at }}. If you did not try to sign up, you can ignore this email.
`,
  },
  affiliation_code: {
    subject: '{{ code }} verifies {{ domain }} for {{ organization_name }} on {{ app_name }}',
    html: `<!doctype html>
<html><body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1f2328; line-height: 1.5">
<div style="max-width: 560px; margin: 0 auto; padding: 24px">
<h1 style="font-size: 20px">Verify {{ domain }}</h1>
<p>{{ organization_name }} on {{ app_name }} is verifying that it owns {{ domain }}. Give this code to whoever asked for it:</p>
<p style="font-size: 32px; font-weight: 600; letter-spacing: 6px">{{ code }}</p>
<p style="color: #656d76; font-size: 13px">The code expires on {{ expires_at }}. Once the domain is verified, people who sign up with an address at {{ domain }} may be invited to {{ organization_name }}. If you did not expect this, ignore this email.</p>
</div></body></html>`,
    text: `Verify {{ domain }}

{{ organization_name }} on {{ app_name }} is verifying that it owns {{ domain }}. Give this code to whoever asked for it:

{{ code }}

The code expires on {{ expires_at }}. Once the domain is verified, people who sign up with an address at {{ domain }} may be invited to {{ organization_name }}. If you did not expect this, ignore this email.
`,
  },
}

/** Made-up values a template is rendered with when saved, so that a broken one is refused then rather than when sending. */
export function sampleVariables(slug: EmailTemplateSlug): TemplateVariables {
  const expires = Date.UTC(2030, 0, 31, 12)
  return {
    app_name: 'Sample app',
    email_address: 'someone@example.com',
    url: 'https://foyer.example.com/v1/tickets/accept?ticket=sample',
    expires_at: formatExpiry(expires),
    expires_at_iso: new Date(expires).toISOString(),
    ...(isOrganizationSlug(slug) ? { inviter_name: 'Ada Lovelace', organization_name: 'Sample organization' } : {}),
    ...(slug === 'verification_code' ? { code: '424242' } : {}),
    ...(slug === 'affiliation_code' ? { code: '424242', domain: 'example.com', organization_name: 'Sample organization' } : {}),
  }
}

const expiryFormat = new Intl.DateTimeFormat('en-US', { dateStyle: 'long', timeStyle: 'short', timeZone: 'UTC' })
export const formatExpiry = (ms: number) => `${expiryFormat.format(new Date(ms))} UTC`

// liquidjs rather than eta or handlebars: templates are written by API users, and Liquid was
// made for exactly that (Shopify merchants' templates). It runs no JavaScript from the
// template (eta compiles templates to JS functions), escapes every output in the HTML part
// with outputEscape: 'escape', and bounds parse size, render time and memory. Strict
// variables and filters make a typo an error at save time instead of a blank in someone's
// inbox. These engines run in the template workers (template-renderer.ts), never on the
// thread that answers requests: a render that runs to its limit holds up nobody else.

/**
 * Tags that load another template from the file system. A template is written by whoever
 * holds a secret key, and Foyer's working folder holds the server secret, .env and the
 * database files: these tags are refused when the template is parsed, under any name form
 * (quoted, variable, absolute, ../) and inside {% liquid %} blocks alike.
 */
export const REFUSED_TAGS = ['include', 'render', 'layout'] as const

/** A file system with no files, should a tag ever reach for one anyway. */
export const NO_FILES: FS = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async () => { throw new Error('email templates cannot read files') },
  readFileSync: () => { throw new Error('email templates cannot read files') },
  resolve: (_dir, file) => file,
  contains: async () => false,
  containsSync: () => false,
}

/** Liquid's own render-time limit; the renderer's hard timeout stops whatever it does not bound. */
export const RENDER_LIMIT_MS = 500

const options: LiquidOptions = {
  strictVariables: true,
  strictFilters: true,
  ownPropertyOnly: true,
  parseLimit: 200_000,
  renderLimit: RENDER_LIMIT_MS,
  memoryLimit: 10_000_000,
  fs: NO_FILES,
  root: [],
  partials: [],
  layouts: [],
  relativeReference: false,
}

// Refused while parsing, so that such a template is never saved, previewed or rendered.
const refusing = (name: string) => ({
  parse() {
    throw new Error(`the ${name} tag is not allowed: an email template cannot load other templates or files`)
  },
  render() {},
})

function engine(extra: LiquidOptions): Liquid {
  const liquid = new Liquid({ ...options, ...extra })
  for (const name of REFUSED_TAGS) liquid.registerTag(name, refusing(name))
  return liquid
}

const htmlEngine = engine({ outputEscape: 'escape' })
// Subject and text parts are not HTML: escaping there would show "&amp;" to the reader.
const textEngine = engine({})
const engineFor = (part: TemplatePart) => (part === 'html' ? htmlEngine : textEngine)

/**
 * Liquid statements one part may hold: tags, outputs, filters, and the lines of a
 * `{% liquid %}` tag. Checking which variables a template uses takes time that grows with
 * the square of its statements (liquidjs locates each variable from the start of the
 * source), and Liquid's render limit does not cover it: this keeps a check of the largest
 * allowed part under two tenths of a second. Real emails use a few dozen.
 */
export const MAX_STATEMENTS_PER_PART = 500

export function countStatements(source: string): number {
  const marks = source.match(/\{\{|\{%|\|/g)?.length ?? 0
  const liquidLines = [...source.matchAll(/\{%-?\s*liquid\b([\s\S]*?)-?%\}/g)].reduce((n, m) => n + (m[1]!.match(/\n/g)?.length ?? 0), 0)
  return marks + liquidLines
}

function parseChecked(part: TemplatePart, source: string): Template[] {
  const statements = countStatements(source)
  if (statements > MAX_STATEMENTS_PER_PART) {
    throw new Error(`it has ${statements} Liquid statements (tags, outputs, filters); a part may have at most ${MAX_STATEMENTS_PER_PART}`)
  }
  return engineFor(part).parse(source)
}

// Parsed templates by part and source, for sending: overrides change rarely and are rendered
// for every email. Bounded by the length of the sources kept, so that many large templates
// cannot fill the worker's heap; templates only checked (saves, previews) are not kept.
const parsed = new Map<string, { templates: Template[]; size: number }>()
const PARSED_MAX_CHARS = 4_000_000
let parsedChars = 0

function parse(part: TemplatePart, source: string): Template[] {
  const key = `${part}\0${source}`
  const hit = parsed.get(key)
  if (hit) return hit.templates
  const templates = parseChecked(part, source)
  parsed.set(key, { templates, size: key.length })
  parsedChars += key.length
  for (const [oldest, entry] of parsed) {
    if (parsedChars <= PARSED_MAX_CHARS) break
    parsed.delete(oldest)
    parsedChars -= entry.size
  }
  return templates
}

/** CR and LF end a header line: a subject carrying them could add headers of its own. */
export const oneLine = (value: string) => value.replace(/[\r\n]+/g, ' ').replace(/\s+/g, ' ').trim()

/** A part of a template that does not parse or render, and why. */
export class TemplateRenderError extends Error {
  constructor(readonly part: TemplatePart, readonly reason: string) {
    super(`The ${part} template cannot be rendered: ${reason}`)
  }
}

const reasonOf = (err: unknown) => (err instanceof Error ? err.message : String(err))

/** Renders all three parts; throws TemplateRenderError naming the first part that fails. */
export async function renderNow(source: TemplateSource, variables: TemplateVariables): Promise<RenderedEmail> {
  const out: Partial<RenderedEmail> = {}
  for (const part of TEMPLATE_PARTS) {
    try {
      out[part] = String(await engineFor(part).render(parse(part, source[part]), variables))
    } catch (err) {
      throw new TemplateRenderError(part, reasonOf(err))
    }
  }
  return { subject: oneLine(out.subject!), html: out.html!, text: out.text! }
}

/** The variables a template may use: those its emails are sent with. */
export const providedVariables = (slug: EmailTemplateSlug) => Object.keys(sampleVariables(slug))

/**
 * Why one part of a template cannot be used, or null when it can: it must parse, use only
 * the variables its slug provides in every branch (whether or not the sample data takes
 * that branch), and render with sample data.
 */
export async function checkPartNow(slug: EmailTemplateSlug, part: TemplatePart, source: string): Promise<string | null> {
  try {
    const templates = parseChecked(part, source)
    const provided = new Set(providedVariables(slug))
    // Names the template declares itself (assign, capture, for, increment…) are not global.
    const unknown = engineFor(part).globalVariablesSync(templates, { partials: false }).filter((name) => !provided.has(name))
    if (unknown.length > 0) {
      return `it uses ${unknown.map((n) => `"${n}"`).join(', ')}, which the ${slug} template does not provide (it provides ${[...provided].join(', ')})`
    }
    const out = String(await engineFor(part).render(templates, sampleVariables(slug)))
    if (part === 'subject' && oneLine(out) === '') return 'renders to an empty subject'
    return null
  } catch (err) {
    return reasonOf(err)
  }
}
