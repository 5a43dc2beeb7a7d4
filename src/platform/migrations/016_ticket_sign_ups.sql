-- A sign-up with an invitation ticket that is still missing its password: clerk-js sends the
-- ticket first (POST /v1/client/sign_ups) and the password later (PATCH …/sign_ups/{id}).
-- The ticket is consumed only when the sign-up completes; until then only its hash is kept,
-- the same hash the invitation keeps, so that a database dump holds no usable ticket.
create table ticket_sign_ups (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  ticket_hash text not null,
  -- the hash of the secret in the sign-up cookie of the browser that started it: only that
  -- browser can finish it, so the id alone (which travels in URLs and logs) is no credential
  browser_hash text not null,
  -- the invited address, as the invitation had it when the sign-up started
  email_address text not null,
  first_name text,
  last_name text,
  unsafe_metadata jsonb not null default '{}',
  -- 'pending' | 'complete'
  status text not null default 'pending',
  created_user_id text,
  created_session_id text,
  -- instance time after which it can no longer be completed (Clerk's abandon_at)
  abandon_at bigint not null,
  created_at bigint not null,
  updated_at bigint not null
);
