-- brownoutd schema, version 2: task leases (daemon/queue.c). A claimed
-- ('running') task holds a lease: a random id, who holds it, and until when
-- (Unix milliseconds; NULL: no deadline, the local pool's claims, which a
-- restart puts back to queued). Results commit only under the lease they
-- were claimed with, so a late result from an expired or taken-over lease
-- is refused and no trial counts twice.
ALTER TABLE tasks ADD COLUMN lease INTEGER;
ALTER TABLE tasks ADD COLUMN lease_holder TEXT;
ALTER TABLE tasks ADD COLUMN lease_deadline INTEGER;
CREATE UNIQUE INDEX tasks_lease ON tasks(lease);

-- worker tokens (brownoutd token create NAME --worker): they call only
-- /api/v1/worker/*, and user tokens cannot call those
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'worker'));
