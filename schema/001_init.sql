-- brownoutd schema, version 1: users and tokens, models, datasets, jobs,
-- their tasks and results, events. Timestamps are RFC 3339 UTC text.

CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	is_admin INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL
);

-- only the SHA-256 (hex) of a token is stored; the token is shown once
CREATE TABLE tokens (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	hash TEXT NOT NULL UNIQUE,
	created_at TEXT NOT NULL
);

-- a deleted model keeps its row (finished jobs still name it) but loses
-- its file: deleted_at is set
CREATE TABLE models (
	id INTEGER PRIMARY KEY,
	owner_id INTEGER NOT NULL REFERENCES users(id),
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	sha256 TEXT NOT NULL,
	size INTEGER NOT NULL,
	path TEXT NOT NULL,            -- relative to the data directory
	mean TEXT,                     -- JSON array, NULL: the model's metadata
	std TEXT,
	blocks TEXT,                   -- block map as --blocks takes it, or NULL
	info TEXT NOT NULL,            -- JSON, as `brownout info --json` gives it
	created_at TEXT NOT NULL,
	deleted_at TEXT
);

CREATE TABLE datasets (
	id INTEGER PRIMARY KEY,
	owner_id INTEGER NOT NULL REFERENCES users(id),
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	source TEXT NOT NULL CHECK (source IN ('upload', 'path')),
	format TEXT NOT NULL,          -- idx | cifar | npy | dir
	path TEXT NOT NULL,            -- upload: relative to the data directory
	labels_path TEXT,              -- npy/idx uploads: the labels file
	split TEXT NOT NULL DEFAULT 'test',
	images INTEGER NOT NULL,
	shape TEXT NOT NULL,           -- JSON [C, H, W]
	size INTEGER NOT NULL DEFAULT 0,
	sha256 TEXT,
	created_at TEXT NOT NULL,
	deleted_at TEXT
);

-- AUTOINCREMENT: a deleted job's id is never given to another job
CREATE TABLE jobs (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	owner_id INTEGER NOT NULL REFERENCES users(id),
	model_id INTEGER NOT NULL REFERENCES models(id),
	dataset_id INTEGER NOT NULL REFERENCES datasets(id),
	state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
	priority INTEGER NOT NULL DEFAULT 0,
	spec TEXT NOT NULL,            -- the normalised sweep spec, JSON
	idempotency_key TEXT,
	request_hash TEXT,             -- SHA-256 of the request body
	points INTEGER NOT NULL,
	clean_accuracy REAL,           -- set by the first task that runs
	parameters INTEGER,
	activations INTEGER,
	images_per_trial INTEGER,
	point_info TEXT,               -- JSON {"points": [{"p", "eta", "energy"}], "mean", "std"}
	error TEXT,
	created_at TEXT NOT NULL,
	started_at TEXT,
	finished_at TEXT,
	UNIQUE (owner_id, idempotency_key)
);
CREATE INDEX jobs_state ON jobs(state);
CREATE INDEX jobs_owner ON jobs(owner_id, id);
CREATE INDEX jobs_model ON jobs(model_id);

-- reliable reference models of a job (iso-accuracy, spec section 6) and
-- their clean accuracy once evaluated
CREATE TABLE job_references (
	job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	model_id INTEGER NOT NULL REFERENCES models(id),
	correct INTEGER,
	images INTEGER,
	parameters INTEGER,
	activations INTEGER,
	PRIMARY KEY (job_id, position)
);

-- a task is one point x a range of trials [trial_lo, trial_hi), or the
-- clean evaluation of reference `point` (kind 'reference')
CREATE TABLE tasks (
	id INTEGER PRIMARY KEY,
	job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	kind TEXT NOT NULL CHECK (kind IN ('trials', 'reference')),
	point INTEGER NOT NULL,
	trial_lo INTEGER NOT NULL,
	trial_hi INTEGER NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done')),
	attempts INTEGER NOT NULL DEFAULT 0,
	started_at TEXT,
	finished_at TEXT
);
CREATE INDEX tasks_job ON tasks(job_id, state);
CREATE INDEX tasks_state ON tasks(state);

-- one row per finished trial: correctly classified images of `images`
CREATE TABLE results (
	job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	point INTEGER NOT NULL,
	trial INTEGER NOT NULL,
	correct INTEGER NOT NULL,
	images INTEGER NOT NULL,
	PRIMARY KEY (job_id, point, trial)
);

CREATE TABLE events (
	id INTEGER PRIMARY KEY,
	job_id INTEGER REFERENCES jobs(id) ON DELETE CASCADE,
	at TEXT NOT NULL,
	kind TEXT NOT NULL,
	message TEXT NOT NULL
);
CREATE INDEX events_job ON events(job_id, id);
