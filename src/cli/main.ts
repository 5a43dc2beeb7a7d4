import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError, Option } from 'commander'
import { ConfigError, loadConfig, readEnvironment } from '../config.js'
import { CliError, clerkClient, connection, errorMessage, foyerRequest, realSleep, resolveOrganization, waitingOut429, type Sleep } from './api.js'
import { exportAll, formatOption, INVITATION_COLUMNS, invitationFilters, invitationPage, USER_COLUMNS, userFilters, userPage, type InvitationFilters, type UserFilters } from './lists.js'
import { BATCH_SIZE, openJournal, rateLimitEstimate, readImportFile, readResults, runImport } from './import.js'
import { createProgress } from './progress.js'

export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** The environment the verbs read (with `.env` from `cwd` under it); process.env by default. */
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** How a 429 is waited out; tests pass their own. */
  sleep?: Sleep
  /** stderr when it is a terminal: progress is then a bar redrawn in place, not lines. */
  terminal?: NodeJS.WriteStream
  /** Whether an import handles Ctrl-C (SIGINT) itself: true when the tool is its own process. */
  handleSignals?: boolean
  /** Aborting it interrupts an import as Ctrl-C does (tests). */
  signal?: AbortSignal
  /** Where `operator create` reads the password: asked on a terminal, else its first line. */
  stdin?: NodeJS.ReadStream
}

/** What `run` ends with: an exit code, or `serving` when `start` left a server running. */
export type RunResult = number | 'serving'

const API_HELP = `
The API verbs talk to any Foyer over its Backend API, as Clerk's SDK does:
  FOYER_API_URL     the Foyer's address, e.g. https://foyer.example.com (or --api-url)
  FOYER_SECRET_KEY  an instance's secret key, sk_… (or --secret-key)
A .env file in the working folder is read too; flags win over the environment.`

function apiOptions(command: Command): Command {
  return command
    .option('--api-url <url>', 'the Foyer\'s address (default: $FOYER_API_URL)')
    .option('--secret-key <key>', 'the instance\'s secret key (default: $FOYER_SECRET_KEY)')
}

const concurrencyOption = (value: string) => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new CliError(`--concurrency must be a whole number from 1 to 16, not ${value}`)
  return n
}

const rangeOption = (name: string, min: number, max: number) => (value: string) => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`${name} must be a whole number from ${min} to ${max}, not ${value}`)
  return n
}
const iso = (ms: unknown) => typeof ms === 'number' ? new Date(ms).toISOString() : ''

const positiveDays = (value: string) => {
  const days = Number(value)
  if (!Number.isInteger(days) || days < 1 || days > 365) throw new CliError(`--expires-in-days must be a whole number from 1 to 365, not ${value}`)
  return days
}

function metadataOption(value: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    throw new CliError('--metadata is not valid JSON')
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError('--metadata must be a JSON object, e.g. \'{"plan":"pro"}\'')
  return parsed as Record<string, unknown>
}

