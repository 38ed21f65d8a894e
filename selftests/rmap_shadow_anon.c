// SPDX-License-Identifier: GPL-2.0
/*
 * rmap-shadow ANON_VMA_LAZY selftests: the lazy bookkeeping against the
 * real kernel's anon_vma and anon_vma_chain counts.
 *
 * Needs root, debugfs mounted, and rmap_shadow.ko (see rmap_shadow_util.h).
 */
#define _GNU_SOURCE
#include "rmap_shadow_module.h"

/* Snapshot of the anon table's anon_vma and anon_vma_chain rows. */
struct anon_snap {
	struct rs_anon_row av, avc;
};

static int anon_snap(struct anon_snap *s)
{
	return rs_anon_row("anon_vma", &s->av) || rs_anon_row("anon_vma_chain", &s->avc);
}

/* Objects other processes of a quiet guest may add or drop meanwhile. */
#define ANON_NOISE 8

/*
 * Waits (at most 30 s) until the anon counts stay the same for 4 s (eight
 * reads 500 ms apart), then snapshots: loading the module sends uevents,
 * and udevd forks a worker that lives until it has been idle for a few
 * seconds.
 */
static int anon_quiet_snap(struct anon_snap *s)
{
	struct anon_snap prev;
	int i, same = 0;

	if (system("udevadm settle -t 10 >/dev/null 2>&1") < 0)
		return -1;
	if (anon_snap(&prev))
		return -1;
	for (i = 0; i < 60 && same < 8; i++) {
		usleep(500 * 1000);
		if (anon_snap(s))
			return -1;
		if (s->av.real == prev.av.real && s->avc.real == prev.avc.real &&
		    s->av.lazy == prev.av.lazy && s->avc.lazy == prev.avc.lazy)
			same++;
		else
			same = 0;
		prev = *s;
	}
	/* Never quiet: the snapshot would be noise, not a baseline. */
	if (same < 8) {
		fprintf(stderr, "# anon counts never stayed the same for 4 s in 30 s\n");
		return -1;
	}
	return 0;
}

