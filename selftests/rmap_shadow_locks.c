// SPDX-License-Identifier: GPL-2.0
/*
 * rmap-shadow lock-design selftests: the replay's figures under a real
 * execl storm, walks, the `locks` file, and the module's own locks in
 * /proc/lock_stat.
 *
 * Needs root, debugfs mounted, and rmap_shadow.ko (see rmap_shadow_util.h).
 */
#define _GNU_SOURCE
#include "rmap_shadow_module.h"

/*
 * The replay's figures under a real execl storm: every design counts the
 * storm's acquisitions, consistently. Whether two replays overlap depends
 * on scheduling (an early CI run saw 642 acquisitions, none contended), so
 * contention is only checked for consistency here; safety's
 * replay_contention_counted makes it happen and checks its exact count.
 */
TEST_F_TIMEOUT(module, locks_figures_under_storm, RS_TEST_TIMEOUT)
{
	struct rs_lock_row tot, sf, inf, at, it;
	char *stats, lock[8];
	long long trees = 0;
	int i;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs >= 2 CPUs");
	ASSERT_EQ(0, rs_load(""));
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/policy", "hash 4"));
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/locks", "reset"));
	/* Two processes per CPU: holders get preempted, as on a busy machine. */
	ASSERT_LT(0, run_storm_n(8, 2 * sysconf(_SC_NPROCESSORS_ONLN)));
	usleep(200 * 1000);
	stats = rs_read_file(RS_DEBUGFS "/stats");
	ASSERT_NE(NULL, stats);
	EXPECT_LT(0, rs_status_ll_ws(stats, "replay.run"));
	EXPECT_EQ(7, rs_status_ll_ws(stats, "locks.designs"));
	free(stats);
	ASSERT_EQ(0, rs_lock_row("*", "single", "all", &tot));
	TH_LOG("single: acq %lld contended %lld wait %lld ns (max %lld) hold %lld ns", tot.acq,
	       tot.contended, tot.wait_ns, tot.wait_max_ns, tot.hold_ns);
	EXPECT_LT(0, tot.acq);
	EXPECT_LE(tot.contended, tot.acq);
	/* A wait is only counted for a contended acquisition. */
	EXPECT_EQ(tot.contended == 0, tot.wait_ns == 0);
	EXPECT_LE(tot.wait_max_ns, tot.wait_ns);
	EXPECT_LT(0, tot.hold_ns);

	ASSERT_EQ(0, rs_lock_row(LIBC, "single", "file", &sf));
	ASSERT_EQ(0, rs_lock_row(LIBC, "inverted", "file", &inf));
	EXPECT_LT(0, sf.acq);
	/*
	 * Each real hold of libc's lock is one acquisition of `single`'s
	 * lock, one per tree changed in it in the designs with tree locks;
	 * `inverted` takes its file lock with each tree lock.
	 */
	EXPECT_LE(sf.acq, inf.acq);
	for (i = 0; i < 4; i++) {
		snprintf(lock, sizeof(lock), "t%d", i);
		ASSERT_EQ(0, rs_lock_row(LIBC, "all-trees", lock, &at));
		ASSERT_EQ(0, rs_lock_row(LIBC, "inverted", lock, &it));
		EXPECT_LT(0, at.acq) TH_LOG("tree %d", i);
		EXPECT_EQ(at.acq, it.acq) TH_LOG("tree %d", i);
		EXPECT_LE(at.contended, at.acq);
		EXPECT_LE(it.contended, it.acq);
		trees += it.acq;
	}
	EXPECT_EQ(trees, inf.acq);
	EXPECT_NE(0, rs_lock_row(LIBC, "all-trees", "t4", &at));
}

/*
 * An rmap walk (MADV_PAGEOUT of a file only this process maps walks the
 * file's rmap once per page) takes every tree's lock under `all-trees` and
 * the file lock for write under `inverted`.
 */
