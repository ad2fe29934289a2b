/* brownout sweep --journal: finished trials on disk (journal.c). */
#ifndef BO_CLI_JOURNAL_H
#define BO_CLI_JOURNAL_H

#include <stddef.h>

#include <brownout/brownout.h>

struct cli_journal;

/* Open or create the journal at path for a sweep whose trials are decided
 * by `fingerprint` (hex). An existing journal with another fingerprint is
 * refused (BO_EMISMATCH); a torn last line is cut off. */
bo_status cli_journal_open(const char *path, const char *fingerprint, struct cli_journal **out,
			   struct bo_error *err);
void cli_journal_close(struct cli_journal *j);
/* Trials read from the file when it was opened. */
size_t cli_journal_count(const struct cli_journal *j);
/* Fill hook so that bo_sweep_run reads and records trials through j. */
void cli_journal_hook(struct cli_journal *j, struct bo_trial_journal *hook);

#endif
