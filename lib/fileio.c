/* Whole-file reads with a size cap, and atomic writes (temp, fsync, rename). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

bo_status Bo_read_file(const char *path, int64_t max_bytes, unsigned char **buf, size_t *len,
		       struct bo_error *err)
{
	bo_status rc = BO_OK;
	unsigned char *data = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	*buf = NULL;
	*len = 0;
	if (fd < 0) {
		Bo_error_where(err, path, NULL, NULL, NULL);
		return Bo_fail(err, errno == ENOENT ? BO_ENOENT : BO_EIO, "cannot open: %s",
			       strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		Bo_error_where(err, path, NULL, NULL, NULL);
		rc = Bo_fail(err, BO_EIO, "not a regular file");
		goto out;
	}
	if (max_bytes > 0 && st.st_size > max_bytes) {
		Bo_error_where(err, path, NULL, NULL, NULL);
		rc = Bo_fail(err, BO_ELIMIT, "file is %lld bytes, over the limit of %lld",
			     (long long)st.st_size, (long long)max_bytes);
		goto out;
	}
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!data) {
		rc = Bo_fail(err, BO_ENOMEM, "cannot allocate %lld bytes", (long long)st.st_size);
		goto out;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t k = read(fd, data + got, (size_t)st.st_size - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			Bo_error_where(err, path, NULL, NULL, NULL);
			rc = Bo_fail(err, BO_EIO, "read failed: %s", k ? strerror(errno) : "short file");
			goto out;
		}
		got += (size_t)k;
	}
	*buf = data;
	*len = got;
	data = NULL;
out:
	free(data);
	close(fd);
	return rc;
}

bo_status Bo_write_file_atomic(const char *path, const void *data, size_t len,
			       struct bo_error *err)
{
	bo_status rc = BO_OK;
	char tmp[4096];
	int fd = -1;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return Bo_fail(err, BO_EINVAL, "path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		Bo_error_where(err, path, NULL, NULL, NULL);
		return Bo_fail(err, BO_EIO, "cannot create %s: %s", tmp, strerror(errno));
	}
	const unsigned char *p = data;
	size_t done = 0;
	while (done < len) {
		ssize_t k = write(fd, p + done, len - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			Bo_error_where(err, path, NULL, NULL, NULL);
			rc = Bo_fail(err, BO_EIO, "write failed: %s", strerror(errno));
			goto out;
		}
		done += (size_t)k;
	}
	if (fsync(fd) != 0) {
		Bo_error_where(err, path, NULL, NULL, NULL);
		rc = Bo_fail(err, BO_EIO, "fsync failed: %s", strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		Bo_error_where(err, path, NULL, NULL, NULL);
		rc = Bo_fail(err, BO_EIO, "close failed: %s", strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		Bo_error_where(err, path, NULL, NULL, NULL);
		rc = Bo_fail(err, BO_EIO, "rename failed: %s", strerror(errno));
		goto out;
	}
	{
		/* Make the rename itself durable. */
		char dirbuf[4096];
		snprintf(dirbuf, sizeof(dirbuf), "%s", path);
		int dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	return rc;
}
