/** `foyer invitations …` and `foyer users export`: the Backend API's lists, a page at a time. */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import type { ClerkClient } from '@clerk/backend'
import { Command, Option } from 'commander'
import { csvLine } from './csv.js'
import { CliError } from './api.js'

/** The most GET /v1/invitations and GET /v1/users give in one page. */
const PAGE = 500

export type Row = Record<string, unknown>

/** A date as ISO 8601 or Unix milliseconds, as the list filters take it. */
export function timeOption(name: string) {
  return (value: string): number => {
    const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value)
    if (!Number.isFinite(ms)) throw new CliError(`${name} must be a date (2026-01-31 or 2026-01-31T12:00:00Z) or Unix milliseconds, not ${value}`)
    return ms
  }
}

const formatOption = () => new Option('--format <format>', 'csv or json').choices(['csv', 'json']).default('csv')

export const invitationFilters = (command: Command) => command
  .addOption(new Option('--status <status>', 'only invitations in this status (without it, revoked ones are left out)').choices(['pending', 'accepted', 'revoked', 'expired']))
  .option('--query <text>', 'part of the email address, or an exact invitation id')
  .addOption(new Option('--order-by <field>', 'created_at, email_address or expires_at; - for descending, + for ascending').default('-created_at'))

export const userFilters = (command: Command) => command
  .option('--query <text>', 'part of an email address, the username or the name, or an exact user id')
  .option('--email-address <address...>', 'users holding one of these addresses (exact)')
  .option('--user-id <id...>', 'users with these ids')
  .option('--username <name...>', 'users with one of these usernames')
  .option('--email-address-query <text>', 'part of an email address')
  .option('--username-query <text>', 'part of the username')
  .option('--name-query <text>', 'part of the name')
  .addOption(new Option('--created-after <date>', 'created after this date (ISO 8601 or Unix ms)').argParser(timeOption('--created-after')))
  .addOption(new Option('--created-before <date>', 'created before this date').argParser(timeOption('--created-before')))
  .addOption(new Option('--last-sign-in-after <date>', 'last signed in after this date').argParser(timeOption('--last-sign-in-after')))
  .addOption(new Option('--last-sign-in-before <date>', 'last signed in before this date').argParser(timeOption('--last-sign-in-before')))
  .addOption(new Option('--order-by <field>', 'created_at, updated_at, email_address, first_name, last_name, last_sign_in_at, username or last_active_at; - for descending').default('-created_at'))

export interface InvitationFilters { status?: string; query?: string; orderBy: string }
export interface UserFilters {
  query?: string; emailAddress?: string[]; userId?: string[]; username?: string[]
  emailAddressQuery?: string; usernameQuery?: string; nameQuery?: string
  createdAfter?: number; createdBefore?: number; lastSignInAfter?: number; lastSignInBefore?: number
  orderBy: string
}

export async function invitationPage(clerk: ClerkClient, f: InvitationFilters, limit: number, offset: number): Promise<{ rows: Row[]; total: number }> {
  const page = await clerk.invitations.getInvitationList({
    limit, offset, orderBy: f.orderBy as never,
    ...(f.status ? { status: f.status as never } : {}),
    ...(f.query ? { query: f.query } : {}),
  })
  return { rows: page.data.map((i) => i.raw as unknown as Row), total: page.totalCount }
}