TEST_F_TIMEOUT(module, locks_walks_take_every_tree, RS_TEST_TIMEOUT)
{
	const size_t pages = 64, len = pages * 4096;
	char path[4200], *buf, *m, *stats, lock[8], *slash;
	struct rs_lock_row at, inf, it;
	long long walks0, walks, d0 = 0;
	cpu_set_t old;
	volatile char sum = 0;
	size_t i;
	int fd;

	ASSERT_EQ(0, rs_load(""));
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/policy", "hash 4"));
	stats = rs_read_file(RS_DEBUGFS "/stats");
	ASSERT_NE(NULL, stats);
	walks0 = rs_status_ll_ws(stats, "shadow.walks");
	free(stats);
	/*
	 * Next to this program (9p in the guests): on overlayfs (/tmp) the
	 * VMA's file is the upper layer's, under another path.
	 */
	ASSERT_LT(0, readlink("/proc/self/exe", path, 4096));
	path[4096] = 0;
	slash = strrchr(path, '/');
	ASSERT_NE(NULL, slash);
	strcpy(slash, "/rs_walk.XXXXXX");
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	/* Write, fault and page out on one CPU (see rs_pin_here). */
	ASSERT_EQ(0, rs_pin_here(&old));
	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	memset(buf, 'x', len);
	ASSERT_EQ((ssize_t)len, write(fd, buf, len));
	free(buf);
	m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	for (i = 0; i < pages; i++)
		sum += m[i * 4096];
	ASSERT_EQ(0, madvise(m, len, MADV_PAGEOUT));
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(old), &old));
	usleep(100 * 1000);
	stats = rs_read_file(RS_DEBUGFS "/stats");
	ASSERT_NE(NULL, stats);
	walks = rs_status_ll_ws(stats, "shadow.walks") - walks0;
	free(stats);
	TH_LOG("%lld walks", walks);
	/* One walk per folio (readahead may give large folios), at least one. */
	EXPECT_LT(0, walks);
	for (i = 0; i < 4; i++) {
		snprintf(lock, sizeof(lock), "t%zu", i);
		ASSERT_EQ(0, rs_lock_row(path, "all-trees", lock, &at));
		ASSERT_EQ(0, rs_lock_row(path, "inverted", lock, &it));
		/*
		 * Both designs write-lock a tree per link and unlink; only
		 * all-trees read-locks it per walk: the difference is the
		 * file's replayed walks, the same for every tree, and at most
		 * every walk counted (kernel threads' walks are not replayed).
		 */
		if (i == 0)
			d0 = at.acq - it.acq;
		EXPECT_EQ(d0, at.acq - it.acq) TH_LOG("tree %zu", i);
	}
	TH_LOG("%lld replayed walks", d0);
	EXPECT_LT(0, d0);
	EXPECT_GE(walks, d0);
	ASSERT_EQ(0, rs_lock_row(path, "inverted", "file", &inf));
	EXPECT_LE(d0, inf.acq);
	munmap(m, len);
	close(fd);
	unlink(path);
}

/* `locks` accepts design lists and `reset`; anything else is EINVAL. */
TEST_F_TIMEOUT(module, locks_writes, RS_TEST_TIMEOUT)
{
	static const char *bad[] = { "bogus", "single,bogus", "single,", "ALL", "reset now" };
	struct rs_lock_row tot;
	char *stats;
	unsigned int i;

	ASSERT_EQ(0, rs_load(""));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, rs_write_str(RS_DEBUGFS "/locks", bad[i])) TH_LOG("bad #%u", i);
	EXPECT_EQ(-EINVAL, rs_write_big(RS_DEBUGFS "/locks", 's'));
	stats = rs_read_file(RS_DEBUGFS "/stats");
	ASSERT_NE(NULL, stats);
	EXPECT_EQ(7, rs_status_ll_ws(stats, "locks.designs"));
	free(stats);

	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/locks", "inverted,single"));
	stats = rs_read_file(RS_DEBUGFS "/stats");
	ASSERT_NE(NULL, stats);
	EXPECT_EQ(5, rs_status_ll_ws(stats, "locks.designs"));
	free(stats);

	/* `off`: nothing is replayed, figures stay at zero after `reset`. */
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/locks", "off"));
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/locks", "reset"));
	ASSERT_LT(0, run_storm(2));
	for (i = 0; i < 3; i++) {
		const char *d[] = { "single", "all-trees", "inverted" };

		ASSERT_EQ(0, rs_lock_row("*", d[i], "all", &tot));
		EXPECT_EQ(0, tot.acq) TH_LOG("%s", d[i]);
	}
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/locks", "all"));
	ASSERT_LT(0, run_storm(2));
	usleep(200 * 1000);
	ASSERT_EQ(0, rs_lock_row("*", "single", "all", &tot));
	EXPECT_LT(0, tot.acq);
}

