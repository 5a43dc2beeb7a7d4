import cliProgress from 'cli-progress'

/** How an import shows where it is: rows done, rows per second, ETA, and any wait for a rate limit. */
export interface Progress {
  start(total: number): void
  update(done: number): void
  /** A 429's Retry-After: a countdown on a terminal, one line otherwise. */
  waiting(seconds: number): void
  stop(): void
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
export function createProgress(options: { tty: boolean; stream?: NodeJS.WritableStream; line: (text: string) => void }): Progress {
  let total = 0
  let done = 0
  let startedAt = 0
  let waitUntil = 0
  let lastLine = 0
  let ticker: NodeJS.Timeout | null = null

  if (!options.tty) {
    const print = () => {
      const rate = rateOf(done, startedAt)
      const eta = rate > 0 ? Math.ceil((total - done) / rate) : null
      options.line(`${done}/${total} rows${rate ? `, ${rate.toFixed(1)} rows/s` : ''}${eta !== null ? `, ETA ${eta}s` : ''}`)
      lastLine = Date.now()
    }
    return {
      start(n) {
        total = n
        startedAt = Date.now()
      },
      update(n) {
        done = n
        if (done === total || Date.now() - lastLine >= 1000) print()
      },
      waiting: (seconds) => options.line(`rate limited: waiting ${seconds}s as the server asks (Retry-After)`),
      stop() {
        if (done !== total && lastLine) print()
      },
    }
  }

  const bar = new cliProgress.SingleBar({
    format: '{bar} {value}/{total} rows | {rate} rows/s | ETA {eta_formatted}{wait}',
    stream: options.stream ?? process.stderr,
    hideCursor: true,
    etaBuffer: 50,
    fps: 5,
  }, cliProgress.Presets.shades_classic)
  const payload = () => {
    const left = Math.ceil((waitUntil - Date.now()) / 1000)
    return {
      rate: rateOf(done, startedAt).toFixed(1),
      wait: left > 0 ? ` | rate limited: resuming in ${left}s (Retry-After)` : '',
    }
  }
  return {
    start(n) {
      total = n
      startedAt = Date.now()
      bar.start(total, 0, payload())
      // Redraws the countdown while no row completes.
      ticker = setInterval(() => bar.update(done, payload()), 1000)
      ticker.unref()
    },
    update(n) {
      done = n
      bar.update(done, payload())
    },
    waiting(seconds) {
      waitUntil = Math.max(waitUntil, Date.now() + seconds * 1000)
      bar.update(done, payload())
    },
    stop() {
      if (ticker) clearInterval(ticker)
      waitUntil = 0
      bar.update(done, payload())
      bar.stop()
    },
  }
}