export async function userPage(clerk: ClerkClient, f: UserFilters, limit: number, offset: number): Promise<{ rows: Row[]; total: number }> {
  // Foyer's filters the SDK's types do not name go through as they are: the SDK passes every
  // parameter on, snake_cased.
  const params = {
    limit, offset, orderBy: f.orderBy,
    ...(f.query ? { query: f.query } : {}),
    ...(f.emailAddress ? { emailAddress: f.emailAddress } : {}),
    ...(f.userId ? { userId: f.userId } : {}),
    ...(f.username ? { username: f.username } : {}),
    ...(f.emailAddressQuery ? { emailAddressQuery: f.emailAddressQuery } : {}),
    ...(f.usernameQuery ? { usernameQuery: f.usernameQuery } : {}),
    ...(f.nameQuery ? { nameQuery: f.nameQuery } : {}),
    ...(f.createdAfter !== undefined ? { createdAtAfter: f.createdAfter } : {}),
    ...(f.createdBefore !== undefined ? { createdAtBefore: f.createdBefore } : {}),
    ...(f.lastSignInAfter !== undefined ? { lastSignInAtAfter: f.lastSignInAfter } : {}),
    ...(f.lastSignInBefore !== undefined ? { lastSignInAtBefore: f.lastSignInBefore } : {}),
  }
  const page = await clerk.users.getUserList(params as Parameters<ClerkClient['users']['getUserList']>[0])
  return { rows: page.data.map((u) => u.raw as unknown as Row), total: page.totalCount }
}

const iso = (ms: unknown) => typeof ms === 'number' ? new Date(ms).toISOString() : ''
const json = (value: unknown) => value && typeof value === 'object' && Object.keys(value).length ? JSON.stringify(value) : ''

export const INVITATION_COLUMNS: Array<[string, (r: Row) => unknown]> = [
  ['id', (r) => r.id],
  ['email_address', (r) => r.email_address],
  ['status', (r) => r.status],
  ['created_at', (r) => iso(r.created_at)],
  ['expires_at', (r) => iso(r.expires_at)],
  ['public_metadata', (r) => json(r.public_metadata)],
  ['url', (r) => r.url],
]

interface EmailJson { id: string; email_address: string }
export const USER_COLUMNS: Array<[string, (r: Row) => unknown]> = [
  ['id', (r) => r.id],
  ['email_address', (r) => (r.email_addresses as EmailJson[] | undefined)?.find((e) => e.id === r.primary_email_address_id)?.email_address ?? ''],
  ['other_email_addresses', (r) => (r.email_addresses as EmailJson[] | undefined)?.filter((e) => e.id !== r.primary_email_address_id).map((e) => e.email_address).join(' ') ?? ''],
  ['username', (r) => r.username],
  ['first_name', (r) => r.first_name],
  ['last_name', (r) => r.last_name],
  ['created_at', (r) => iso(r.created_at)],
  ['last_sign_in_at', (r) => iso(r.last_sign_in_at)],
  ['banned', (r) => r.banned],
  ['locked', (r) => r.locked],
  ['public_metadata', (r) => json(r.public_metadata)],
]

/**
 * Every row the filters match, page after page, to a file (written aside and renamed when
 * complete, so that a failed export leaves no partial file under its name) or to stdout.
 * CSV has one line a row with the columns above; JSON is an array of the API's own objects.
 */
export async function exportAll(
  page: (limit: number, offset: number) => Promise<{ rows: Row[]; total: number }>,
  options: { format: 'csv' | 'json'; columns: Array<[string, (r: Row) => unknown]>; out?: string; write: (text: string) => void },
): Promise<number> {
  const partial = options.out ? `${options.out}.partial` : null
  const fd = partial ? openSync(partial, 'w') : null
  const write = (text: string) => (fd === null ? options.write(text) : writeSync(fd, text))
  let count = 0
  try {
    if (options.format === 'csv') write(csvLine(options.columns.map(([name]) => name)))
    else write('[')
    for (let offset = 0; ; offset += PAGE) {
      const { rows, total } = await page(PAGE, offset)
      for (const row of rows) {
        if (options.format === 'csv') write(csvLine(options.columns.map(([, get]) => get(row) as string)))
        else write(`${count ? ',' : ''}\n${JSON.stringify(row)}`)
        count++
      }
      if (rows.length < PAGE || offset + PAGE >= total) break
    }
    if (options.format === 'json') write(count ? '\n]\n' : ']\n')
  } catch (err) {
    if (partial) rmSync(partial, { force: true })
    throw err
  } finally {
    if (fd !== null) closeSync(fd)
  }
  if (partial) renameSync(partial, options.out!)
  return count
}

export { formatOption }
