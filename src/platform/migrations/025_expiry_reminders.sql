-- when the expiry sweep queued the invitation's `.expired` event; null: not yet
alter table invitations add column expired_event_at bigint;
alter table organization_invitations add column expired_event_at bigint;
-- when the sweep queued the invitation's reminder email; null: not yet (a resend clears it)
alter table invitations add column reminded_at bigint;
alter table organization_invitations add column reminded_at bigint;
-- days before expiry that a pending invitation's reminder goes out; 0: no reminders
alter table instances add column remind_before_expiry_days integer not null default 0;

-- Invitations that expired before this version never get an event: announcing them all at the
-- first sweep after an upgrade would send a burst of stale news.
update invitations set expired_event_at = expires_at
  where status = 'pending' and expires_at <= (extract(epoch from now()) * 1000)::bigint;
update organization_invitations set expired_event_at = expires_at
  where status = 'pending' and expires_at <= (extract(epoch from now()) * 1000)::bigint;

-- What the sweep reads: pending invitations still to announce or remind, by expiry.
create index invitations_expiry_due on invitations (expires_at) where status = 'pending' and expired_event_at is null;
create index organization_invitations_expiry_due on organization_invitations (expires_at) where status = 'pending' and expired_event_at is null;
create index invitations_reminder_due on invitations (expires_at) where status = 'pending' and reminded_at is null and notify;
create index organization_invitations_reminder_due on organization_invitations (expires_at) where status = 'pending' and reminded_at is null and notify;
