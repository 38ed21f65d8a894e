/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the rmap-shadow selftests: load/unload the module, read
 * its debugfs files, watch the kernel log.
 */
#ifndef RMAP_SHADOW_UTIL_H
#define RMAP_SHADOW_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RS_DEBUGFS "/sys/kernel/debug/rmap_shadow"
#define RS_MODULE "rmap_shadow"

/* Path of rmap_shadow.ko: $RMAP_SHADOW_KO, else <dir of this program>/../rmap_shadow.ko. */
/*
 * RS_NEED_FEATURE(path, mode, what): a kernel feature the test needs
 * (@path accessible with @mode). On the project's debug kernel
 * (RS_EXPECT_DEBUG=1, set by scripts/test.sh) its absence is a failure;
 * on any other kernel (a user's own, the perf flavor) the test skips,
 * naming what is missing.
 */
static inline int rs_expect_debug(void)
{
	const char *e = getenv("RS_EXPECT_DEBUG");

	return e && !strcmp(e, "1");
}

#define RS_NEED_FEATURE(path, mode, what)                                          \
	do {                                                                       \
		if (access(path, mode)) {                                          \
			ASSERT_FALSE(rs_expect_debug())                            \
			TH_LOG("the debug kernel has no %s (%s)", what, path);     \
			SKIP(return, "this kernel has no %s (%s)", what, path);    \
		}                                                                  \
	} while (0)

static inline const char *rs_ko_path(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("RMAP_SHADOW_KO");
	ssize_t n;
	char *slash;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	if (n <= 0)
		return "rmap_shadow.ko";
	path[n] = 0;
	slash = strrchr(path, '/');
	if (slash)
		*slash = 0;
	/* selftests/out/<prog> or selftests/<prog>: walk up to the repo. */
	slash = strrchr(path, '/');
	if (slash && !strcmp(slash, "/out"))
		*slash = 0;
	strcat(path, "/../rmap_shadow.ko");
	return path;
}

/* finit_module() with @params; returns 0 or -errno. */
static inline int rs_load(const char *params)
{
	int fd = open(rs_ko_path(), O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params ? params : "", 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

/* delete_module() once; returns 0 or -errno (EBUSY/EAGAIN while in use). */
static inline int rs_unload_once(void)
{
	return syscall(SYS_delete_module, RS_MODULE, O_NONBLOCK) ? -errno : 0;
}

/*
 * delete_module(); returns 0 or -errno. The module is in use while a debugfs
 * file is open or a lock replay is pending (each pins it): retry for up to
 * 10 s, and after the first second stop new replays (`locks off`), as the
 * documentation tells a user unloading during a workload.
 */
static inline int rs_unload(void)
{
	int i, ret = 0;

	for (i = 0; i < 100; i++) {
		ret = rs_unload_once();
		if (!ret || (ret != -EAGAIN && ret != -EBUSY))
			return ret;
		if (i == 10) {
			int fd = open(RS_DEBUGFS "/locks", O_WRONLY);

			if (fd >= 0) {
				if (write(fd, "off", 3) < 0)
					ret = -errno;
				close(fd);
			}
		}
		usleep(100 * 1000);
	}
	return ret;
}

static inline int rs_loaded(void)
{
	return access("/sys/module/" RS_MODULE, F_OK) == 0;
}

/* Reads a whole debugfs file into a malloc()ed string; NULL and errno on failure. */
static inline char *rs_read_file(const char *path)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0 || !buf) {
		int e = errno;

		free(buf);
		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - len)) > 0) {
		len += n;
		if (len == cap) {
			char *nb = realloc(buf, 2 * cap + 1);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	buf[len] = 0;
	return buf;
}

/* Value of "key: value" in a status-style file, as a long long; -1 when missing. */
static inline long long rs_status_ll(const char *text, const char *key)
{
	const char *p = text;
	size_t kl = strlen(key);

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':')
			return strtoll(p + kl + 1, NULL, 0);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* Value of "key value" (a stats/memory row) as a long long; -1 when missing. */
static inline long long rs_status_ll_ws(const char *text, const char *key)
{
	const char *p = text;
	size_t kl = strlen(key);

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ' ')
			return strtoll(p + kl + 1, NULL, 0);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* Value string of "key: value" (copied into @out); 0 if found. */
static inline int rs_status_str(const char *text, const char *key, char *out, size_t outlen)
{
	const char *p = text;
	size_t kl = strlen(key);

	while (p && *p) {
		if (!strncmp(p, key, kl) && p[kl] == ':') {
			const char *v = p + kl + 1, *e;

			while (*v == ' ')
				v++;
			e = strchrnul(v, '\n');
			snprintf(out, outlen, "%.*s", (int)(e - v), v);
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* Highest id + 1 in a sysfs range list like "0-3,5" (what nr_*_ids mean). */
static inline long rs_sysfs_max_plus_one(const char *path)
{
	char *s = rs_read_file(path), *p;
	long max = -1;

	if (!s)
		return -1;
	for (p = s; *p;) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		if (v > max)
			max = v;
		p = end;
		if (*p == '-' || *p == ',')
			p++;
		else
			break;
	}
	free(s);
	return max + 1;
}

/* The kernel log from now on: open /dev/kmsg positioned at its end. */
static inline int rs_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/*
 * Reads every record logged since rs_kmsg_open() and counts the messages
 * containing @needle. Closes @fd.
 */
static inline int rs_kmsg_count(int fd, const char *needle)
{
	char rec[8192];
	int count = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EPIPE)
				continue;
			break;
		}
		rec[n] = 0;
		if (strstr(rec, needle))
			count++;
	}
	close(fd);
	return count;
}