// dist/src/cli/main.js and src/cli/main.ts both sit three folders below package.json.
const packageVersion = () => (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** The tool as its own process: the real streams, and Ctrl-C handled. */
export const processIo = (): CliIo => ({
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  handleSignals: true,
  stdin: process.stdin,
  ...(process.stderr.isTTY ? { terminal: process.stderr } : {}),
})

/** Parses `argv` (without node and the script) and runs the verb; never throws for the user's mistakes. */
export async function run(argv: string[], io: CliIo): Promise<RunResult> {
  const environment = () => readEnvironment(io.cwd ?? process.cwd(), io.env ?? process.env)
  const sleep = io.sleep ?? realSleep
  const out = (line: string) => io.stdout(line + '\n')
  const err = (line: string) => io.stderr(line + '\n')
  let result: RunResult = 0
  const waitLine = (seconds: number) => err(`rate limited: waiting ${seconds}s as the server asks (Retry-After)`)
  /** One line per id: what `act` says, or the error; 1 if any failed. */
  const eachId = async (ids: string[], act: (id: string) => Promise<string>): Promise<number> => {
    let failed = 0
    for (const id of ids) {
      try {
        out(`${id}\t${await act(id)}`)
      } catch (e) {
        failed++
        out(`${id}\terror: ${errorMessage(e)}`)
      }
    }
    return failed ? 1 : 0
  }

  const program = new Command('foyer')
    .description('Foyer\'s command-line tool: run the server, migrate and check it, create its first operator; invite, import, list and export through any Foyer\'s Backend API.')
    .version(packageVersion(), '-V, --version', 'print Foyer\'s version')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride()
    .showHelpAfterError('(run with --help for the verbs and options)')
    .addHelpText('after', API_HELP)

  program.command('start')
    .description('Run the server, as `npm start` does: configuration from the environment and .env (see the README\'s configuration table).')
    .action(async () => {
      await import('../main.js')
      result = 'serving'
    })

  program.command('migrate')
    .description('Apply the database migrations and exit, for deploy steps. Uses DATABASE_URL, or the embedded PGlite in $FOYER_DATA_DIR/pgdata.')
    .action(async () => {
      const config = loadConfig(environment())
      const { openDb } = await import('../platform/db/db.js')
      const { migrate } = await import('../platform/db/migrate.js')
      const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: join(config.dataDir, 'pgdata') })
      try {
        const applied = await migrate(db)
        const where = config.databaseUrl ? 'PostgreSQL' : `PGlite (${join(config.dataDir, 'pgdata')})`
        out(applied.length ? `applied ${applied.length} migration${applied.length > 1 ? 's' : ''} on ${where}: ${applied.join(', ')}` : `${where} is up to date`)
      } finally {
        await db.close()
      }
    })

  program.command('doctor')
    .summary('Check the configuration: database, autovacuum, SMTP, FOYER_SECRET, public URL, origins')
    .description('Check the configuration (environment and .env) as a start would use it: the database and PostgreSQL\'s autovacuum, SMTP (connect and log in, sending nothing), FOYER_SECRET, the public URL and its publishable key, the allowed redirect origins. One line per finding, marked ok, warn or fail; exits 0 when all are ok, 1 on a warning, 2 on a failure.')
    .action(async () => {
      const env = environment()
      let config
      try {
        config = loadConfig(env)
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e
        out(`fail  configuration: ${e.message}`)
        result = 2
        return
      }
      const { doctor, exitCodeOf } = await import('./server.js')
      const findings = await doctor(config, env)
      for (const f of findings) out(`${f.level.padEnd(4)}  ${f.text}`)
      result = exitCodeOf(findings)
    })

  program.command('operator')
    .description('Dashboard operator accounts: `operator create` makes the first one.')
    .command('create')
    .summary('Create the first operator without the setup link (headless installs)')
    .description('Create the first operator account without the setup link, for headless installs: the password is asked on a terminal, or read from stdin (its first line). Refused once an operator exists. On the embedded PGlite, run it while Foyer is stopped.')
    .requiredOption('--email <address>', 'the operator\'s email address, used to sign in')
    .action(async (opts: { email: string }) => {
      const config = loadConfig(environment())
      const stdin = io.stdin
      if (!stdin) throw new CliError('no stdin to read the password from')
      const { createOperator, readPassword } = await import('./server.js')
      const password = await readPassword(stdin, io.stderr)
      out(await createOperator(config, opts.email, password))
    })

  const invitations = program.command('invitations').description('List, revoke, resend and export application invitations.')
  apiOptions(invitationFilters(invitations.command('list')
    .description('List invitations, newest first: one line each (id, email address, status, created, expires), tab-separated.')
    .addOption(new Option('--limit <n>', 'how many, 1 to 500').default(20).argParser(rangeOption('--limit', 1, 500)))
    .addOption(new Option('--offset <n>', 'skip this many first').default(0).argParser(rangeOption('--offset', 0, 2_147_483_647)))))
    .addHelpText('after', API_HELP)
    .action(async (opts: InvitationFilters & { limit: number; offset: number; apiUrl?: string; secretKey?: string }) => {
      const clerk = clerkClient(connection(opts, environment()))
      const { rows, total } = await waitingOut429(() => invitationPage(clerk, opts, opts.limit, opts.offset), sleep, waitLine)
      for (const r of rows) out([r.id, r.email_address, r.status, iso(r.created_at), iso(r.expires_at)].join('\t'))
      err(rows.length ? `${opts.offset + 1}–${opts.offset + rows.length} of ${total}${opts.offset + rows.length < total ? ' (--offset for more)' : ''}` : `none of ${total}`)
    })
  apiOptions(invitations.command('revoke')
    .description('Revoke pending invitations: their links stop working. One line per id: the id and its new status, or the error. Exits 1 if any failed.')
    .argument('<id...>', 'invitation ids (inv_…)'))
    .addHelpText('after', API_HELP)
    .action(async (ids: string[], opts: { apiUrl?: string; secretKey?: string }) => {
      const clerk = clerkClient(connection(opts, environment()))
      result = await eachId(ids, async (id) => (await waitingOut429(() => clerk.invitations.revokeInvitation(id), sleep, waitLine)).status)
    })
  apiOptions(invitations.command('resend')
    .description('Email pending invitations again with the same link (a Foyer extension, POST /v1/invitations/{id}/resend); an expired one gets a new link and expiry first. One line per id. Exits 1 if any failed.')
    .argument('<id...>', 'invitation ids (inv_…)')
    .addOption(new Option('--expires-in-days <days>', 'for an expired invitation: days until the new one expires, 1 to 365 (default 30)').argParser(positiveDays)))
    .addHelpText('after', API_HELP)
    .action(async (ids: string[], opts: { expiresInDays?: number; apiUrl?: string; secretKey?: string }) => {
      const conn = connection(opts, environment())
      const body = opts.expiresInDays ? { expires_in_days: opts.expiresInDays } : {}
      result = await eachId(ids, async (id) => {
        const invitation = await waitingOut429(() => foyerRequest<{ status: string }>(conn, 'POST', `/v1/invitations/${encodeURIComponent(id)}/resend`, body), sleep, waitLine)
        return `${invitation.status}, emailed again`
      })
    })
  apiOptions(invitationFilters(invitations.command('export')
    .description('Write every invitation the filters match, as CSV (id, email_address, status, created_at, expires_at, public_metadata, url) or JSON (the API\'s objects).')
    .addOption(formatOption())
    .option('--out <file>', 'write there instead of stdout')))
    .addHelpText('after', API_HELP)
    .action(async (opts: InvitationFilters & { format: 'csv' | 'json'; out?: string; apiUrl?: string; secretKey?: string }) => {
      const clerk = clerkClient(connection(opts, environment()))
      const target = opts.out ? resolve(io.cwd ?? process.cwd(), opts.out) : undefined
      const count = await exportAll((limit, offset) => waitingOut429(() => invitationPage(clerk, opts, limit, offset), sleep, waitLine),
        { format: opts.format, columns: INVITATION_COLUMNS, ...(target ? { out: target } : {}), write: io.stdout })
      err(`${count} invitation${count === 1 ? '' : 's'} exported${target ? ` to ${target}` : ''}`)
    })

  const users = program.command('users').description('Export users.')
  apiOptions(userFilters(users.command('export')
    .description('Write every user the filters match, as CSV (id, email_address, other_email_addresses, username, first_name, last_name, created_at, last_sign_in_at, banned, locked, public_metadata) or JSON (the API\'s objects).')
    .addOption(formatOption())
    .option('--out <file>', 'write there instead of stdout')))
    .addHelpText('after', API_HELP)
    .action(async (opts: UserFilters & { format: 'csv' | 'json'; out?: string; apiUrl?: string; secretKey?: string }) => {
      const clerk = clerkClient(connection(opts, environment()))
      const target = opts.out ? resolve(io.cwd ?? process.cwd(), opts.out) : undefined
      const count = await exportAll((limit, offset) => waitingOut429(() => userPage(clerk, opts, limit, offset), sleep, waitLine),
        { format: opts.format, columns: USER_COLUMNS, ...(target ? { out: target } : {}), write: io.stdout })
      err(`${count} user${count === 1 ? '' : 's'} exported${target ? ` to ${target}` : ''}`)
    })

  apiOptions(program.command('invite')
    .description('Invite one or more email addresses. Prints one line per address: its invitation id, or the error. Exits 1 if any failed.')
    .argument('<email...>', 'the addresses to invite')
    .option('--redirect-url <url>', 'where the invitation link leads after sign-up (on an allowed origin)')
    .addOption(new Option('--expires-in-days <days>', 'days until the invitation expires, 1 to 365 (default 30)').argParser(positiveDays))
    .addOption(new Option('--metadata <json>', 'public metadata for the invitation, a JSON object copied to the user at sign-up').argParser(metadataOption))
    .option('--no-email', 'create the invitation without sending its email (application invitations only)')
    .option('--org <id-or-slug>', 'invite to this organization (by id or slug) instead of the application')
    .option('--role <role>', 'the organization role, e.g. org:member (with --org)'))
    .addHelpText('after', API_HELP)
    .action(async (emails: string[], opts: { redirectUrl?: string; expiresInDays?: number; metadata?: Record<string, unknown>; email: boolean; org?: string; role?: string; apiUrl?: string; secretKey?: string }) => {
      if (opts.org && !opts.role) throw new CliError('--org needs --role, e.g. --role org:member')
      if (opts.role && !opts.org) throw new CliError('--role goes with --org')
      if (opts.org && !opts.email) throw new CliError('--no-email applies to application invitations only; an organization invitation always sends its email')
      const clerk = clerkClient(connection(opts, environment()))
      const onWait = (seconds: number) => err(`rate limited: waiting ${seconds}s as the server asks (Retry-After)`)
      let orgId: string | undefined
      if (opts.org) {
        const org = opts.org
        try {
          orgId = await waitingOut429(() => resolveOrganization(clerk, org), sleep, onWait)
        } catch (e) {
          throw new CliError(`organization ${org}: ${errorMessage(e)}`)
        }
      }
      let failed = 0
      for (const email of emails) {
        try {
          const common = {
            emailAddress: email,
            ...(opts.metadata ? { publicMetadata: opts.metadata } : {}),
            ...(opts.redirectUrl ? { redirectUrl: opts.redirectUrl } : {}),
            ...(opts.expiresInDays ? { expiresInDays: opts.expiresInDays } : {}),
          }
          const invitation = orgId
            ? await waitingOut429(() => clerk.organizations.createOrganizationInvitation({ ...common, organizationId: orgId!, role: opts.role! }), sleep, onWait)
            : await waitingOut429(() => clerk.invitations.createInvitation({ ...common, notify: opts.email }), sleep, onWait)
          out(`${email}\t${invitation.id}`)
        } catch (e) {
          failed++
          out(`${email}\terror: ${errorMessage(e)}`)
        }
      }
      result = failed ? 1 : 0
    })

  apiOptions(program.command('import')
    .summary('Invite everyone in a CSV file: bulk, in parallel, resumable')
    .description(`Invite everyone in a CSV file, ${BATCH_SIZE} per bulk request, several requests at once, waiting out rate limits. Writes a result CSV as rows complete (row, email_address, invitation_id, result: created, skipped or the error); run again with the same file, it resumes. Exits 1 if any row failed, 130 when interrupted.`)
    .argument('<file>', 'a CSV file with a header row')
    .option('--dry-run', 'check every row and report each bad one (row number and reason); send nothing')
    .option('--out <file>', 'where the result CSV goes (default: <file>.result.csv); a run finds there what an earlier run did')
    .addOption(new Option('--concurrency <n>', 'bulk requests in flight at once, 1 to 16').default(4).argParser(concurrencyOption))
    .option('--no-email', 'create application invitations without sending their email'))
    .addHelpText('after', `
Columns (header row required):
  email_address        required
  public_metadata      a JSON object
  meta.<key>           a value put at <key> in public_metadata
  redirect_url         where the link leads after sign-up
  expires_in_days      1 to 365
  organization, role   an organization invitation (organization id or slug, and a role such as org:member)
Row numbers count the header as row 1, as a spreadsheet shows them.
An address that already has a pending invitation, or a user, is reported as skipped.

Interrupted (Ctrl-C, a crash, a lost connection), run the same command again: rows the result
file marks created or skipped are not sent again, failed ones are retried, and a row whose
request went through unseen comes back as skipped, so nobody is invited twice.
${API_HELP}`)
    .action(async (file: string, opts: { dryRun?: boolean; out?: string; email: boolean; concurrency: number; apiUrl?: string; secretKey?: string }) => {
      const path = resolve(io.cwd ?? process.cwd(), file)
      if (!existsSync(path)) throw new CliError(`${file}: no such file`)
      const { rows, bad } = readImportFile(readFileSync(path, 'utf8'))
      for (const b of bad) err(`row ${b.row}: ${b.reason}`)
      if (opts.dryRun) {
        out(`${rows.length} row${rows.length === 1 ? '' : 's'} ready, ${bad.length} bad; nothing was sent (dry run)`)
        result = bad.length ? 1 : 0
        return
      }
      if (bad.length) throw new CliError(`${bad.length} bad row${bad.length === 1 ? '' : 's'}: fix ${bad.length === 1 ? 'it' : 'them'} first (nothing was sent); --dry-run lists them without connecting`)
      const conn = connection(opts, environment())
      const clerk = clerkClient(conn)
      const outPath = resolve(io.cwd ?? process.cwd(), opts.out ?? `${file}.result.csv`)
      const previous = existsSync(outPath) ? readResults(readFileSync(outPath, 'utf8'), rows, outPath) : []
      const finished = new Set(previous.map((r) => r.row))
      const todo = rows.filter((row) => !finished.has(row.row))
      if (previous.length) out(`resuming: ${previous.length} of ${rows.length} rows were done by an earlier run (${outPath}); ${todo.length} to go`)
      else out(`importing ${rows.length} row${rows.length === 1 ? '' : 's'} from ${file}`)
      const estimate = todo.length ? await rateLimitEstimate(conn.apiUrl, conn.secretKey, todo) : null
      if (estimate) out(estimate)

      const journal = openJournal(outPath, previous)
      const controller = new AbortController()
      const onInterrupt = () => {
        // A second Ctrl-C quits at once: every answered batch is on disk already, and a request
        // cut off now comes back as skipped on the next run.
        if (controller.signal.aborted) process.exit(130)
        controller.abort()
        err('\ninterrupted: finishing the requests under way (Ctrl-C again to quit at once)')
      }
      if (io.handleSignals) process.on('SIGINT', onInterrupt)
      let outcome
      try {
        outcome = await runImport(todo, {
          clerk, notify: opts.email, sleep, concurrency: opts.concurrency, signal: io.signal ? AbortSignal.any([io.signal, controller.signal]) : controller.signal,
          progress: createProgress({ tty: Boolean(io.terminal), stream: io.terminal, line: err, alreadyDone: previous.length }),
          onResults: (batch) => journal.append(batch),
        })
      } finally {
        if (io.handleSignals) process.off('SIGINT', onInterrupt)
      }
      const all = [...previous, ...outcome.results]
      journal.close(all)
      const count = (o: string) => all.filter((r) => r.outcome === o).length
      const failed = all.length - count('created') - count('skipped')
      const left = rows.length - all.length
      out(`${count('created')} created, ${count('skipped')} skipped, ${failed} failed${left ? `, ${left} not sent` : ''}; results in ${outPath}`)
      const again = `run the same command again to resume: the ${all.length - failed} rows done are not sent again`
      if (outcome.stopped && 'interrupted' in outcome.stopped) {
        err(`foyer: interrupted; ${again}`)
        result = 130
      } else if (outcome.stopped) {
        err(`foyer: stopped: ${outcome.stopped.error}`)
        err(`foyer: ${again}`)
        result = 1
      } else {
        result = failed ? 1 : 0
      }
    })

  try {
    await program.parseAsync(argv, { from: 'user' })
    return result
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode
    if (e instanceof CliError) {
      err(`foyer: ${e.message}`)
      return 1
    }
    if (e instanceof ConfigError) {
      err(e.message)
      return 1
    }
    err(`foyer: ${errorMessage(e)}`)
    return 1
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const code = await run(process.argv.slice(2), processIo())
  if (code !== 'serving') process.exitCode = code
}
