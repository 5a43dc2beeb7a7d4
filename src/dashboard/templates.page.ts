import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import { ApiError } from '../platform/errors.js'
import { enforceLimit } from '../platform/rate-limit.js'
import type { Instance } from '../instance/instance.schemas.js'
import type { EmailTemplate } from '../email/email.schemas.js'
import {
  DEFAULT_TEMPLATES, sampleVariables, TEMPLATE_PARTS,
  type EmailTemplateSlug, type RenderedEmail, type TemplateSource,
} from '../email/email.templates.js'
import { DASHBOARD_CSP } from './dashboard.assets.js'
import type { DashboardContext, DashboardSection } from './dashboard.context.js'
import type { FormError } from './dashboard.views.js'
import { templateEditorBody, templatesListBody, templatesPath } from './templates.views.js'

// The preview's srcdoc frame inherits the page's CSP, and emails are styled inline, so the
// editor's answers (only these) allow inline style and images from https/data. Scripts stay
// refused twice over: by script-src 'self' and by the frame's sandbox.
// The script fetches the preview as it is typed, from this origin only (connect-src).
export const PREVIEW_CSP = DASHBOARD_CSP
  .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
  .replace("img-src 'self'", "img-src 'self' data: https:")
  .replace("default-src 'none'", "default-src 'none'; connect-src 'self'")

// Saves and previews render the template, on workers every instance shares. The live preview
// asks as the operator types (after a quarter-second pause), hence more than the API's 60.
export const TEMPLATE_EDITS_PER_MINUTE = 120

const NOTICES: Record<string, string> = {
  saved: 'The template was saved; new emails use it.',
  reset: 'The template was reset; Foyer\'s built-in template is used again.',
}

type Query = Record<string, string | undefined>

const sourceOf = (t: EmailTemplate): TemplateSource => ({ subject: t.subject, html: t.html, text: t.text })

/** The three parts as typed; a part left out of the body keeps what was there. */
function typedSource(body: unknown, current: TemplateSource): TemplateSource {
  const b = (body ?? {}) as Record<string, unknown>
  const part = (name: keyof TemplateSource) => (typeof b[name] === 'string' ? (b[name] as string).replace(/\r\n/g, '\n') : current[name])
  return { subject: part('subject'), html: part('html'), text: part('text') }
}

function refusal(err: unknown): FormError & { status: number } {
  if (!(err instanceof ApiError) || err.status >= 500 || err.status === 429) throw err
  const param = typeof err.meta.param_name === 'string' ? err.meta.param_name : undefined
  return { status: err.status, message: err.longMessage, ...(param ? { param } : {}) }
}

/**
 * The instance's email templates: the list, and an editor per template with a preview
 * rendered with sample data in a sandboxed frame, save (refused inline when the template does
 * not render) and reset to the built-in one. Everything goes through the email service.
 */
