import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'

export interface Server {
  name: string
  url: string
  pid: number
  /** Peak resident set size so far (VmHWM), in MB. */
  peakRssMb(): number
  /** Starts the peak over from the current size, so that it tells of what follows; false where Linux refuses. */
  resetPeakRss(): boolean
  /** The last lines the process wrote, to explain a failure. */
  recentOutput(): string
  stop(): Promise<void>
}

const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/**
 * Starts `node <args>` with exactly `env` (plus PATH), in `cwd`, and resolves once it prints
 * a line matching `ready`, whose first group is the URL it listens on.
 */
export function startServer(name: string, opts: {
  args: string[]
  env: Record<string, string>
  cwd: string
  ready: RegExp
  timeoutMs?: number
}): Promise<Server> {
  const child = spawn(process.execPath, opts.args, {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    running.delete(child)
    resolve()
  }))

  const lines: string[] = []
  const remember = (chunk: Buffer) => {
    lines.push(...chunk.toString().split('\n').filter(Boolean))
    if (lines.length > 40) lines.splice(0, lines.length - 40)
  }
  child.stdout.on('data', remember)
  child.stderr.on('data', remember)

  const server = (url: string): Server => ({
    name,
    url,
    pid: child.pid!,
    peakRssMb: () => {
      const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
      return match ? Number(match[1]) / 1024 : NaN
    },
    resetPeakRss: () => {
      try {
        // "5" resets the process's peak RSS (Documentation/filesystems/proc.rst, clear_refs).
        writeFileSync(`/proc/${child.pid}/clear_refs`, '5')
        return true
      } catch {
        return false
      }
    },
    recentOutput: () => lines.join('\n'),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    },
  })

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${name} did not start within ${(opts.timeoutMs ?? 60_000) / 1000} s:\n${lines.join('\n')}`))
    }, opts.timeoutMs ?? 60_000)
    const onData = () => {
      const url = lines.map((line) => opts.ready.exec(line)?.[1]).find(Boolean)
      if (!url) return
      clearTimeout(timer)
      child.stdout.off('data', onData)
      resolve(server(url))
    }
    child.stdout.on('data', onData)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited (${signal ?? code}) before it was ready:\n${lines.join('\n')}`))
    })
  })
}
