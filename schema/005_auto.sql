-- brownoutd schema: images_per_trial = auto in jobs (docs/fault-models.md
-- section 4a; daemon/queue.c's design comment).
--
-- A task's images per trial (NULL: the job's) and whether its trials are
-- a point's pilot (at n0 = min(N, 256) images; their counts and costs go to
-- `pilots`, not `results`, until the point's n is known).
ALTER TABLE tasks ADD COLUMN images INTEGER;
ALTER TABLE tasks ADD COLUMN pilot INTEGER NOT NULL DEFAULT 0;

-- A pilot trial of a point of an auto job: correct of `images` (n0), and
-- what it cost the executor that ran it, in seconds: its fixed part (the
-- weight faults, set-up) and its images. The point's n is
-- bo_design_auto_n of these, computed again whenever it is needed (a pure
-- function of the stored rows, so a restart gives the same n).
CREATE TABLE pilots (
	job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
	point INTEGER NOT NULL,
	trial INTEGER NOT NULL,
	correct INTEGER NOT NULL,
	images INTEGER NOT NULL,
	cost_trial REAL NOT NULL,
	cost_image REAL NOT NULL,
	PRIMARY KEY (job_id, point, trial)
);
