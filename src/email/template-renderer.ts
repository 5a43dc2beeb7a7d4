import { Worker } from 'node:worker_threads'
import {
  TEMPLATE_PARTS, TemplateRenderError,
  type EmailTemplateSlug, type RenderedEmail, type TemplatePart, type TemplateSource, type TemplateVariables,
} from './email.templates.js'
import type { TemplateJob, TemplateJobAnswer } from './template.worker.js'

// Compiled side by side (dist/src/email/), so the worker is found from this module's own URL.
const WORKER_URL = new URL('./template.worker.js', import.meta.url)

export interface TemplateRendererOptions {
  /** Workers at most; each is started when first needed. */
  workers?: number
  /** Checks (saves and previews) one key may have waiting; more are refused with RendererBusyError. */
  maxQueuedChecksPerKey?: number
  /** A job still running after this is stopped with its worker, which is replaced. */
  timeoutMs?: number
}

type JobInput = TemplateJob extends infer J ? J extends TemplateJob ? Omit<J, 'id'> : never : never

interface Job {
  id: number
  /** Whose template this is (an instance id): jobs of one key run one at a time. */
  key: string
  input: JobInput
  resolve: (value: unknown) => void
  reject: (err: Error) => void
}

/** Too many checks of one key wait already; the caller answers 429. */
export class RendererBusyError extends Error {
  constructor() {
    super('too many template checks are waiting for this instance')
  }
}

interface Slot {
  worker: Worker
  ready: boolean
  job: Job | null
  timer?: NodeJS.Timeout
}

/**
 * Renders email templates on a few worker threads, never on the thread that answers requests:
 * Liquid renders synchronously until its own time limit, so a hostile template rendered here
 * would hold up every request of every instance for that long. A job still running after
 * `timeoutMs` has its worker terminated and replaced. Idle workers do not keep the process
 * alive; `close()` stops them all.
 *
 * Fairness: each key (instance) has a queue of its own and at most one job running, and
 * idle workers take the next job from the keys in turn. So one instance saving slow
 * templates, or sending many emails with a slow one, holds at most one worker: the other
 * instances' emails wait for no more than one job per busy instance. Its waiting checks are
 * capped as well, so it cannot queue work without bound.
 */
