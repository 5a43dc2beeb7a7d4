-- A sign-in that named its identifier and waits for its first factor (clerk-js's
-- signIn.create({identifier}) then attemptFirstFactor({strategy: 'password', password})).
-- Nothing is looked up when it starts: whether the identifier has an account is said only to
-- the attempt with the password, which the sign-in throttle counts.
create table sign_in_attempts (
  id text primary key,
  instance_id text not null references instances (id) on delete cascade,
  -- as sent, trimmed and lower-cased
  identifier text not null,
  -- 'needs_first_factor' | 'complete'
  status text not null default 'needs_first_factor',
  created_session_id text,
  -- wall time after which it can no longer be completed (Clerk's abandon_at)
  abandon_at bigint not null,
  created_at bigint not null,
  updated_at bigint not null
);
