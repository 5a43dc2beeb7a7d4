/**
 * All expiry logic reads time from here. An instance's clock may run ahead of the wall
 * clock by its test-clock offset, which only the test clock (FOYER_TESTING=1) can set.
 */
export interface Clock {
  now(instance?: { clockOffsetMs: number }): number
}

export function systemClock(): Clock {
  return { now: (instance) => Date.now() + (instance?.clockOffsetMs ?? 0) }
}

/** A clock that moves only when told: tests use it so that no test waits on a real timer. */
export function manualClock(start = Date.UTC(2026, 0, 1)): Clock & { advance(ms: number): void } {
  let t = start
  return {
    now: (instance) => t + (instance?.clockOffsetMs ?? 0),
    advance: (ms) => {
      t += ms
    },
  }
}

export const DAY_MS = 24 * 60 * 60 * 1000
