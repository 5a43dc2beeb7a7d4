-- Clerk's allowlist and blocklist, one table for both. `identifier` is a lower-cased email
-- address or a whole domain written `*@example.com`.
create table listed_identifiers (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  list text not null check (list in ('allowlist', 'blocklist')),
  identifier text not null,
  -- The invitation an allowlist entry created with `notify: true` sent.
  invitation_id text references invitations (id) on delete set null,
  created_at bigint not null,
  updated_at bigint not null,
  unique (instance_id, list, identifier)
);
