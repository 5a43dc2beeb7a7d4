/** The compiled command-line tool as a child process, as a person or a script runs it. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url))

export interface CliChild {
  child: ChildProcess
  /** stdout and stderr so far. */
  stdout(): string
  stderr(): string
  /** Resolves once `pattern` shows up on stderr (rejects if the process ends first). */
  waitForStderr(pattern: RegExp): Promise<void>
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>
}

/**
 * Asynchronous, so that a Foyer in the test's own process can answer it. Only `env` (and PATH)
 * reaches it: none of the test runner's variables.
 */
export function spawnCli(argv: string[], options: { cwd: string; env: Record<string, string>; stdin?: string }): CliChild {
  const child = spawn(process.execPath, [MAIN, ...argv], { cwd: options.cwd, env: { PATH: process.env.PATH ?? '', ...options.env } })
  let stdout = ''
  let stderr = ''
  const waiters: Array<() => void> = []
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
    for (const w of [...waiters]) w()
  })
  if (options.stdin !== undefined) child.stdin!.end(options.stdin)
  else child.stdin!.end()
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForStderr: (pattern) => new Promise((resolve, reject) => {
      const check = () => {
        if (!pattern.test(stderr)) return
        waiters.splice(waiters.indexOf(check), 1)
        resolve()
      }
      waiters.push(check)
      check()
      void exited.then(() => reject(new Error(`the tool exited before printing ${pattern}:\n${stdout}\n${stderr}`)))
    }),
  }
}

export const runCli = (argv: string[], options: { cwd: string; env: Record<string, string>; stdin?: string }) => spawnCli(argv, options).exited
