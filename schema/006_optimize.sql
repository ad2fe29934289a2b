-- brownoutd schema: optimize jobs (daemon/optjob.c, docs/optimizer.md).
--
-- An optimize job's search runs in one worker thread; every trial it
-- evaluates is memoised here, keyed by the allocation (the blocks' p as
-- text, %.17g joined by commas), the stream's seed and the trial, one
-- transaction per evaluate() call. The search is deterministic, so a job
-- that was interrupted replays from the start and finds every finished
-- evaluation here instead of running it again.
CREATE TABLE opt_trials (
	job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	alloc TEXT NOT NULL,
	seed INTEGER NOT NULL,
	trial INTEGER NOT NULL,
	correct INTEGER NOT NULL,
	images INTEGER NOT NULL,
	PRIMARY KEY (job_id, alloc, seed, trial)
);

-- Its progress while it runs (JSON: phase, candidates, trials, budget,
-- best E/E_o and accuracy; trials evaluated and found cached by this run)
-- and its result once done (JSON, as `brownout optimize --json`).
CREATE TABLE opt_state (
	job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
	progress TEXT,
	result TEXT
);
