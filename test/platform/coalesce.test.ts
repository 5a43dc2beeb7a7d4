import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { coalesced } from '../../src/platform/db/coalesce.js'

/** A write that records its batches and finishes when the test says so. */
function heldWrite(fail: (item: number) => boolean = () => false) {
  const batches: number[][] = []
  const release: (() => void)[] = []
  const write = (items: number[]) => new Promise<void>((resolve, reject) => {
    batches.push([...items])
    release.push(() => (items.some(fail) ? reject(new Error(`failed: ${items.join(',')}`)) : resolve()))
  })
  return { batches, write, releaseAll: () => release.splice(0).forEach((r) => r()) }
}

const settled = () => new Promise((resolve) => setImmediate(resolve))

describe('coalesced writes', () => {
  // @see issue 13
  it('writes at once without a queue, and gathers what comes meanwhile into the next write', async () => {
    const w = heldWrite()
    const write = coalesced(w.write, 3)
    const first = write(1)
    await settled()
    assert.deepEqual(w.batches, [[1]], 'nothing waits when nothing is under way')
    const rest = [2, 3, 4, 5].map((n) => write(n))
    await settled()
    assert.deepEqual(w.batches, [[1]], 'one write at a time')
    let firstDone = false
    void first.then(() => { firstDone = true })
    w.releaseAll()
    await settled()
    assert.ok(firstDone, 'a caller goes on once its own write has finished')
    assert.deepEqual(w.batches, [[1], [2, 3, 4]], 'at most maxBatch items a write')
    w.releaseAll()
    await settled()
    assert.deepEqual(w.batches, [[1], [2, 3, 4], [5]])
    w.releaseAll()
    await Promise.all(rest)
  })

  // @see issue 13
  it('runs up to `writers` writes at once, so a slow one holds up only its own items', async () => {
    const w = heldWrite()
    const write = coalesced(w.write, 10, 2)
    const first = write(1)
    const second = write(2)
    await settled()
    assert.deepEqual(w.batches, [[1], [2]], 'a second writer starts while the first is under way')
    const rest = [3, 4, 5].map((n) => write(n))
    await settled()
    assert.deepEqual(w.batches, [[1], [2]], 'no more than two at once')
    w.releaseAll()
    await Promise.all([first, second])
    await settled()
    assert.deepEqual(w.batches, [[1], [2], [3, 4, 5]], 'what queued meanwhile goes together in the next write')
    w.releaseAll()
    await Promise.all(rest)
  })

  // @see issue 13
  it('fails only the caller whose item fails, after trying each item of a failed batch alone', async () => {
    const w = heldWrite((n) => n === 3)
    const write = coalesced(w.write, 10)
    const first = write(1)
    const outcomes = [2, 3, 4].map((n) => write(n).then(() => 'ok', (err: Error) => err.message))
    w.releaseAll()
    await first
    await settled()
    w.releaseAll()
    await settled()
    w.releaseAll()
    assert.deepEqual(await Promise.all(outcomes), ['ok', 'failed: 3', 'ok'])
    assert.deepEqual(w.batches, [[1], [2, 3, 4], [2], [3], [4]])
  })
})
