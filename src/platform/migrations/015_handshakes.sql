-- The handshake's nonce carrier: the directives an application fetches once with its secret key
-- (GET /v1/clients/handshake_payload). Only the nonce's hash is kept. A nonce answers for a few
-- seconds after its first use (a reload of the page that carried it), then never again.
create table handshake_nonces (
  nonce_hash text primary key,
  instance_id text not null references instances (id) on delete cascade,
  directives jsonb not null,
  created_at bigint not null,
  expires_at bigint not null,
  first_used_at bigint
);
create index handshake_nonces_expires on handshake_nonces (expires_at);

-- The organization a session acts in: its session tokens carry it (`o`), so the application
-- sees orgId and orgRole. Set when the session's person joins an organization by invitation.
alter table sessions add column active_organization_id text;
