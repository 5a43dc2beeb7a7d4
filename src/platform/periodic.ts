/**
 * A job every process runs at start (what came due while it was stopped), then every
 * `intervalMs` after the previous run ended, so that runs never overlap. `stopping` turns true
 * once `stop` is called, for a job that works in batches to end after the current one;
 * `stop` resolves when the run under way has finished.
 */
export function periodic(run: () => Promise<unknown>, intervalMs: number, onError: (err: unknown) => void) {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  let stopping = false

  const tick = () => {
    running = run().catch(onError).finally(() => {
      running = undefined
      if (timer) timer = setTimeout(tick, intervalMs)
    })
  }

  return {
    get stopping() {
      return stopping
    },
    start() {
      if (timer) return
      stopping = false
      timer = setTimeout(tick, 0)
    },
    async stop() {
      stopping = true
      clearTimeout(timer)
      timer = undefined
      await running
    },
  }
}