/* Maps @n private anonymous one-page VMAs, none adjacent, and writes each. */
static void fault_anon_vmas(int n)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *base = mmap(NULL, 2 * n * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int i;

	if (base == MAP_FAILED)
		_exit(1);
	for (i = 0; i < n; i++) {
		char *p = mmap(base + 2 * i * pg, pg, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

		if (p == MAP_FAILED)
			_exit(1);
		*p = 1;
	}
}

/* Sends one byte on @w and waits for one on @r. */
static char step(int w, int r, char c)
{
	char got = 0;

	if (write(w, &c, 1) != 1 || read(r, &got, 1) != 1)
		return 0;
	return got;
}

/*
 * ANON_VMA_LAZY: N write-faulted private anonymous VMAs cost N real
 * anon_vmas and AVCs and no lazy ones; a fork materialises the parent's N
 * (the child gets none of its own); after both exit, both sides are back.
 */
TEST_F_TIMEOUT(module, anon_lazy_fault_then_fork, RS_TEST_TIMEOUT)
{
	enum { N = 100 };
	struct anon_snap b0, b, s1, s2, s3;
	int to[2], from[2];
	char *stats;
	pid_t p;

	ASSERT_EQ(0, rs_load(""));
	ASSERT_EQ(0, pipe(to));
	ASSERT_EQ(0, pipe(from));
	ASSERT_EQ(0, anon_quiet_snap(&b0));
	p = fork();
	ASSERT_LE(0, p);
	if (p == 0) {
		char c;
		pid_t kid = -1;

		/* The fork of this process is not the program's: baseline after it. */
		if (write(from[1], "0", 1) != 1 || read(to[0], &c, 1) != 1)
			_exit(1);
		fault_anon_vmas(N);
		if (write(from[1], "1", 1) != 1)
			_exit(1);
		while (read(to[0], &c, 1) == 1) {
			if (c == 'f') {
				kid = fork();
				if (kid == 0) {
					pause();
					_exit(0);
				}
				usleep(100 * 1000);
			} else if (c == 'x') {
				kill(kid, SIGKILL);
				waitpid(kid, NULL, 0);
				_exit(0);
			}
			if (write(from[1], "2", 1) != 1)
				_exit(1);
		}
		_exit(1);
	}
	{
		char c = 0;

		ASSERT_EQ(1, read(from[0], &c, 1));
		ASSERT_EQ('0', c);
		ASSERT_EQ(0, anon_snap(&b));
		ASSERT_EQ(1, write(to[1], "g", 1));
		ASSERT_EQ(1, read(from[0], &c, 1));
		ASSERT_EQ('1', c);
	}
	ASSERT_EQ(0, anon_snap(&s1));
	TH_LOG("faulted: real av %+lld avc %+lld, lazy av %+lld avc %+lld",
	       s1.av.real - b.av.real, s1.avc.real - b.avc.real, s1.av.lazy - b.av.lazy,
	       s1.avc.lazy - b.avc.lazy);
	EXPECT_LE(N, s1.av.real - b.av.real);
	EXPECT_GE(N + ANON_NOISE, s1.av.real - b.av.real);
	EXPECT_LE(N, s1.avc.real - b.avc.real);
	EXPECT_GE(ANON_NOISE, llabs(s1.av.lazy - b.av.lazy));
	EXPECT_GE(ANON_NOISE, llabs(s1.avc.lazy - b.avc.lazy));

	ASSERT_EQ('2', step(to[1], from[0], 'f'));
	ASSERT_EQ(0, anon_snap(&s2));
	TH_LOG("forked: real av %+lld avc %+lld, lazy av %+lld avc %+lld",
	       s2.av.real - s1.av.real, s2.avc.real - s1.avc.real, s2.av.lazy - s1.av.lazy,
	       s2.avc.lazy - s1.avc.lazy);
	/* Real: the child gets N anon_vmas and 2N AVCs. */
	/*
	 * Upper bounds: P's own other anon VMAs (heap, stack, libraries' data:
	 * fewer than 64) fork too; a child VMA gets one AVC more than its
	 * parent's chain, which is at most 2 here (P was itself forked): at most
	 * 3 AVCs per child anon_vma.
	 */
	EXPECT_LE(N, s2.av.real - s1.av.real);
	EXPECT_GE(N + 64, s2.av.real - s1.av.real);
	EXPECT_LE(2 * N, s2.avc.real - s1.avc.real);
	EXPECT_GE(3 * (s2.av.real - s1.av.real), s2.avc.real - s1.avc.real);
	/* Lazy: the parent's N (and its few other anon VMAs) materialise. */
	EXPECT_LE(N, s2.av.lazy - s1.av.lazy);
	EXPECT_GE(N + 64, s2.av.lazy - s1.av.lazy);
	/* Parent and child AVCs to the parent's anon_vmas. */
	EXPECT_LE(2 * N, s2.avc.lazy - s1.avc.lazy);
	EXPECT_GE(3 * (s2.av.lazy - s1.av.lazy), s2.avc.lazy - s1.avc.lazy);
	EXPECT_LE(s2.av.lazy, s2.av.real);
	EXPECT_LE(s2.avc.lazy, s2.avc.real);

	EXPECT_EQ(0, write(to[1], "x", 1) == 1 ? 0 : -1);
	ASSERT_EQ(p, waitpid(p, NULL, 0));
	ASSERT_EQ(0, anon_quiet_snap(&s3));
	TH_LOG("exited: real av %+lld avc %+lld, lazy av %+lld avc %+lld vs before the fork",
	       s3.av.real - b0.av.real, s3.avc.real - b0.avc.real, s3.av.lazy - b0.av.lazy,
	       s3.avc.lazy - b0.avc.lazy);
	/* Real: as before the fork of P. */
	EXPECT_GE(ANON_NOISE, llabs(s3.av.real - b0.av.real));
	EXPECT_GE(ANON_NOISE, llabs(s3.avc.real - b0.avc.real));
	/*
	 * Lazy: this process's own anon_vmas, materialised by its fork of P,
	 * stay (as under the series): at most as many as before the fork.
	 */
	EXPECT_LE(s3.av.lazy - b0.av.lazy, b0.av.real - b0.av.lazy + ANON_NOISE);
	EXPECT_GE(ANON_NOISE, llabs(s3.av.lazy - b.av.lazy));
	stats = rs_read_file(RS_DEBUGFS "/stats");
	if (stats && strstr(stats, "anon.prepare"))
		TH_LOG("%s", strstr(stats, "anon.prepare"));
	free(stats);
	EXPECT_LE(s2.av.real, s3.av.real_hw);
	close(to[0]);
	close(to[1]);
	close(from[0]);
	close(from[1]);
}

/*
 * Splitting a lazy VMA with mprotect() adds real AVCs and no lazy ones. The
 * counts are system-wide: an attempt is judged only when the real AVC count
 * moved by exactly the split's PAGES - 1 and the real anon_vma count not at
 * all (no other process forked or exited meanwhile); up to 5 attempts.
 */
TEST_F_TIMEOUT(module, anon_lazy_split_costs_nothing, RS_TEST_TIMEOUT)
{
	enum { PAGES = 64 };
	long pg = sysconf(_SC_PAGESIZE);
	struct anon_snap s1, s2;
	int i, attempt, quiet = 0;
	char *m;

	ASSERT_EQ(0, rs_load(""));
	for (attempt = 0; attempt < 5 && !quiet; attempt++) {
		m = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0);
		ASSERT_NE(MAP_FAILED, m);
		for (i = 0; i < PAGES; i++)
			m[i * pg] = 1;
		ASSERT_EQ(0, anon_quiet_snap(&s1));
		for (i = 0; i < PAGES; i += 2)
			ASSERT_EQ(0, mprotect(m + i * pg, pg, PROT_READ));
		ASSERT_EQ(0, anon_snap(&s2));
		munmap(m, PAGES * pg);
		TH_LOG("attempt %d: split into %d VMAs: real avc %+lld av %+lld, lazy avc %+lld av %+lld",
		       attempt, PAGES, s2.avc.real - s1.avc.real, s2.av.real - s1.av.real,
		       s2.avc.lazy - s1.avc.lazy, s2.av.lazy - s1.av.lazy);
		quiet = s2.avc.real - s1.avc.real == PAGES - 1 && s2.av.real == s1.av.real;
	}
	ASSERT_TRUE(quiet) TH_LOG("no attempt without other processes' anon activity");
	EXPECT_EQ(0, s2.avc.lazy - s1.avc.lazy);
	EXPECT_EQ(0, s2.av.lazy - s1.av.lazy);
}

