/* brownout sweep --journal FILE: a record of finished trials, so that a
 * sweep killed by SIGTERM or preempted in a batch job resumes where it
 * stopped, with identical results.
 *
 * Design. The file is text, one line per finished trial after a header:
 *
 *   brownout-journal 1 FINGERPRINT
 *   P TRIAL CORRECT IMAGES
 *
 * P is the point's p as a C99 hexadecimal float (exact), FINGERPRINT the
 * SHA-256 (hex) of what decides a trial's outcome (the model file's bytes
 * and the options that change faults or images; see sweep_cmd.c). A trial
 * is keyed by (p, trial), never by the point's position (spec section 4),
 * so a journal also serves a sweep with more points or trials. Each line is
 * written with one write(2) and fsync'd before the sweep goes on, so a kill
 * loses at most the trial in flight; a torn last line (no newline) is cut
 * off when the journal is reopened. A journal whose fingerprint differs is
 * refused, never mixed. Trials read at open are sorted for bsearch; trials
 * recorded in this run are never looked up again. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"

#define JOURNAL_MAGIC "brownout-journal 1 "
#define JOURNAL_MAX_BYTES (1LL << 30)

struct entry {
	double p;
	int trial;
	int64_t correct, images;
};

struct cli_journal {
	char path[1024];
	int fd;
	struct entry *e;
	size_t n;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->p != y->p)
		return x->p < y->p ? -1 : 1;
	return (x->trial > y->trial) - (x->trial < y->trial);
}

__attribute__((format(printf, 4, 5))) static bo_status
jfail(struct bo_error *err, bo_status st, const char *path, const char *fmt, ...)
{
	va_list ap;
	bo_error_clear(err);
	err->status = st;
	snprintf(err->file, sizeof(err->file), "%.255s", path);
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return st;
}

static bo_status write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return BO_EIO;
		buf += w;
		n -= (size_t)w;
	}
	return fsync(fd) ? BO_EIO : BO_OK;
}

/* Parse the lines after the header; `len` excludes a torn last line. */
static bo_status parse(struct cli_journal *j, char *text, size_t len, struct bo_error *err)
{
	size_t cap = 0;
	char *line = text;
	int lineno = 2;
	while (line < text + len) {
		char *nl = memchr(line, '\n', (size_t)(text + len - line));
		*nl = 0;
		struct entry e;
		long long c, im;
		char *end;
		e.p = strtod(line, &end);
		if (end == line || sscanf(end, " %d %lld %lld", &e.trial, &c, &im) != 3 || e.trial < 0 ||
		    c < 0 || im <= 0 || c > im || !(e.p >= 0 && e.p <= 1)) {
			return jfail(err, BO_EMALFORMED, j->path,
				     "line %d is not 'P TRIAL CORRECT IMAGES'", lineno);
		}
		e.correct = c;
		e.images = im;
		if (j->n == cap) {
			cap = cap ? 2 * cap : 256;
			struct entry *ne = realloc(j->e, cap * sizeof(*ne));
			if (!ne)
				return jfail(err, BO_ENOMEM, j->path, "out of memory");
			j->e = ne;
		}
		j->e[j->n++] = e;
		line = nl + 1;
		lineno++;
	}
	qsort(j->e, j->n, sizeof(*j->e), entry_cmp);
	return BO_OK;
}

bo_status cli_journal_open(const char *path, const char *fingerprint, struct cli_journal **out,
			   struct bo_error *err)
{
	bo_status rc = BO_OK;
	char *text = NULL;
	struct cli_journal *j = calloc(1, sizeof(*j));
	char header[128];
	*out = NULL;
	if (!j)
		return jfail(err, BO_ENOMEM, path, "out of memory");
	j->fd = -1;
	snprintf(j->path, sizeof(j->path), "%s", path);
	snprintf(header, sizeof(header), JOURNAL_MAGIC "%s\n", fingerprint);
	j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	struct stat st;
	if (j->fd < 0 || fstat(j->fd, &st)) {
		rc = jfail(err, BO_EIO, path, "cannot open the journal: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > JOURNAL_MAX_BYTES) {
		rc = jfail(err, BO_ELIMIT, path, "the journal is not a regular file under 1 GiB");
		goto out;
	}
	if (st.st_size == 0) { /* a new journal */
		if (write_all(j->fd, header, strlen(header)))
			rc = jfail(err, BO_EIO, path, "cannot write the journal: %s", strerror(errno));
		goto out;
	}
	size_t size = (size_t)st.st_size;
	if (!(text = malloc(size + 1))) {
		rc = jfail(err, BO_ENOMEM, path, "out of memory");
		goto out;
	}
	if (pread(j->fd, text, size, 0) != (ssize_t)size) {
		rc = jfail(err, BO_EIO, path, "cannot read the journal: %s", strerror(errno));
		goto out;
	}
	text[size] = 0;
	size_t hlen = strlen(header);
	if (size < hlen || memcmp(text, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC))) {
		rc = jfail(err, BO_EMALFORMED, path, "not a brownout sweep journal");
		goto out;
	}
	if (memcmp(text, header, hlen)) {
		rc = jfail(err, BO_EMISMATCH, path,
			   "the journal was written by another sweep (the model or an option "
			   "that changes the trials differs); use another file or remove it");
		goto out;
	}
	/* complete lines only: a kill during a write leaves a torn last line */
	size_t len = size;
	while (len > hlen && text[len - 1] != '\n')
		len--;
	if (len < size && ftruncate(j->fd, (off_t)len)) {
		rc = jfail(err, BO_EIO, path, "cannot repair the journal: %s", strerror(errno));
		goto out;
	}
	rc = parse(j, text + hlen, len - hlen, err);
out:
	free(text);
	if (!rc && lseek(j->fd, 0, SEEK_END) < 0)
		rc = jfail(err, BO_EIO, path, "cannot seek in the journal: %s", strerror(errno));
	if (rc)
		cli_journal_close(j);
	else
		*out = j;
	return rc;
}

void cli_journal_close(struct cli_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->e);
	free(j);
}

size_t cli_journal_count(const struct cli_journal *j)
{
	return j ? j->n : 0;
}

static int known(void *ctx, double p, int trial, int64_t *correct, int64_t *images)
{
	const struct cli_journal *j = ctx;
	struct entry key = { p, trial, 0, 0 };
	const struct entry *e = j->n ? bsearch(&key, j->e, j->n, sizeof(*j->e), entry_cmp) : NULL;
	if (!e)
		return 0;
	*correct = e->correct;
	*images = e->images;
	return 1;
}

static bo_status record(void *ctx, double p, int trial, int64_t correct, int64_t images,
			struct bo_error *err)
{
	struct cli_journal *j = ctx;
	char line[128];
	int n = snprintf(line, sizeof(line), "%a %d %lld %lld\n", p, trial, (long long)correct,
			 (long long)images);
	if (write_all(j->fd, line, (size_t)n))
		return jfail(err, BO_EIO, j->path, "cannot write the journal: %s", strerror(errno));
	return BO_OK;
}

void cli_journal_hook(struct cli_journal *j, struct bo_trial_journal *hook)
{
	hook->known = known;
	hook->record = record;
	hook->ctx = j;
}
