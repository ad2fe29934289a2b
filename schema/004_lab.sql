-- brownoutd schema, version 3: what a lab needs beside the sweeps
-- (docs/api.md, "Lab bookkeeping").
--
-- Jobs carry a name, free-text notes and tags (a JSON array of strings),
-- all settable at submission and by PATCH /api/v1/jobs/{id}.
ALTER TABLE jobs ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN notes TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

-- Models have versions under one name: an upload whose name its owner has
-- used before is version n+1 (deleted versions count: a number is never
-- given twice). Existing models are numbered in upload order.
ALTER TABLE models ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
UPDATE models SET version = (SELECT COUNT(*) FROM models m2 WHERE
	m2.owner_id = models.owner_id AND m2.name = models.name AND m2.id <= models.id);
CREATE UNIQUE INDEX models_version ON models(owner_id, name, version);

-- Tokens get an optional label (POST /api/v1/tokens), shown in lists.
ALTER TABLE tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';

-- An admin's DELETE /api/v1/users/{id} removes the user's tokens and marks
-- the user disabled (its models, datasets and jobs stay, under its name).
ALTER TABLE users ADD COLUMN disabled_at TEXT;
