-- Operator account security: one-time codes (TOTP) with recovery codes, a dashboard-wide rule
-- requiring them, sessions an operator can see and end, and password resets by email.

-- The TOTP secret, sealed with the server secret (src/platform/secrets.ts `seal`): a copy of
-- the database alone yields no codes. Set with enabled_at null while enrolment awaits its
-- first code; the last accepted time step refuses that code (and any earlier one) again.
alter table operators add column totp_secret text;
alter table operators add column totp_enabled_at bigint;
alter table operators add column totp_last_step bigint;

-- Single-use codes for an operator who lost their authenticator; sha256 of each, never the code.
create table operator_recovery_codes (
  operator_id text not null references operators (id) on delete cascade,
  code_hash text not null,
  created_at bigint not null,
  used_at bigint,
  primary key (operator_id, code_hash)
);

-- Between a correct password and a correct code: not a session, it opens nothing but the code form.
create table operator_sign_in_challenges (
  -- sha256 of the token in the short-lived cookie
  token_hash text primary key,
  operator_id text not null references operators (id) on delete cascade,
  created_at bigint not null,
  expires_at bigint not null,
  failed_attempts integer not null default 0
);
create index operator_sign_in_challenges_operator on operator_sign_in_challenges (operator_id);

-- Settings of the dashboard as a whole: at most one row, written on the first change (no row
-- reads as every default).
create table dashboard_settings (
  id boolean primary key default true check (id),
  require_totp boolean not null default false,
  updated_at bigint not null
);

-- Sessions an operator can tell apart and end one by one. The id names a session in forms
-- (the token's hash is never sent anywhere); sessions from before get one derived from it.
alter table operator_sessions add column id text;
update operator_sessions set id = 'opss_' || substr(md5(token_hash), 1, 27);
alter table operator_sessions alter column id set not null;
create unique index operator_sessions_id on operator_sessions (id);
alter table operator_sessions add column last_seen_at bigint;
alter table operator_sessions add column ip text;
alter table operator_sessions add column user_agent text;

-- Password resets by email. The link's token is HMAC(server secret, id + nonce), derived again
-- when the email is sent (the outbox holds only the id) and stored here only as its sha256.
create table operator_password_resets (
  id text primary key,
  operator_id text not null references operators (id) on delete cascade,
  nonce text not null,
  token_hash text not null unique,
  created_at bigint not null,
  expires_at bigint not null,
  used_at bigint
);
create index operator_password_resets_operator on operator_password_resets (operator_id, created_at);
