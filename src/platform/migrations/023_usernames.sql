-- Usernames (Clerk's `username` identifier), where the instance enables them. Stored
-- lower-cased, as Clerk stores them, so that uniqueness per instance ignores case.
alter table users add column username text;
create unique index users_instance_username on users (instance_id, username) where username is not null;
-- {enabled, required}, merged over the defaults (off) like user_lockout.
alter table instances add column username_settings jsonb not null default '{}'::jsonb;
-- The username a sign-up gives, kept until the sign-up completes and the user is created.
alter table sign_up_attempts add column username text;
alter table ticket_sign_ups add column username text;
