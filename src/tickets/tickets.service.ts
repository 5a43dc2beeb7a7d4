import { deriveTicket, newNonce, sha256 } from '../platform/secrets.js'

export interface IssuedTicket {
  nonce: string
  hash: string
}

/**
 * Tickets are derived, never stored: HMAC(server secret, "<id>:<nonce>"). The database keeps
 * the nonce (to derive the link again for every read) and the ticket's hash (to find the
 * invitation when the link is followed). Rotating the nonce kills every earlier link.
 */
export function createTicketService({ serverSecret, publicUrl }: { serverSecret: Buffer; publicUrl: string }) {
  const ticketFor = (subjectId: string, nonce: string) => deriveTicket(serverSecret, subjectId, nonce)
  // Every read of an invitation carries its link: a page of 20 costs 20 HMACs. Pages are read
  // again and again, so recent links are kept. The key includes the nonce, so a re-issued
  // invitation can never be answered with its dead link.
  const recent = new Map<string, string>()
  const RECENT_MAX = 10_000
  return {
    issue(subjectId: string): IssuedTicket {
      const nonce = newNonce()
      return { nonce, hash: sha256(ticketFor(subjectId, nonce)) }
    },
    url(subject: { id: string; ticket_nonce: string }): string {
      const key = `${subject.id}:${subject.ticket_nonce}`
      let url = recent.get(key)
      if (url === undefined) {
        url = `${publicUrl}/v1/tickets/accept?ticket=${ticketFor(subject.id, subject.ticket_nonce)}`
        if (recent.size >= RECENT_MAX) recent.delete(recent.keys().next().value!)
        recent.set(key, url)
      }
      return url
    },
    hash: (ticket: string) => sha256(ticket),
  }
}

export type TicketService = ReturnType<typeof createTicketService>
