import type { Db } from '../db/db.js'
import type { Clock } from '../clock.js'
import type { OutboxRow, OutboxStore } from './outbox.store.js'

/**
 * Thrown by a handler for an item that would fail the same way on every attempt: the item is
 * marked failed at once, with this message, instead of being retried.
 */
export class PermanentFailure extends Error {}

/** Delivers one item; resolves with what the far side answered, throws to have it retried (or PermanentFailure not to). */
export type OutboxHandler = (item: OutboxRow) => Promise<unknown>

export interface OutboxKind {
  deliver: OutboxHandler
  /** Delays before the 2nd, 3rd, … attempt; after the last one the item is marked failed. */
  retryDelaysMs: readonly number[]
}

export interface OutboxWorkerOptions {
  db: Db
  store: OutboxStore
  /** Wall time: delivery schedules are real time, whatever an instance's test clock says. */
  clock: Clock
  /** What to do with each kind of item; a worker claims only the kinds it has here. */
  kinds: Record<string, OutboxKind>
  /** How long a claim lasts; a process that dies holding items gives them up after this. */
  leaseMs?: number
  batchSize?: number
  /** Items delivered at once within a batch (a slow receiver must not hold up the rest). */
  concurrency?: number
  /** How often to look for due items when nothing wakes the worker. */
  pollMs?: number
  random?: () => number
  onError?: (err: unknown, item?: OutboxRow) => void
  /** Told how each attempt ended: delivered, to be tried again, or failed for good. */
  onAttempt?: (kind: string, outcome: DeliveryOutcome) => void
}

export type DeliveryOutcome = 'delivered' | 'retry' | 'failed'

const MAX_ERROR_LENGTH = 1000
const POKE_DELAY_MS = 50

/**
 * Full jitter around an exponential schedule: the delay is drawn from [d/2, d], so that items
 * failing together (a receiver that went down) do not all come back in the same instant.
 */
export const withJitter = (delayMs: number, random: () => number) => Math.round(delayMs / 2 + random() * (delayMs / 2))

/**
 * Delivers outbox items after their transaction committed: at least once, each with its
 * stable id, retried on the given schedule and then kept as 'failed'. Several processes on
 * one database share the work; none delivers an item another holds a live claim on.
 */
export function createOutboxWorker(options: OutboxWorkerOptions) {
  const { db, store, clock } = options
  const leaseMs = options.leaseMs ?? 60_000
  const batchSize = options.batchSize ?? 50
  const concurrency = options.concurrency ?? 10
  const pollMs = options.pollMs ?? 1000
  const random = options.random ?? Math.random
  const onError = options.onError ?? (() => {})
  const onAttempt = options.onAttempt ?? (() => {})
  const kindNames = Object.keys(options.kinds)

  let running = false
  let stopping = false
  let poked = false
  let pokeTimer: NodeJS.Timeout | undefined
  let timer: NodeJS.Timeout | undefined
  let wake: (() => void) | undefined
  let loop: Promise<void> | undefined
  // Items claimed by this process and not yet started: released on shutdown.
  const waiting = new Map<string, number>()

  /** Delivers one item; a delivered one joins `done`, to be marked with the rest of its batch. */
  async function deliver(item: OutboxRow, done: { id: string; claimedUntil: number; result: unknown }[]): Promise<void> {
    const lease = item.claimed_until!
    waiting.delete(item.id)
    try {
      const result = await options.kinds[item.kind]!.deliver(item)
      done.push({ id: item.id, claimedUntil: lease, result })
      onAttempt(item.kind, 'delivered')
    } catch (err) {
      const delay = err instanceof PermanentFailure ? undefined : options.kinds[item.kind]!.retryDelaysMs[item.attempts - 1]
      const next = delay === undefined ? null : clock.now() + withJitter(delay, random)
      onAttempt(item.kind, next === null ? 'failed' : 'retry')
      const message = (err instanceof Error ? err.message : String(err)).slice(0, MAX_ERROR_LENGTH)
      await store.markFailed(db, item.id, lease, clock.now(), message, next).catch((e) => onError(e, item))
    }
  }

  /** Claims and delivers one batch; resolves with how many items it claimed. */
  async function runOnce(): Promise<number> {
    if (kindNames.length === 0) return 0
    const now = clock.now()
    const items = await store.claim(db, kindNames, now, now + leaseMs, batchSize)
    for (const item of items) waiting.set(item.id, item.claimed_until!)
    const queue = [...items]
    // Marked in one statement when the batch ends; a crash before that re-delivers them,
    // which at-least-once allows.
    const done: { id: string; claimedUntil: number; result: unknown }[] = []
    // Once stopping, each lane finishes its current item and takes no more; stop() hands
    // the rest back.
    const lanes = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let item = queue.shift(); item; item = stopping ? undefined : queue.shift()) {
        await deliver(item, done).catch((err) => onError(err, item))
      }
    })
    await Promise.all(lanes)
    await store.markDelivered(db, done, clock.now())
    return items.length
  }

  async function run(): Promise<void> {
    while (running) {
      let claimed = 0
      poked = false
      try {
        claimed = await runOnce()
      } catch (err) {
        onError(err)
      }
      // A full batch means there is probably more, and a poke during the batch means new
      // items arrived: go again at once.
      if (claimed === batchSize || poked || !running) continue
      await new Promise<void>((resolve) => {
        wake = resolve
        timer = setTimeout(resolve, pollMs)
      })
      clearTimeout(timer)
      wake = undefined
    }
  }

  return {
    start() {
      if (running) return
      running = true
      stopping = false
      loop = run()
    },

    /** Looks for due items now rather than at the next poll (called after a commit queues some). */
    poke() {
      poked = true
      // Writes come in bursts: waking on each would deliver them one by one, in many small
      // claims that compete with the writes themselves. A short pause gathers a batch.
      if (wake && !pokeTimer) {
        pokeTimer = setTimeout(() => {
          pokeTimer = undefined
          wake?.()
        }, POKE_DELAY_MS)
      }
    },

    /**
     * Stops claiming, lets items already being delivered finish, and hands back the ones
     * claimed but not started, so another process (or the next start) delivers them at once.
     */
    async stop(): Promise<void> {
      stopping = true
      running = false
      clearTimeout(pokeTimer)
      pokeTimer = undefined
      wake?.()
      await loop
      const leases = new Map<number, string[]>()
      for (const [id, lease] of waiting) leases.set(lease, [...(leases.get(lease) ?? []), id])
      for (const [lease, ids] of leases) await store.release(db, ids, lease, clock.now()).catch((err) => onError(err))
      waiting.clear()
    },

    /** Delivers everything due now, batch after batch (tests and one-off drains). */
    async drain(): Promise<number> {
      const wasRunning = running
      running = true
      let total = 0
      try {
        for (let n = await runOnce(); n > 0; n = await runOnce()) total += n
      } finally {
        running = wasRunning
      }
      return total
    },
  }
}

export type OutboxWorker = ReturnType<typeof createOutboxWorker>
