import type { Queryable } from '../platform/db/db.js'
import { DAY_MS } from '../platform/clock.js'

export const OVERVIEW_DAYS = 30

/** One UTC day of an instance's invitations. */
export interface OverviewDay {
  /** Midnight UTC that starts the day, in ms. */
  day: number
  /** Invitations created that day. */
  created: number
  /** Of those created that day, how many are accepted by now. */
  createdAccepted: number
  /** Accepted that day (when they were accepted, whenever they were created). */
  accepted: number
  /** Revoked that day. */
  revoked: number
  /** Pending invitations whose expiry passed that day (up to now). */
  expired: number
}

// One statement, one pass per event kind: an invitation is created on the day of created_at;
// accepted or revoked on the day of updated_at (the status change is its last write); expired
// on the day of expires_at when it is still pending and that time has passed. Each branch is
// bounded by instance and time so that the (instance_id, created_at) and (instance_id,
// expires_at) indexes serve it. Days are counted from `start` in whole UTC days; "now" comes
// from the caller's clock (test clocks included), never from the database.
const PER_DAY = `
  select day::int as day,
         count(*) filter (where kind = 'created')::int as created,
         count(*) filter (where kind = 'created' and accepted)::int as created_accepted,
         count(*) filter (where kind = 'accepted')::int as accepted,
         count(*) filter (where kind = 'revoked')::int as revoked,
         count(*) filter (where kind = 'expired')::int as expired
  from (
    select (created_at - $2::bigint) / ${DAY_MS} as day, 'created' as kind, status = 'accepted' as accepted
      from invitations where instance_id = $1 and created_at >= $2::bigint and created_at <= $3::bigint
    union all
    select (updated_at - $2::bigint) / ${DAY_MS}, status, false
      from invitations where instance_id = $1 and status in ('accepted', 'revoked') and updated_at >= $2::bigint and updated_at <= $3::bigint
    union all
    select (expires_at - $2::bigint) / ${DAY_MS}, 'expired', false
      from invitations where instance_id = $1 and status = 'pending' and expires_at >= $2::bigint and expires_at <= $3::bigint
  ) events
  group by day
  order by day`

/** Midnight UTC of the first of the `days` days that end with today (the day of `now`). */
export const windowStart = (now: number, days = OVERVIEW_DAYS) => Math.floor(now / DAY_MS) * DAY_MS - (days - 1) * DAY_MS

export function createOverviewStore() {
  return {
    /** The last `days` UTC days up to `now`, oldest first, every day present (zeros included). */
    async perDay(q: Queryable, instanceId: string, now: number, days = OVERVIEW_DAYS): Promise<OverviewDay[]> {
      const start = windowStart(now, days)
      const rows = await q.query<{ day: number; created: number; created_accepted: number; accepted: number; revoked: number; expired: number }>(
        PER_DAY, [instanceId, start, now])
      const byDay = new Map(rows.map((r) => [Number(r.day), r]))
      return Array.from({ length: days }, (_, i) => {
        const r = byDay.get(i)
        return {
          day: start + i * DAY_MS,
          created: Number(r?.created ?? 0),
          createdAccepted: Number(r?.created_accepted ?? 0),
          accepted: Number(r?.accepted ?? 0),
          revoked: Number(r?.revoked ?? 0),
          expired: Number(r?.expired ?? 0),
        }
      })
    },
  }
}
