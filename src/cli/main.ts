import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError, Option } from 'commander'
import { ConfigError, loadConfig, readEnvironment } from '../config.js'
import { CliError, clerkClient, connection, errorMessage, realSleep, resolveOrganization, waitingOut429, type Sleep } from './api.js'
import { BATCH_SIZE, rateLimitEstimate, readImportFile, resultCsv, runImport } from './import.js'

export interface CliIo {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** The environment the verbs read (with `.env` from `cwd` under it); process.env by default. */
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** How a 429 is waited out; tests pass their own. */
  sleep?: Sleep
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

/** Parses `argv` (without node and the script) and runs the verb; never throws for the user's mistakes. */
export async function run(argv: string[], io: CliIo): Promise<RunResult> {
  const environment = () => readEnvironment(io.cwd ?? process.cwd(), io.env ?? process.env)
  const sleep = io.sleep ?? realSleep
  const out = (line: string) => io.stdout(line + '\n')
  const err = (line: string) => io.stderr(line + '\n')
  let result: RunResult = 0

  const program = new Command('foyer')
    .description('Foyer\'s command-line tool: run the server, migrate its database, and invite people through any Foyer\'s Backend API.')
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
    .description(`Invite everyone in a CSV file, ${BATCH_SIZE} per bulk request, waiting out rate limits. Writes a result CSV (row, email_address, invitation_id, result: created, skipped or the error). Exits 1 if any row failed.`)
    .argument('<file>', 'a CSV file with a header row')
    .option('--dry-run', 'check every row and report each bad one (row number and reason); send nothing')
    .option('--out <file>', 'where the result CSV goes (default: <file>.result.csv)')
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
${API_HELP}`)
    .action(async (file: string, opts: { dryRun?: boolean; out?: string; email: boolean; apiUrl?: string; secretKey?: string }) => {
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
      out(`importing ${rows.length} row${rows.length === 1 ? '' : 's'} from ${file}`)
      const estimate = await rateLimitEstimate(conn.apiUrl, conn.secretKey, rows)
      if (estimate) out(estimate)
      const results = await runImport(rows, { clerk, notify: opts.email, sleep, log: (line) => err(line) })
      writeFileSync(outPath, resultCsv(results))
      const count = (outcome: string) => results.filter((r) => r.outcome === outcome).length
      const failed = results.length - count('created') - count('skipped')
      out(`${count('created')} created, ${count('skipped')} skipped, ${failed} failed; results in ${outPath}`)
      result = failed ? 1 : 0
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
  const code = await run(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) })
  if (code !== 'serving') process.exitCode = code
}
