import { it } from 'node:test'
import assert from 'node:assert/strict'
import type { Queryable } from '../../src/platform/db/db.js'
import { openTestDb, postgresUrl } from '../helpers/databases.js'

/** A promise and its resolver, for making two transactions meet. */
function signal() {
  let fire!: () => void
  const fired = new Promise<void>((resolve) => { fire = resolve })
  return { fire, fired }
}

it('db.transaction on PostgreSQL runs again the transaction picked to break a deadlock, and both go through', { skip: postgresUrl ? false : 'TEST_DATABASE_URL is not set' }, async () => {
  const { db, drop } = await openTestDb('postgres')
  try {
    await db.exec(`create table deadlock_rows (id int primary key, n int not null); insert into deadlock_rows values (1, 0), (2, 0);`)
    const holdsFirst = signal()
    const holdsSecond = signal()
    const runs = { a: 0, b: 0 }
    const bump = (tx: Queryable, id: number) => tx.query('update deadlock_rows set n = n + 1 where id = $1', [id])
    // Each takes one row, waits until the other holds its row, then asks for it: a deadlock.
    const a = db.transaction(async (tx) => {
      runs.a++
      await bump(tx, 1)
      holdsFirst.fire()
      await holdsSecond.fired
      await bump(tx, 2)
    })
    const b = db.transaction(async (tx) => {
      runs.b++
      await bump(tx, 2)
      holdsSecond.fire()
      await holdsFirst.fired
      await bump(tx, 1)
    })
    await Promise.all([a, b])
    // One of the two ran again; under load its retry can meet the survivor once more, which the
    // retry's pause makes rare but not impossible.
    assert.ok(runs.a + runs.b >= 3, 'one of the two ran again')
    const rows = await db.query<{ id: number; n: number }>('select id, n from deadlock_rows order by id')
    assert.deepEqual(rows, [{ id: 1, n: 2 }, { id: 2, n: 2 }], 'each committed once')
  } finally {
    await drop()
  }
})
