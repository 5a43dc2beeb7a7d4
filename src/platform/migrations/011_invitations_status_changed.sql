-- The dashboard's overview counts invitations accepted and revoked per day by when that
-- happened (updated_at, the status change being an invitation's last write). Without this
-- index that count read every invitation of the instance; with it, only the window's, from
-- the index alone. Partial, so creating a (pending) invitation does not maintain it.
create index invitations_status_changed on invitations (instance_id, updated_at) include (status)
  where status in ('accepted', 'revoked');
