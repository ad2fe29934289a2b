/* brownoutd's SLURM launcher (slurm.c): `brownout worker` array jobs
 * submitted with sbatch while tasks wait, cancelled when the queue drains
 * and when the daemon stops. */
#ifndef BROWNOUTD_SLURM_H
#define BROWNOUTD_SLURM_H

#include <jansson.h>
#include <stddef.h>

#include "brownoutd.h"

/* The user the launcher's short-lived worker tokens belong to. */
#define BO_SLURM_USER "brownoutd-slurm"
/* A token's life; renewed while its job is in squeue (seconds). */
#define BO_SLURM_TOKEN_SECONDS 900

struct bd_slurm;

/* Check the configuration (the template is a readable file) and make the
 * launcher; before the HTTP server starts (GET /workers reads it). */
bo_status bd_slurm_new(struct bd_daemon *d, struct bd_slurm **out, struct bo_error *err);
/* Start its thread. port: the port brownoutd listens on (for the default
 * slurm-server-url). */
bo_status bd_slurm_start(struct bd_slurm *s, int port, struct bo_error *err);
/* Tasks were queued: look now rather than at the next poll. NULL-safe. */
void bd_slurm_wake(struct bd_slurm *s);
/* Stop the thread, scancel every job it submitted and revoke their
 * tokens, free. NULL-safe. */
void bd_slurm_stop(struct bd_slurm *s);
/* What GET /api/v1/workers shows of it: jobs, workers, the last error. */
json_t *bd_slurm_status(struct bd_slurm *s);

/* ---- the parts, for tests ---- */

/* Run argv (argv[0] looked up on PATH, no shell) with environment envp
 * (NULL: this process's),
 * stdin /dev/null, stdout and stderr together into out (NUL-terminated; at
 * most size - 1 bytes kept, the rest read and dropped), at most timeout_s
 * seconds (then SIGKILL). *status: the exit status, 128 + signal when
 * killed, -1 when it could not start. Returns 0, or -1 (did not start, or
 * timed out) with err saying why. */
int bd_slurm_run(char *const argv[], char *const envp[], double timeout_s, char *out,
		 size_t size, int *status, struct bo_error *err);

/* sbatch --parsable's answer "ID" or "ID;CLUSTER" (and a newline): the job
 * id into id (digits only). 0, or -1 when it is not one. */
int bd_slurm_parse_sbatch(const char *out, char *id, size_t size);

/* Count the array tasks of job `id` in `squeue -h -r -o '%F|%T'` output
 * (one "ARRAYJOBID|STATE" line each): pending (PENDING, REQUEUED...),
 * running (RUNNING, CONFIGURING, SUSPENDED, ...). COMPLETING tasks are
 * neither. Returns the number of its lines (0: the job has left squeue). */
int bd_slurm_count(const char *squeue_out, const char *id, int *pending, int *running);

#endif
