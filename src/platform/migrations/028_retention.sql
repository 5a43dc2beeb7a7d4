-- Retention: delivered outbox items (with their webhook delivery log and attempts) and the
-- dev mailbox are pruned after a configured number of days, failed items after a longer one.
-- Each prune walks one of these indexes from its oldest end, so it never scans the table.
create index outbox_delivered on outbox (kind, delivered_at) where status = 'delivered';
create index outbox_failed on outbox (updated_at) where status = 'failed';
-- Code emails are counted for an hour (the hourly limit per inbox), then kept a day at most.
create index sign_up_code_emails_sent on sign_up_code_emails (sent_at);

-- Erasure: deleting a user or an invitation deletes the person's sign-ups, sign-ins and code
-- emails by their address, through these rather than by scanning.
create index sign_in_attempts_instance_identifier on sign_in_attempts (instance_id, identifier);
create index ticket_sign_ups_instance_email on ticket_sign_ups (instance_id, email_address);
create index sign_up_code_emails_attempt on sign_up_code_emails (attempt_id);
