-- Bans and locks. A banned user never signs in until unbanned; a locked one not before
-- `locked_until` (instance time), set by the Backend API or by too many wrong passwords in a row.
alter table users add column banned boolean not null default false;
alter table users add column locked_until bigint;
-- Wrong passwords since the last successful sign-in, unlock or lockout.
alter table users add column failed_sign_ins integer not null default 0;
-- {enabled, max_attempts, duration_in_minutes}, merged over Clerk's defaults like rate_limits.
alter table instances add column user_lockout jsonb not null default '{}'::jsonb;
