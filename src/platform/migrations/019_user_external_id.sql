-- The id a user has in the operator's own systems (Clerk's external_id): unique per instance,
-- so an operator can look their user up by it without ambiguity.
alter table users add column external_id text;
create unique index users_instance_external_id on users (instance_id, external_id) where external_id is not null;
-- When the password was last set (Clerk's password_last_updated_at); a password could only be
-- set at creation before users could be updated.
alter table users add column password_updated_at bigint;
update users set password_updated_at = created_at where password_hash is not null;
