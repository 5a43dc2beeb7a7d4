/**
 * The two floors Foyer's create is measured against, each a bare Fastify route answering
 * `POST /v1/invitations` with the JSON shape Foyer answers:
 *   node dist/bench/baseline.js bare     no database: HTTP, JSON parsing and serialising only
 *   node dist/bench/baseline.js insert   one `insert … returning *` through a pg Pool
 * Environment: PORT, HOST, and for `insert` DATABASE_URL and BASELINE_INSTANCE_ID.
 */
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import pg from 'pg'

const mode = process.argv[2]
if (mode !== 'bare' && mode !== 'insert') {
  process.stderr.write('usage: baseline.js bare|insert\n')
  process.exit(2)
}

const DAY_MS = 86_400_000
const publicUrl = 'http://localhost'

interface Row {
  id: string
  email_address: string
  status: string
  ticket_nonce: string
  expires_at: number
  created_at: number
  updated_at: number
}

const toJson = (row: Row) => ({
  object: 'invitation',
  id: row.id,
  email_address: row.email_address,
  public_metadata: {},
  revoked: false,
  status: row.status,
  url: `${publicUrl}/v1/tickets/accept?ticket=${row.ticket_nonce}`,
  expires_at: row.expires_at,
  created_at: row.created_at,
  updated_at: row.updated_at,
})

const newRow = (email: string): Row => {
  const now = Date.now()
  return {
    id: `inv_${randomBytes(20).toString('base64url').slice(0, 27)}`,
    email_address: email.trim().toLowerCase(),
    status: 'pending',
    ticket_nonce: randomBytes(16).toString('base64url'),
    expires_at: now + 30 * DAY_MS,
    created_at: now,
    updated_at: now,
  }
}

// Same pool size and int8 parsing as Foyer's PostgreSQL engine.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value))
const pool = mode === 'insert' ? new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 16 }) : null
const instanceId = process.env.BASELINE_INSTANCE_ID

const app = Fastify({ logger: false })
app.post<{ Body: { email_address: string } }>('/v1/invitations', async (req) => {
  const row = newRow(req.body.email_address)
  if (!pool) return toJson(row)
  const { rows } = await pool.query<Row>(`
    insert into invitations (id, instance_id, email_address, status, notify, template_slug, ticket_nonce, ticket_hash,
                             expires_at, created_at, updated_at)
    values ($1, $2, $3, 'pending', false, 'invitation', $4, $5, $6, $7, $7) returning *`,
  [row.id, instanceId, row.email_address, row.ticket_nonce, randomBytes(32).toString('hex'), row.expires_at, row.created_at])
  return toJson(rows[0]!)
})

process.on('SIGTERM', () => {
  void app.close().then(() => pool?.end()).finally(() => process.exit(0))
})

const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' })
process.stdout.write(`baseline ${mode} listening on ${address}\n`)
