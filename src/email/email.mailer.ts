import nodemailer from 'nodemailer'
import type { Db } from '../platform/db/db.js'
import type { EmailStore } from './email.store.js'
import type { RenderedEmail } from './email.templates.js'
import { redactSecrets } from '../platform/redact.js'

export interface OutgoingEmail extends RenderedEmail {
  /** The outbox item's id: stable across retries, so it doubles as the Message-ID. */
  outboxId: string
  instanceId: string
  subjectId: string | null
  templateSlug: string
  to: string
  /** Only for the development mailbox's log line, where its ticket is redacted. */
  url: string
  now: number
}

/** What the far side answered; recorded as the outbox item's result. */
export interface SentEmail {
  transport: 'smtp' | 'dev_mailbox'
  message_id: string
  response?: string
}

export interface Mailer {
  send(email: OutgoingEmail): Promise<SentEmail>
  close(): void
}

export interface MailLog {
  info(obj: object, msg: string): void
}

const messageIdFor = (outboxId: string, publicUrl: string) => `<${outboxId}@${new URL(publicUrl).hostname}>`

/**
 * SMTP through one pooled nodemailer transport for the whole process: connections are reused
 * across emails instead of a TCP and TLS handshake each.
 */
export function smtpMailer({ smtpUrl, from, publicUrl }: { smtpUrl: string; from: string; publicUrl: string }): Mailer {
  // Every send ends well within the outbox claim's lease (see app.ts): a send that outlived
  // it could be claimed and sent again by another process.
  const transport = nodemailer.createTransport({
    url: smtpUrl, pool: true, maxConnections: 10, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 15_000,
  } as Parameters<typeof nodemailer.createTransport>[0])
  return {
    async send(email) {
      const info = await transport.sendMail({
        from,
        // Always the invitation's stored address, validated when the invitation was created.
        to: email.to,
        subject: email.subject,
        html: email.html,
        text: email.text,
        // The same id on every attempt lets a receiving server or client drop a duplicate.
        messageId: messageIdFor(email.outboxId, publicUrl),
      })
      return { transport: 'smtp', message_id: String(info.messageId), response: String(info.response ?? '') }
    },
    close: () => transport.close(),
  }
}

/** Without SMTP_URL: messages are kept in the database for /dev/mailbox, and where to read each one is logged. */
export function devMailbox({ db, store, publicUrl, log }: { db: Db; store: EmailStore; publicUrl: string; log: () => MailLog }): Mailer {
  return {
    async send(email) {
      await store.insertDevMessage(db, {
        id: email.outboxId, instance_id: email.instanceId, subject_id: email.subjectId, template_slug: email.templateSlug,
        to_address: email.to, subject: email.subject, html: email.html, text: email.text, created_at: email.now,
      })
      // Logs reach people and systems the mailbox's operators-only rule does not: the line
      // names the page and the mailbox entry, never a working ticket.
      log().info({ to: email.to, subject: email.subject, url: redactSecrets(email.url), mailbox: `${publicUrl}/dev/mailbox/${email.outboxId}` }, 'dev mailbox: email stored')
      return { transport: 'dev_mailbox', message_id: messageIdFor(email.outboxId, publicUrl) }
    },
    close: () => {},
  }
}