/*
 * A file's lock-design locks outlive its shadow, as the real i_mmap_rwsem
 * outlives the file's VMAs: at its last shadowed VMA's unlink they are
 * parked, and its next shadow takes them back with their figures. Each
 * mmap/munmap round of a file only this test maps makes the file's shadow
 * anew and replays one link and one unlink: two acquisitions of `single`'s
 * file lock, so at round i's link the file's row shows 2 i + 1. While
 * unmapped, its figures are in `(released)` and in the `*` totals.
 */
TEST_F_TIMEOUT(module, locks_outlive_the_file_shadow, RS_TEST_TIMEOUT)
{
	const int rounds = 20;
	struct rs_lock_row rel, tot, row;
	long long created0, created, adopted0, adopted;
	char mnt[64], path[128];
	int fd, i;

	ASSERT_EQ(0, rs_load(""));
	fd = rs_tmpfs_file(mnt, path, 1);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/locks", "single"));
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/locks", "reset"));
	ASSERT_EQ(0, rs_lock_row("(released)", "single", "all", &rel));
	EXPECT_EQ(0, rel.acq);
	created0 = rs_stat("shadow.files_created");
	adopted0 = rs_stat("locks.adopted");
	for (i = 0; i < rounds; i++) {
		void *m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);

		ASSERT_NE(MAP_FAILED, m);
		ASSERT_EQ(0, rs_lock_row(path, "single", "file", &row)) TH_LOG("round %d", i);
		EXPECT_EQ(2 * i + 1, row.acq) TH_LOG("round %d", i);
		ASSERT_EQ(0, munmap(m, PAGE));
	}
	created = rs_stat("shadow.files_created") - created0;
	adopted = rs_stat("locks.adopted") - adopted0;
	TH_LOG("%lld file shadows made, %lld took parked locks, in %d rounds", created, adopted,
	       rounds);
	/* Every round made the file's shadow anew (other files may add). */
	EXPECT_LE(rounds, created);
	EXPECT_LE(rounds - 1, adopted);
	/* Gone with its last VMA: no row of its own; its figures parked. */
	EXPECT_NE(0, rs_lock_row(path, "single", "file", &row));
	ASSERT_EQ(0, rs_lock_row("(released)", "single", "all", &rel));
	ASSERT_EQ(0, rs_lock_row("*", "single", "all", &tot));
	TH_LOG("released: %lld acquisitions, all files: %lld", rel.acq, tot.acq);
	EXPECT_LE(2 * rounds, rel.acq);
	EXPECT_LE(rel.acq, tot.acq);
	/* `reset` zeroes the released files' figures too (others may add). */
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/locks", "reset"));
	ASSERT_EQ(0, rs_lock_row("(released)", "single", "all", &rel));
	EXPECT_GT(2 * rounds, rel.acq) TH_LOG("%lld after reset", rel.acq);
	/* And the next shadow starts from there. */
	{
		void *m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);

		ASSERT_NE(MAP_FAILED, m);
		ASSERT_EQ(0, rs_lock_row(path, "single", "file", &row));
		EXPECT_EQ(1, row.acq);
		ASSERT_EQ(0, munmap(m, PAGE));
	}
	close(fd);
	umount(mnt);
	rmdir(mnt);
}

/* Acquisitions of @path's `all-trees` locks t0 .. t@ntrees-1, summed; 0 if all found. */
static int all_trees_acq(const char *path, int ntrees, long long *sum)
{
	struct rs_lock_row row;
	char lock[8];
	int i;

	*sum = 0;
	for (i = 0; i < ntrees; i++) {
		snprintf(lock, sizeof(lock), "t%d", i);
		if (rs_lock_row(path, "all-trees", lock, &row))
			return -1;
		*sum += row.acq;
	}
	return 0;
}

/*
 * The replay takes a design's locks once per hold of the real lock, not
 * once per operation. Four adjacent VMAs of a file only this test maps
 * (page offsets out of order: never merged) are linked by four mmaps, one
 * hold each, and unlinked by one munmap, which the kernel does under one
 * i_mmap_rwsem hold (unlink_file_vma_batch_*(), up to 8 VMAs of one
 * file): `single` counts exactly one more. The designs with tree locks
 * take one per tree the hold changed (hash 4 spreads the VMAs over 1 to 4
 * trees), the same number for `all-trees`' tree locks and `inverted`'s
 * file lock. Then an mprotect of a mapping's middle page splits it twice,
 * each split (link of the new piece, unlink and re-link of the VMA) one
 * hold: exactly two more, six operations.
 */