export function createTemplateRenderer(options: TemplateRendererOptions = {}) {
  const maxWorkers = options.workers ?? 2
  const timeoutMs = options.timeoutMs ?? 2000
  const maxQueuedChecks = options.maxQueuedChecksPerKey ?? 8
  const slots: Slot[] = []
  // Waiting jobs by key, in the order keys are served; a key leaves when its queue empties.
  const queues = new Map<string, Job[]>()
  const running = new Set<string>()
  let nextId = 1
  let closed = false

  function spawn(): void {
    // The heap cap makes a template that builds huge strings kill its own worker, not the process.
    const worker = new Worker(WORKER_URL, { resourceLimits: { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 32 } })
    const slot: Slot = { worker, ready: false, job: null }
    slots.push(slot)
    worker.on('message', (message: TemplateJobAnswer | { ready: true }) => {
      if ('ready' in message) {
        slot.ready = true
        dispatch()
        if (!slot.job) slot.worker.unref()
        return
      }
      const job = slot.job
      if (!job || job.id !== message.id) return
      release(slot)
      if (message.ok) job.resolve(message.value)
      else job.reject(message.part ? new TemplateRenderError(message.part, message.reason) : new Error(message.reason))
      dispatch()
    })
    worker.on('error', (err: Error & { code?: string }) => {
      const wasReady = slot.ready
      retire(slot, (job) => err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? templateFault(job, 'it uses too much memory') : new Error(`the template worker failed: ${err.message}`))
      // A worker that cannot even start would be replaced forever: fail what waits instead.
      if (!wasReady) for (const job of takeAll()) job.reject(new Error(`the template worker did not start: ${err.message}`))
    })
    worker.on('exit', () => retire(slot, () => new Error('the template worker stopped')))
  }

  /** The part a check is about is at fault; a send-time render that is stopped is retried later. */
  const templateFault = (job: Job, reason: string): Error =>
    job.input.op === 'check' ? new TemplateRenderError(job.input.part, reason) : new Error(`rendering stopped: ${reason}`)

  function release(slot: Slot): void {
    clearTimeout(slot.timer)
    if (slot.job) running.delete(slot.job.key)
    slot.job = null
    slot.worker.unref()
  }

  function takeAll(): Job[] {
    const jobs = [...queues.values()].flat()
    queues.clear()
    return jobs
  }

  /** The next job of the first key in turn with nothing running; that key goes to the back. */
  function takeNext(): Job | null {
    for (const [key, jobs] of queues) {
      if (running.has(key)) continue
      const job = jobs.shift()!
      queues.delete(key)
      if (jobs.length > 0) queues.set(key, jobs)
      return job
    }
    return null
  }

  /** Takes a worker out of the pool, failing its job; it is replaced when work next needs it. */
  function retire(slot: Slot, error: (job: Job) => Error): void {
    const index = slots.indexOf(slot)
    if (index < 0) return
    slots.splice(index, 1)
    const job = slot.job
    release(slot)
    void slot.worker.terminate()
    if (job) job.reject(error(job))
    dispatch()
  }

  function dispatch(): void {
    if (closed) return
    for (const slot of slots) {
      if (!slot.ready || slot.job) continue
      const job = takeNext()
      if (!job) break
      slot.job = job
      running.add(job.key)
      slot.worker.ref()
      slot.timer = setTimeout(() => retire(slot, (j) => templateFault(j, 'it takes too long to render')), timeoutMs)
      slot.worker.postMessage({ ...job.input, id: job.id })
    }
    const starting = slots.filter((s) => !s.ready).length
    const runnable = [...queues.keys()].filter((key) => !running.has(key)).length
    if (runnable > starting && slots.length < maxWorkers) spawn()
  }

  function run<T>(key: string, input: JobInput): Promise<T> {
    if (closed) return Promise.reject(new Error('the template renderer is closed'))
    const jobs = queues.get(key) ?? []
    if (input.op === 'check' && jobs.filter((j) => j.input.op === 'check').length >= maxQueuedChecks) return Promise.reject(new RendererBusyError())
    return new Promise<T>((resolve, reject) => {
      jobs.push({ id: nextId++, key, input, resolve: resolve as (value: unknown) => void, reject })
      queues.set(key, jobs)
      dispatch()
    })
  }

  return {
    /**
     * All three parts rendered with `variables`. Throws TemplateRenderError naming the part
     * when the template itself fails (it will fail again); any other error is the renderer's
     * (a stopped or crashed worker, a shutdown) and may not happen again.
     */
    render: (key: string, source: TemplateSource, variables: TemplateVariables) => run<RenderedEmail>(key, { op: 'render', source, variables }),

    /**
     * The first given part that cannot be used, with why (see checkPartNow); null when all can.
     * Throws RendererBusyError when `key` already has too many checks waiting.
     */
    async check(key: string, slug: EmailTemplateSlug, source: Partial<TemplateSource>): Promise<{ part: TemplatePart; reason: string } | null> {
      for (const part of TEMPLATE_PARTS) {
        const value = source[part]
        if (value === undefined) continue
        try {
          const reason = await run<string | null>(key, { op: 'check', slug, part, source: value })
          if (reason !== null) return { part, reason }
        } catch (err) {
          if (err instanceof TemplateRenderError) return { part, reason: err.reason }
          throw err
        }
      }
      return null
    },

    /** Fails what is queued or running and stops every worker. */
    async close(): Promise<void> {
      closed = true
      for (const job of takeAll()) job.reject(new Error('the template renderer is closed'))
      const stopping = slots.splice(0).map((slot) => {
        const job = slot.job
        release(slot)
        job?.reject(new Error('the template renderer is closed'))
        return slot.worker.terminate()
      })
      await Promise.all(stopping)
    },
  }
}

export type TemplateRenderer = ReturnType<typeof createTemplateRenderer>
