import { parentPort } from 'node:worker_threads'
import { checkPartNow, renderNow, TemplateRenderError, type EmailTemplateSlug, type TemplatePart, type TemplateSource, type TemplateVariables } from './email.templates.js'

/** One job from the renderer (template-renderer.ts); a worker runs one at a time. */
export type TemplateJob =
  | { id: number; op: 'render'; source: TemplateSource; variables: TemplateVariables }
  | { id: number; op: 'check'; slug: EmailTemplateSlug; part: TemplatePart; source: string }

export type TemplateJobAnswer =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; part: TemplatePart | null; reason: string }

const port = parentPort
if (port) {
  port.on('message', async (job: TemplateJob) => {
    try {
      const value = job.op === 'render' ? await renderNow(job.source, job.variables) : await checkPartNow(job.slug, job.part, job.source)
      port.postMessage({ id: job.id, ok: true, value } satisfies TemplateJobAnswer)
    } catch (err) {
      port.postMessage({
        id: job.id, ok: false, part: err instanceof TemplateRenderError ? err.part : null,
        reason: err instanceof TemplateRenderError ? err.reason : err instanceof Error ? err.message : String(err),
      } satisfies TemplateJobAnswer)
    }
  })
  port.postMessage({ ready: true })
}