TEST_F_TIMEOUT(module, locks_batch_a_syscall, RS_TEST_TIMEOUT)
{
	struct rs_lock_row row, inv;
	long long single0, single1, trees0, trees1, inv0, run0, acq0;
	char mnt[64], path[128];
	char *base;
	int fd, i;

	ASSERT_EQ(0, rs_load(""));
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/policy", "hash 4"));
	fd = rs_tmpfs_file(mnt, path, 4);
	ASSERT_LE(0, fd);
	base = mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, base);
	for (i = 0; i < 4; i++)
		ASSERT_NE(MAP_FAILED, mmap(base + i * PAGE, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED,
					   fd, (off_t)(3 - i) * PAGE));
	/* Each mmap's replay ran on its way back: one acquisition each. */
	ASSERT_EQ(0, rs_lock_row(path, "single", "file", &row));
	single0 = row.acq;
	EXPECT_EQ(4, single0);
	ASSERT_EQ(0, rs_lock_row(path, "inverted", "file", &inv));
	inv0 = inv.acq;
	EXPECT_EQ(4, inv0);
	ASSERT_EQ(0, all_trees_acq(path, 4, &trees0));
	EXPECT_EQ(4, trees0);
	run0 = rs_stat("replay.run");
	acq0 = rs_stat("replay.acquired");
	/* Keeps the file shadowed (and its rows shown) after the munmap. */
	{
		void *keep = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);

		ASSERT_NE(MAP_FAILED, keep);
		ASSERT_EQ(0, munmap(base, 4 * PAGE));
		ASSERT_EQ(0, rs_lock_row(path, "single", "file", &row));
		single1 = row.acq;
		ASSERT_EQ(0, rs_lock_row(path, "inverted", "file", &inv));
		ASSERT_EQ(0, all_trees_acq(path, 4, &trees1));
		ASSERT_EQ(0, munmap(keep, PAGE));
	}
	TH_LOG("munmap of 4 VMAs: single +%lld, all-trees +%lld, inverted file +%lld; "
	       "replay.run +%lld, replay.acquired +%lld", single1 - single0 - 1, trees1 - trees0 - 1,
	       inv.acq - inv0 - 1, rs_stat("replay.run") - run0, rs_stat("replay.acquired") - acq0);
	/* Less the keeping mmap's own link (one acquisition in each design). */
	EXPECT_EQ(1, single1 - single0 - 1);
	EXPECT_LE(1, trees1 - trees0 - 1);
	EXPECT_GE(4, trees1 - trees0 - 1);
	EXPECT_EQ(trees1 - trees0, inv.acq - inv0);
	/* The keeping mmap's link and the four unlinks replayed (others may add). */
	EXPECT_LE(run0 + 5, rs_stat("replay.run"));

	/* Two splits in one mprotect: two holds. */
	base = mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, base);
	ASSERT_EQ(0, rs_lock_row(path, "single", "file", &row));
	single0 = row.acq;
	run0 = rs_stat("replay.run");
	ASSERT_EQ(0, mprotect(base + PAGE, PAGE, PROT_NONE));
	ASSERT_EQ(0, rs_lock_row(path, "single", "file", &row));
	TH_LOG("mprotect of the middle page: single +%lld, replay.run +%lld",
	       row.acq - single0, rs_stat("replay.run") - run0);
	EXPECT_EQ(2, row.acq - single0);
	EXPECT_LE(run0 + 6, rs_stat("replay.run"));
	ASSERT_EQ(0, munmap(base, 3 * PAGE));
	close(fd);
	umount(mnt);
	rmdir(mnt);
}

/* Contentions and acquisitions of every /proc/lock_stat class named @class. */
static int lock_stat_of(const char *class, long long *contentions, long long *acquisitions)
{
	char line[1024], name[128];
	FILE *f = fopen("/proc/lock_stat", "r");
	int found = -1;

	*contentions = *acquisitions = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		long long bounces, con, acq_bounces, acq;
		double wmin, wmax, wtot, wavg;
		char *colon = strstr(line, ": ");

		if (!colon || colon - line >= (long)sizeof(name))
			continue;
		if (sscanf(line, "%127[^:]", name) != 1)
			continue;
		/* Class names are right-aligned. */
		if (strcmp(name + strspn(name, " "), class))
			continue;
		if (sscanf(colon + 1, "%lld %lld %lf %lf %lf %lf %lld %lld", &bounces, &con, &wmin,
			   &wmax, &wtot, &wavg, &acq_bounces, &acq) != 8)
			continue;
		*contentions += con;
		*acquisitions += acq;
		found = 0;
	}
	fclose(f);
	return found;
}

