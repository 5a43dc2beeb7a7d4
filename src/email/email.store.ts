import type { Queryable } from '../platform/db/db.js'
import type { OutboxRow } from '../platform/outbox/outbox.store.js'
import type { EmailTemplateSlug, TemplatePart } from './email.templates.js'

export interface DevMailboxRow {
  id: string
  instance_id: string
  subject_id: string | null
  template_slug: string
  to_address: string
  subject: string
  html: string
  text: string
  created_at: number
}

export interface DevMailboxListRow extends Omit<DevMailboxRow, 'html' | 'text'> {
  app_name: string
}

export interface EmailTemplateRow {
  instance_id: string
  slug: EmailTemplateSlug
  subject: string | null
  html: string | null
  text: string | null
  created_at: number
  updated_at: number
}

export function createEmailStore() {
  return {
    /** Keeps one message per outbox item: a redelivered item finds its row already there. */
    async insertDevMessage(q: Queryable, row: DevMailboxRow): Promise<void> {
      await q.query(`
        insert into dev_mailbox_messages (id, instance_id, subject_id, template_slug, to_address, subject, html, text, created_at)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (id) do nothing`,
      [row.id, row.instance_id, row.subject_id, row.template_slug, row.to_address, row.subject, row.html, row.text, row.created_at])
    },

    async listDevMessages(q: Queryable, limit: number): Promise<DevMailboxListRow[]> {
      return q.query<DevMailboxListRow>(`
        select m.id, m.instance_id, m.subject_id, m.template_slug, m.to_address, m.subject, m.created_at, i.name as app_name
        from dev_mailbox_messages m join instances i on i.id = m.instance_id
        order by m.created_at desc, m.id desc limit $1`, [limit])
    },

    async findDevMessage(q: Queryable, id: string): Promise<(DevMailboxRow & { app_name: string }) | null> {
      const rows = await q.query<DevMailboxRow & { app_name: string }>(`
        select m.*, i.name as app_name from dev_mailbox_messages m join instances i on i.id = m.instance_id where m.id = $1`, [id])
      return rows[0] ?? null
    },

    async listTemplates(q: Queryable, instanceId: string): Promise<EmailTemplateRow[]> {
      return q.query<EmailTemplateRow>('select * from email_templates where instance_id = $1', [instanceId])
    },

    async findTemplate(q: Queryable, instanceId: string, slug: EmailTemplateSlug): Promise<EmailTemplateRow | null> {
      const rows = await q.query<EmailTemplateRow>('select * from email_templates where instance_id = $1 and slug = $2', [instanceId, slug])
      return rows[0] ?? null
    },

    /** Replaces the instance's version of the template; parts given as null fall back to the built-in ones. */
    async upsertTemplate(q: Queryable, instanceId: string, slug: EmailTemplateSlug, parts: Record<TemplatePart, string | null>, now: number): Promise<EmailTemplateRow> {
      const rows = await q.query<EmailTemplateRow>(`
        insert into email_templates (instance_id, slug, subject, html, text, created_at, updated_at)
        values ($1, $2, $3, $4, $5, $6, $6)
        on conflict (instance_id, slug) do update set subject = excluded.subject, html = excluded.html, text = excluded.text, updated_at = excluded.updated_at
        returning *`,
      [instanceId, slug, parts.subject, parts.html, parts.text, now])
      return rows[0]!
    },

    async deleteTemplate(q: Queryable, instanceId: string, slug: EmailTemplateSlug): Promise<boolean> {
      const rows = await q.query('delete from email_templates where instance_id = $1 and slug = $2 returning slug', [instanceId, slug])
      return rows.length > 0
    },

    /** Every email item about one subject (an invitation), oldest first. */
    async emailItemsFor(q: Queryable, instanceId: string, subjectId: string): Promise<OutboxRow[]> {
      return q.query<OutboxRow>(`
        select * from outbox where subject_id = $1 and instance_id = $2 and kind = 'email' order by created_at, id`,
      [subjectId, instanceId])
    },
  }
}

export type EmailStore = ReturnType<typeof createEmailStore>
