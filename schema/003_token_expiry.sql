-- brownoutd schema, version 3: tokens that expire (daemon/slurm.c). The
-- SLURM launcher mints a worker token for each array job it submits, with
-- expires_at (Unix milliseconds) a few minutes ahead, renews it while the
-- job is in squeue and deletes it when the job ends or is cancelled; a
-- token past expires_at is refused like an unknown one. NULL: never expires
-- (the tokens `brownoutd token create` prints).
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