/* Writes @s to a debugfs file in one write(); returns 0 or -errno. */
static inline int rs_write(const char *path, const char *s, size_t len)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;
	int e;

	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	e = errno;
	close(fd);
	if (n < 0)
		return -e;
	return n == (ssize_t)len ? 0 : -EIO;
}

static inline int rs_write_str(const char *path, const char *s)
{
	return rs_write(path, s, strlen(s));
}

/*
 * Whether paths @a and @b name the same file. The module names a file by the
 * path it first saw it through, and a guest can reach one file by several
 * (virtme-ng mounts /lib and /usr as separate overlays on a merged-/usr
 * root: libc is both /lib/... and /usr/lib/...): same name, or same base
 * name and same device and inode.
 */
/* Writes 1 MiB of @fill to @path at once: what rs_write() returns, or -ENOMEM. */
static inline int rs_write_big(const char *path, char fill)
{
	char *big = malloc(1 << 20);
	int ret;

	if (!big)
		return -ENOMEM;
	memset(big, fill, 1 << 20);
	ret = rs_write(path, big, 1 << 20);
	free(big);
	return ret;
}

/*
 * RS_SETUP_UNLOADED(): the start of every fixture that loads the module
 * itself: root (else skip), the module not loaded, its .ko readable.
 */
#define RS_SETUP_UNLOADED()                                                             \
	do {                                                                            \
		if (geteuid())                                                          \
			SKIP(return, "needs root");                                     \
		if (rs_loaded())                                                        \
			ASSERT_EQ(0, rs_unload());                                      \
		ASSERT_EQ(0, access(rs_ko_path(), R_OK)) TH_LOG("no module at %s", rs_ko_path()); \
	} while (0)

static inline int rs_same_file(const char *a, const char *b)
{
	const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
	struct stat sa, sb;

	if (!strcmp(a, b))
		return 1;
	if (!ba || !bb || strcmp(ba, bb))
		return 0;
	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

#define RS_MAX_TREES 1024

/* One row of the `files` table. */
struct rs_file_row {
	long long real, shadow;
	int trees, degraded;
	long long max, min;
	long long per_tree[RS_MAX_TREES];
};

/* Finds @path in `files` once; 0 if found. */
static inline int rs_file_row_once(const char *path, struct rs_file_row *row)
{
	char *text = rs_read_file(RS_DEBUGFS "/files"), *line, *save = NULL;
	int found = -1;

	if (!text)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[4096], list[16384], *p;
		int i = 0;

		if (sscanf(line, "%4095s %lld %lld %d %lld %lld %d %16383s", name, &row->real,
			   &row->shadow, &row->trees, &row->max, &row->min, &row->degraded,
			   list) != 8 || !rs_same_file(name, path))
			continue;
		for (p = list; *p && i < RS_MAX_TREES; i++) {
			row->per_tree[i] = strtoll(p, &p, 10);
			if (*p == ',')
				p++;
		}
		found = i == row->trees ? 0 : -1;
		break;
	}
	free(text);
	return found;
}

/* One row of the `locks` table. */
struct rs_lock_row {
	long long acq, contended, wait_ns, wait_max_ns, hold_ns;
};

/* Finds the row (@path, @design, @lock) in `locks`; 0 if found. */
static inline int rs_lock_row(const char *path, const char *design, const char *lock,
			      struct rs_lock_row *row)
{
	char *text = rs_read_file(RS_DEBUGFS "/locks"), *line, *save = NULL;
	int found = -1;

	if (!text)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char p[4096], d[32], l[32];

