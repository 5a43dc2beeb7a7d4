import cliProgress from 'cli-progress'

/** How an import shows where it is: rows done, rows per second, ETA, and any wait for a rate limit. */
export interface Progress {
  start(total: number): void
  update(done: number): void
  /** A 429's Retry-After: a countdown on a terminal, one line otherwise. */
  waiting(seconds: number): void
  stop(): void
}

/** 45s, 3m 05s, 1h 02m: short enough for the bar's line. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

const rateOf = (done: number, startedAt: number) => {
  const seconds = (Date.now() - startedAt) / 1000
  return seconds > 0 ? done / seconds : 0
}

/**
 * A bar redrawn in place on a terminal (cli-progress). Anything else (a pipe, a log file, a CI
 * job) gets plain lines instead, at most one a second and always the last one, so that a log
 * neither fills with carriage returns nor grows by a line per batch.
 */
export function createProgress(options: { tty: boolean; stream?: NodeJS.WritableStream; line: (text: string) => void; alreadyDone?: number }): Progress {
  // Rows an earlier run finished count in the totals, not in this run's rate.
  const offset = options.alreadyDone ?? 0
  let total = 0
  let done = 0
  let stopped = false
  let startedAt = 0
  let waitUntil = 0
  let lastLine = 0
  let ticker: NodeJS.Timeout | null = null

  if (!options.tty) {
    const print = () => {
      const rate = rateOf(done - offset, startedAt)
      const eta = rate > 0 ? Math.ceil((total - done) / rate) : null
      options.line(`${done}/${total} rows${rate ? `, ${rate.toFixed(1)} rows/s` : ''}${eta !== null ? `, ETA ${eta}s` : ''}`)
      lastLine = Date.now()
    }
    return {
      start(n) {
        total = n + offset
        done = offset
        startedAt = Date.now()
      },
      update(n) {
        done = n + offset
        if (done === total || Date.now() - lastLine >= 1000) print()
      },
      waiting: (seconds) => options.line(`rate limited: waiting ${seconds}s as the server asks (Retry-After)`),
      stop() {
        if (done !== total && lastLine) print()
      },
    }
  }

  const bar = new cliProgress.SingleBar({
    format: '{bar} {value}/{total} rows | {rate} rows/s | ETA {etaText}{wait}',
    stream: options.stream ?? process.stderr,
    hideCursor: true,
    etaBuffer: 50,
    fps: 5,
  }, cliProgress.Presets.shades_classic)
  const payload = () => {
    const left = Math.max(0, Math.ceil((waitUntil - Date.now()) / 1000))
    const rate = rateOf(done - offset, startedAt)
    // A wait for a rate limit is part of the time left, not something the rate foretells.
    const eta = done === total ? 0 : rate > 0 ? left + Math.ceil((total - done) / rate) : null
    return {
      rate: rate.toFixed(1),
      etaText: stopped && done < total ? '– (stopped)' : eta === null ? '…' : duration(eta),
      wait: left > 0 ? ` | rate limited: resuming in ${duration(left)} (Retry-After)` : '',
    }
  }
  return {
    start(n) {
      total = n + offset
      done = offset
      startedAt = Date.now()
      bar.start(total, done, payload())
      // Redraws the countdown while no row completes.
      ticker = setInterval(() => bar.update(done, payload()), 1000)
      ticker.unref()
    },
    update(n) {
      done = n + offset
      bar.update(done, payload())
    },
    waiting(seconds) {
      waitUntil = Math.max(waitUntil, Date.now() + seconds * 1000)
      bar.update(done, payload())
    },
    stop() {
      if (ticker) clearInterval(ticker)
      stopped = true
      waitUntil = 0
      bar.update(done, payload())
      bar.stop()
    },
  }
}
