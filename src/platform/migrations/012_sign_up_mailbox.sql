-- The inbox each sign-up attempt's code email goes to (mailboxOf: no +tag, and no dots at
-- providers that ignore them), so that the hourly limit on code emails counts one person's
-- inbox, not each spelling of its address. Older attempts count by their address.
alter table sign_up_attempts add column mailbox text;
update sign_up_attempts set mailbox = email_address where mailbox is null;
alter table sign_up_attempts alter column mailbox set not null;
create index sign_up_attempts_instance_mailbox on sign_up_attempts (instance_id, mailbox, created_at);
