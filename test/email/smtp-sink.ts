import { SMTPServer } from 'smtp-server'
import { simpleParser, type ParsedMail } from 'mailparser'
import type { AddressInfo } from 'node:net'

export interface ReceivedMail {
  envelopeTo: string[]
  mail: ParsedMail
}

export interface SmtpSinkOptions {
  /**
   * Holds each message this long after its DATA has arrived before answering 250, the way a
   * slow server would: the sender's worker keeps its items claimed meanwhile. The message is
   * kept (counted as accepted) at the end of the delay, even if the sender died during it: a
   * server that accepted a message whose answer never reached the sender is what makes a
   * resend a duplicate.
   */
  delayMs?: number
}

/** A real SMTP server on 127.0.0.1 that parses and keeps every message it accepts. */
export async function startSmtpSink(port = 0, messages: ReceivedMail[] = [], options: SmtpSinkOptions = {}) {
  const delayMs = options.delayMs ?? 0
  const server = new SMTPServer({
    authOptional: true,
    // A bare local server: no self-signed STARTTLS for the client to trip over, no AUTH.
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    // Pooled client connections stay open; on stop they are cut rather than waited for.
    closeTimeout: 10,
    onData(stream, session, callback) {
      simpleParser(stream).then(async (mail) => {
        if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
        messages.push({ envelopeTo: session.envelope.rcptTo.map((r) => r.address), mail })
        callback()
      }, callback)
    },
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  // A client that dies mid-session (a killed sender) resets its connection; smtp-server
  // reports that as an 'error' event, which without a listener would crash the test process.
  const connectionErrors: Error[] = []
  server.on('error', (err) => { connectionErrors.push(err) })
  const address = (server as unknown as { server: { address(): AddressInfo } }).server.address()
  return {
    port: address.port,
    messages,
    /** Errors of client connections (resets and the like), kept rather than thrown. */
    connectionErrors,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

export type SmtpSink = Awaited<ReturnType<typeof startSmtpSink>>