/* During a fork/exec storm, lazy never holds more than real. */
TEST_F_TIMEOUT(module, anon_lazy_le_real_in_storm, RS_TEST_TIMEOUT)
{
	struct anon_snap s;
	int samples = 0, bad = 0;
	pid_t p;

	ASSERT_EQ(0, rs_load(""));
	p = fork();
	ASSERT_LE(0, p);
	if (p == 0)
		_exit(run_storm(4) > 0 ? 0 : 1);
	while (waitpid(p, NULL, WNOHANG) == 0) {
		ASSERT_EQ(0, anon_snap(&s));
		samples++;
		if (s.av.lazy > s.av.real || s.avc.lazy > s.avc.real) {
			bad++;
			TH_LOG("sample %d: av %lld/%lld avc %lld/%lld", samples, s.av.lazy,
			       s.av.real, s.avc.lazy, s.avc.real);
		}
		usleep(50 * 1000);
	}
	TH_LOG("%d samples", samples);
	EXPECT_LE(10, samples);
	EXPECT_EQ(0, bad);
}

/*
 * With slab_nomerge, the shadow's real live anon_vma and anon_vma_chain
 * counts track /proc/slabinfo's active objects. Shrinking the cache first
 * (sysfs `shrink`) empties KASAN's quarantine for it and flushes the
 * per-CPU slabs, whose free objects slabinfo counts as active; after it,
 * active - shadow is at most one refilled CPU slab per CPU (objperslab x
 * CPUs) plus objects allocated and not yet linked, and shadow <= active
 * plus what other tasks link between the two reads.
 */
TEST_F_TIMEOUT(module, anon_tracks_slabinfo, RS_TEST_TIMEOUT)
{
	const char *caches[] = { "anon_vma", "anon_vma_chain" };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	long long active, per_slab, tol;
	struct rs_anon_row r1, r2;
	char path[128];
	int i;

	if (slabinfo("anon_vma_chain", &active, &per_slab))
		SKIP(return, "anon_vma_chain merged into another cache: boot with slab_nomerge");
	ASSERT_EQ(0, rs_load(""));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, rs_anon_row(caches[i], &r1));
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", caches[i]);
		EXPECT_EQ(0, rs_write_str(path, "1"));
		ASSERT_EQ(0, slabinfo(caches[i], &active, &per_slab));
		ASSERT_EQ(0, rs_anon_row(caches[i], &r2));
		tol = ncpu * per_slab + ANON_NOISE;
		TH_LOG("%s: shadow %lld..%lld, slabinfo active %lld (objperslab %lld, tolerance %lld)",
		       caches[i], r1.real, r2.real, active, per_slab, tol);
		EXPECT_LE(r1.real < r2.real ? r1.real : r2.real, active + ANON_NOISE);
		EXPECT_LE(active, (r1.real > r2.real ? r1.real : r2.real) + tol);
	}
}

TEST_HARNESS_MAIN