		if (sscanf(line, "%4095s %31s %31s %lld %lld %lld %lld %lld", p, d, l, &row->acq,
			   &row->contended, &row->wait_ns, &row->wait_max_ns, &row->hold_ns) == 8 &&
		    !strcmp(d, design) && !strcmp(l, lock) && rs_same_file(p, path)) {
			found = 0;
			break;
		}
	}
	free(text);
	return found;
}

/* One row of the `anon` table. */
struct rs_anon_row {
	long long real, lazy, real_hw, lazy_hw, size, lazy_size;
};

/* Reads the row of @object (`anon_vma`, `anon_vma_chain`, `vm_area_struct`); 0 if found. */
static inline int rs_anon_row(const char *object, struct rs_anon_row *row)
{
	char *text = rs_read_file(RS_DEBUGFS "/anon"), *line, *save = NULL;
	int found = -1;

	if (!text)
		return -1;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[64], rkb[32], lkb[32], pct[32];

		if (sscanf(line, "%63s %lld %31s %lld %31s %31s %lld %lld %lld %lld", name, &row->real,
			   rkb, &row->lazy, lkb, pct, &row->real_hw, &row->lazy_hw, &row->size,
			   &row->lazy_size) == 10 &&
		    !strcmp(name, object)) {
			found = 0;
			break;
		}
	}
	free(text);
	return found;
}

/*
 * Finds @path in `files`, trying again for a second (a rebuild may be in
 * its seeding walk); on failure prints the table for the log.
 */
static inline int rs_file_row(const char *path, struct rs_file_row *row)
{
	char *text;
	int i;

	for (i = 0; i < 5; i++) {
		if (!rs_file_row_once(path, row))
			return 0;
		usleep(200 * 1000);
	}
	text = rs_read_file(RS_DEBUGFS "/files");
	fprintf(stderr, "# %s not in files:\n%s", path, text ? text : "(unreadable)\n");
	free(text);
	return -1;
}

/*
 * Number of lines of /proc/PID/maps, over every process, naming @path (by
 * any of its names: rs_same_file()). Read in-process: a helper process
 * would map libc itself.
 */
static inline long rs_proc_maps_count(const char *path)
{
	struct dirent *d;
	long n = 0;
	DIR *dir = opendir("/proc");

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		char file[300], *text, *line, *save = NULL;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(file, sizeof(file), "/proc/%s/maps", d->d_name);
		text = rs_read_file(file);
		if (!text)
			continue;
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			/* The path is the 6th field, from the first '/' on. */
			char *p = strchr(line, '/');

			if (p && rs_same_file(p, path))
				n++;
		}
		free(text);
	}
	closedir(dir);
	return n;
}

/*
 * Kernel-log reports (splats) since rs_kmsg_open(): every record matching
 * one of the report headers is printed with "# " and counted. Closes @fd.
 */
static inline int rs_kmsg_reports(int fd)
{
	static const char *const pats[] = {
		"WARNING:", "BUG:", "Oops", "general protection fault", "UBSAN:",
		"possible circular locking dependency", "possible recursive locking",
		"inconsistent lock state", "suspicious RCU usage", "DEBUG_LOCKS_WARN_ON",
		"sleeping function called from invalid context", "Kernel panic",
		"kernel BUG", "rcu_sched self-detected stall", "rcu: INFO:",
		"detected stall", "turning off the locking correctness validator",
		"queued lock replays", "suspected memory leaks", "blocked for more than",
	};
	char rec[8192];
	int count = 0;
	ssize_t n;
	size_t i;

	if (fd < 0)
		return -1;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EPIPE)
				continue;
			break;
		}
		rec[n] = 0;
		for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
			if (strstr(rec, pats[i])) {
				fprintf(stderr, "# kernel: %s", strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
				count++;
				break;
			}
		}
	}
	close(fd);
	return count;
}

/*
 * The module's own invariants, from `stats`: no counter underflow, no
 * anon_vma freed with AVCs still counted, no tap outside task context, no
 * pending replay after the workload, and (unless @allow_drops, for the
 * fault-injection tests) no dropped event and no unknown remove. Returns
 * the number of violations, each printed.
 */