/*
 * The module's locks are not where a workload meets (CONFIG_LOCK_STAT, the
 * debug flavor): each CPU's process maps and unmaps a page of its own file
 * LOCK_STAT_PAIRS times (one page of each stays mapped, so its shadow lives
 * throughout);
 * /proc/lock_stat then shows the per-file shadow locks taken and never
 * contended. The file table's shards are shared only by hash collision,
 * and the anon shards see only the children's exits: reported, not asserted.
 */
#define LOCK_STAT_PAIRS 300
TEST_F_TIMEOUT(module, lock_stat_no_contention_own_files, RS_TEST_TIMEOUT)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN), i;
	long long con, acq, scon, sacq;
	char mnt[64], path[128], *was;
	int fd, st, ready[2], go[2];
	pid_t kids[64];
	char c;

	RS_NEED_FEATURE("/proc/lock_stat", R_OK, "CONFIG_LOCK_STAT");
	/*
	 * test.sh boots with statistics off (lockdep.lock_stat=0): on for this
	 * test, then back to what it was.
	 */
	was = rs_read_file("/proc/sys/kernel/lock_stat");
	ASSERT_NE(NULL, was);
	was[strcspn(was, "\n")] = 0;
	ASSERT_EQ(0, rs_write_str("/proc/sys/kernel/lock_stat", "1"));
	fd = rs_tmpfs_file(mnt, path, 1);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, rs_load(""));
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(go));
	if (ncpu > 64)
		ncpu = 64;
	for (i = 0; i < ncpu; i++) {
		kids[i] = fork();
		ASSERT_LE(0, kids[i]);
		if (kids[i] == 0) {
			char mine[160];
			cpu_set_t set;
			void *keep, *p;
			int j;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			CPU_ZERO(&set);
			CPU_SET(i, &set);
			snprintf(mine, sizeof(mine), "%s.%ld", path, i);
			fd = open(mine, O_RDWR | O_CREAT, 0600);
			if (fd < 0 || ftruncate(fd, 2 * PAGE) ||
			    sched_setaffinity(0, sizeof(set), &set))
				_exit(2);
			keep = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
			if (keep == MAP_FAILED || write(ready[1], "r", 1) != 1 ||
			    read(go[0], &c, 1) != 1)
				_exit(3);
			for (j = 0; j < LOCK_STAT_PAIRS; j++) {
				p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, PAGE);
				if (p == MAP_FAILED || munmap(p, PAGE))
					_exit(4);
			}
			/* Done; exit (and its unmaps) only after the figures are read. */
			if (write(ready[1], "d", 1) != 1 || read(go[0], &c, 1) != 1)
				_exit(5);
			_exit(0);
		}
	}
	for (i = 0; i < ncpu; i++)
		ASSERT_EQ(1, read(ready[0], &c, 1));
	ASSERT_EQ(0, rs_write_str("/proc/lock_stat", "0"));
	for (i = 0; i < ncpu; i++)
		ASSERT_EQ(1, write(go[1], "g", 1));
	for (i = 0; i < ncpu; i++)
		ASSERT_EQ(1, read(ready[0], &c, 1));
	ASSERT_EQ(0, lock_stat_of("rmap_shadow_file", &con, &acq));
	ASSERT_EQ(0, lock_stat_of("rmap_shadow_shard", &scon, &sacq));
	EXPECT_EQ(0, rs_write_str("/proc/sys/kernel/lock_stat", was));
	free(was);
	for (i = 0; i < ncpu; i++)
		ASSERT_EQ(1, write(go[1], "x", 1));
	for (i = 0; i < ncpu; i++) {
		ASSERT_EQ(kids[i], waitpid(kids[i], &st, 0));
		EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("child %ld: %#x", i, st);
	}
	TH_LOG("%ld CPUs: rmap_shadow_file %lld contentions / %lld acquisitions; "
	       "rmap_shadow_shard %lld / %lld",
	       ncpu, con, acq, scon, sacq);
	/* Each pair links and unlinks: two file-lock acquisitions at least. */
	EXPECT_LE(2 * LOCK_STAT_PAIRS * ncpu, acq);
	EXPECT_EQ(0, con);
	/* (The anon shards are read last: the children's exits touch them.) */
	if (lock_stat_of("rmap_shadow_anon", &con, &acq) == 0)
		TH_LOG("rmap_shadow_anon %lld / %lld (including the children's exits)", con, acq);
	umount(mnt);
	rmdir(mnt);
}

TEST_HARNESS_MAIN
