-- Every code email of a sign-up: the one sent when it starts, and each new code asked for
-- later (prepare_verification). The hourly limit of code emails per inbox counts these rows;
-- it used to count sign-ups, each of which sent exactly one, which become a row each here.
create table sign_up_code_emails (
  attempt_id text not null references sign_up_attempts (id) on delete cascade,
  instance_id text not null references instances (id) on delete cascade,
  -- the attempt's inbox (see migration 012)
  mailbox text not null,
  -- instance time, as the attempts' own times
  sent_at bigint not null
);
create index sign_up_code_emails_instance_mailbox on sign_up_code_emails (instance_id, mailbox, sent_at);
insert into sign_up_code_emails (attempt_id, instance_id, mailbox, sent_at)
  select id, instance_id, mailbox, created_at from sign_up_attempts;