export const templatesSection: DashboardSection = {
  key: 'templates',
  label: 'Email templates',
  path: 'templates',
  routes: (ctx: DashboardContext) => async (app: FastifyInstance) => {
    const { email } = ctx.deps.services
    const { redis } = ctx.deps
    await app.register(rateLimit, { global: false, skipOnError: true, ...(redis ? { redis, nameSpace: 'foyer-rl:' } : {}) })
    const limit = app.createRateLimit({
      timeWindow: 60_000,
      max: TEMPLATE_EDITS_PER_MINUTE,
      keyGenerator: (req) => `dashboard-template-edits:${req.instance.id}`,
    })

    /** Counts a save or preview against the instance's budget; 429 with Retry-After past it. */
    const limited = (req: FastifyRequest) => enforceLimit(limit, req, (max, seconds) =>
      `Templates of this instance were saved or previewed ${max} times in the last minute, the most allowed. Wait ${seconds} seconds, then try again.`)

    async function preview(req: FastifyRequest, slug: EmailTemplateSlug, source: TemplateSource): Promise<{ rendered: RenderedEmail | null; broken: FormError | null }> {
      const result = await email.previewTemplate(req.instance, slug, source)
      if ('rendered' in result) return { rendered: result.rendered, broken: null }
      return { rendered: null, broken: refusal(result.refusal) }
    }

    async function editor(req: FastifyRequest, reply: FastifyReply, p: { template: EmailTemplate; source: TemplateSource; unsaved: boolean; error: FormError | null; status?: number }) {
      const instance: Instance = req.instance
      const slug = p.template.slug as EmailTemplateSlug
      const { rendered, broken } = await preview(req, slug, p.source)
      reply.header('content-security-policy', PREVIEW_CSP)
      return ctx.render(req, reply, {
        status: p.status ?? (broken && p.unsaved ? 422 : 200), title: `Email template: ${slug}`, section: 'templates',
        body: templateEditorBody({
          instance, csrf: ctx.csrf(reply), template: p.template, source: p.source, preview: rendered, unsaved: p.unsaved,
          variables: sampleVariables(slug) as unknown as Record<string, string>, error: p.error ?? broken,
          notice: p.unsaved ? null : NOTICES[(req.query as Query).notice ?? ''] ?? null,
        }),
      })
    }

    const slugOf = (req: FastifyRequest) => (req.params as { slug: string }).slug

    app.get('/templates', { schema: { hide: true } }, async (req, reply) => {
      const templates = await email.listTemplates(req.instance)
      return ctx.render(req, reply, {
        title: 'Email templates', section: 'templates',
        body: templatesListBody({ instance: req.instance, templates, notice: NOTICES[(req.query as Query).notice ?? ''] ?? null }),
      })
    })

    app.get('/templates/:slug', { schema: { hide: true } }, async (req, reply) => {
      const template = await email.getTemplate(req.instance, slugOf(req))
      return editor(req, reply, { template, source: sourceOf(template), unsaved: false, error: null })
    })

    // What was typed, rendered as it is typed (the editor's script asks as the operator types):
    // the parts as JSON, or the reason the template does not render.
    app.post('/templates/:slug/preview.json', { schema: { hide: true } }, async (req, reply) => {
      const template = await email.getTemplate(req.instance, slugOf(req))
      let result: Awaited<ReturnType<typeof preview>>
      try {
        await limited(req)
        result = await preview(req, template.slug as EmailTemplateSlug, typedSource(req.body, sourceOf(template)))
      } catch (err) {
        // The live preview shows the message (past the budget, or too many checks waiting) where the preview would be.
        if (!(err instanceof ApiError)) throw err
        return reply.code(err.status).headers(err.headers).send({ error: { message: err.longMessage } })
      }
      const { rendered, broken } = result
      if (!rendered) return reply.code(422).send({ error: broken })
      return { subject: rendered.subject, html: rendered.html, text: rendered.text }
    })

    // Renders what was typed without saving it (the Preview button, and pages without script).
    app.post('/templates/:slug/preview', { schema: { hide: true } }, async (req, reply) => {
      const template = await email.getTemplate(req.instance, slugOf(req))
      await limited(req)
      return editor(req, reply, { template, source: typedSource(req.body, sourceOf(template)), unsaved: true, error: null })
    })

    app.post('/templates/:slug', { schema: { hide: true } }, async (req, reply) => {
      const instance = req.instance
      const template = await email.getTemplate(instance, slugOf(req))
      const slug = template.slug as EmailTemplateSlug
      await limited(req)
      const source = typedSource(req.body, sourceOf(template))
      // A part the same as the built-in one is saved as "built-in", so it follows Foyer's changes.
      const body = Object.fromEntries(TEMPLATE_PARTS.map((part) => [part, source[part] === DEFAULT_TEMPLATES[slug][part] ? null : source[part]]))
      try {
        await email.putTemplate(instance, slug, body)
      } catch (err) {
        const error = refusal(err)
        return editor(req, reply, { template, source, unsaved: true, error, status: error.status })
      }
      return reply.redirect(`${templatesPath(instance, `/${slug}`)}?notice=saved`, 303)
    })

    app.post('/templates/:slug/reset', { schema: { hide: true } }, async (req, reply) => {
      const reset = await email.resetTemplate(req.instance, slugOf(req))
      return reply.redirect(`${templatesPath(req.instance, `/${reset.slug}`)}?notice=reset`, 303)
    })
  },
}
