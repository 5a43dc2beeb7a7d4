-- GET /v1/sessions lists an instance's sessions newest first, with or without a user: without
-- this index that reads every session of every instance. Sessions revoked through the Backend
-- API keep status 'revoked' (the column takes 'active' | 'ended' | 'revoked').
create index sessions_instance_created on sessions (instance_id, created_at desc, id desc);
