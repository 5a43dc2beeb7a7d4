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
  return {
    issue(subjectId: string): IssuedTicket {
      const nonce = newNonce()
      return { nonce, hash: sha256(ticketFor(subjectId, nonce)) }
    },
    url(subject: { id: string; ticket_nonce: string }): string {
      return `${publicUrl}/v1/tickets/accept?ticket=${ticketFor(subject.id, subject.ticket_nonce)}`
    },
    hash: (ticket: string) => sha256(ticket),
  }
}

export type TicketService = ReturnType<typeof createTicketService>