static inline int rs_check_invariants(int allow_drops)
{
	static const char *const always_zero[] = {
		"shadow.underflows", "anon.underflows", "anon.freed_with_avcs",
		"tap.not_task",
	};
	static const char *const zero_unless_drops[] = {
		"drop.alloc_failures", "drop.lock_alloc", "anon.alloc_failures",
		"shadow.released_degraded",
	};
	/* Removes of VMAs never linked, outside the seeding walk's window. */
	static const char *const pairs[][2] = {
		{ "shadow.unknown_removes", "shadow.unknown_removes_seeding" },
		{ "anon.unknown_avc", "anon.unknown_avc_seeding" },
	};
	char *st;
	size_t i;
	int bad = 0, tries;
	long long v;

	/* Pending replays run when their tasks return to user space. */
	for (tries = 0; tries < 50; tries++) {
		st = rs_read_file(RS_DEBUGFS "/stats");
		if (!st)
			return 1;
		v = rs_status_ll_ws(st, "pending_deferred");
		free(st);
		if (v == 0)
			break;
		usleep(100 * 1000);
	}
	if (v != 0) {
		fprintf(stderr, "# invariant: pending_deferred %lld after 5 s\n", v);
		bad++;
	}
	st = rs_read_file(RS_DEBUGFS "/stats");
	if (!st)
		return bad + 1;
	for (i = 0; i < sizeof(always_zero) / sizeof(always_zero[0]); i++) {
		v = rs_status_ll_ws(st, always_zero[i]);
		if (v != 0) {
			fprintf(stderr, "# invariant: %s = %lld, want 0\n", always_zero[i], v);
			bad++;
		}
	}
	for (i = 0; !allow_drops && i < sizeof(zero_unless_drops) / sizeof(zero_unless_drops[0]); i++) {
		v = rs_status_ll_ws(st, zero_unless_drops[i]);
		if (v != 0) {
			fprintf(stderr, "# invariant: %s = %lld, want 0\n", zero_unless_drops[i], v);
			bad++;
		}
	}
	for (i = 0; !allow_drops && i < 2; i++) {
		v = rs_status_ll_ws(st, pairs[i][0]) - rs_status_ll_ws(st, pairs[i][1]);
		if (v != 0) {
			fprintf(stderr, "# invariant: %s - %s = %lld, want 0\n", pairs[i][0],
				pairs[i][1], v);
			bad++;
		}
	}
	free(st);
	return bad;
}

#define PAGE 4096

/*
 * A tmpfs of the test's own, mounted at /tmp/rs_<tag>_<pid> (@mnt, 64
 * bytes), with one file of @pages pages (@path, 128 bytes): no other process
 * maps it, so expectations on it are exact. Returns the file's fd (O_RDWR).
 */
static inline int rs_tmpfs_file(char *mnt, char *path, int pages)
{
	int fd;

	snprintf(mnt, 64, "/tmp/rs_%d", getpid());
	if (mkdir(mnt, 0700) && errno != EEXIST)
		return -1;
	if (mount("rs_tmpfs", mnt, "tmpfs", 0, "size=16m"))
		return -1;
	snprintf(path, 128, "%s/file", mnt);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)pages * PAGE)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Maps pages [first, first + n) of @fd one VMA each (alternate protections:
 * never merged); 0 or -1.
 */
static inline int rs_map_range(int fd, int first, int n, void **out)
{
	int i;

	for (i = 0; i < n; i++) {
		out[i] = mmap(NULL, PAGE, (i & 1) ? PROT_READ : PROT_READ | PROT_WRITE,
			      MAP_SHARED, fd, (off_t)(first + i) * PAGE);
		if (out[i] == MAP_FAILED)
			return -1;
	}
	return 0;
}

static inline int rs_map_pages(int fd, int n, void **out)
{
	return rs_map_range(fd, 0, n, out);
}

/* CLOCK_MONOTONIC in seconds. */
static inline double rs_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A `stats` counter; -1 if unreadable. */
static inline long long rs_stat(const char *key)
{
	char *st = rs_read_file(RS_DEBUGFS "/stats");
	long long v = st ? rs_status_ll_ws(st, key) : -1;

	free(st);
	return v;
}

/*
 * Pin the calling task to the CPU it runs on (old affinity in @old, for
 * sched_setaffinity() to restore). For MADV_PAGEOUT tests: a page just
 * written or read-faulted waits in its CPU's LRU batch, MADV_PAGEOUT
 * drains only the batch of the CPU it runs on (lru_add_drain()), and
 * folio_isolate_lru() fails for a folio not on the LRU yet, so a task that
 * migrated between the fault and the madvise pages out (and walks)
 * nothing: seen in an oversubscribed 2n4c guest (0 walks) and a 4n8c one.
 * Needs _GNU_SOURCE before the first include, as every includer has.
 */
static inline int rs_pin_here(cpu_set_t *old)
{
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof(*old), old))
		return -1;
	cpu = sched_getcpu();
	if (cpu < 0)
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

#endif /* RMAP_SHADOW_UTIL_H */
