import { SMTPServer } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'
import type { AddressInfo } from 'node:net'

export interface ReceivedMail {
  envelopeTo: string[]
  mail: ParsedMail
}

/** A real SMTP server on 127.0.0.1 that parses and keeps every message it accepts. */
export async function startSmtpSink(port = 0, messages: ReceivedMail[] = []) {
  const server = new SMTPServer({
    authOptional: true,
    // A bare local server: no self-signed STARTTLS for the client to trip over, no AUTH.
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    // Pooled client connections stay open; on stop they are cut rather than waited for.
    closeTimeout: 10,
    onData(stream, session, callback) {
      simpleParser(stream).then((mail) => {
        messages.push({ envelopeTo: session.envelope.rcptTo.map((r) => r.address), mail })
        callback()
      }, callback)
    },
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const address = (server as unknown as { server: { address(): AddressInfo } }).server.address()
  return {
    port: address.port,
    messages,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

export type SmtpSink = Awaited<ReturnType<typeof startSmtpSink>>
