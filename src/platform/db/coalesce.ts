/**
 * Writes that arrive while others are under way go together in the next: one statement and one
 * commit for many requests under load, and no wait at all without one. Up to `writers` writes
 * run at once, so one slow statement holds up only the items in it, not every item queued
 * behind it. Each caller's promise settles when the statement holding its item has committed,
 * so a caller that goes on after it (a redirect carrying a nonce, say) knows its row is there,
 * as with a write of its own.
 */
export function coalesced<T>(write: (items: T[]) => Promise<void>, maxBatch: number, writers = 1): (item: T) => Promise<void> {
  let queued: { item: T; done: (err?: unknown) => void }[] = []
  let writing = 0

  async function drain(): Promise<void> {
    writing++
    while (queued.length > 0) {
      const batch = queued.slice(0, maxBatch)
      queued = queued.slice(batch.length)
      try {
        await write(batch.map((q) => q.item))
        for (const q of batch) q.done()
      } catch (err) {
        // One item's fault (its instance deleted meanwhile, say) must not fail the others':
        // each goes again alone, and only a failure of its own reaches its caller.
        if (batch.length === 1) batch[0]!.done(err ?? new Error('the write failed'))
        else await Promise.all(batch.map((q) => write([q.item]).then(() => q.done(), (e: unknown) => q.done(e ?? new Error('the write failed')))))
      }
    }
    writing--
  }

  return (item) => new Promise<void>((resolve, reject) => {
    queued.push({ item, done: (err?: unknown) => (err === undefined ? resolve() : reject(err)) })
    if (writing < writers) void drain()
  })
}
