// SPDX-License-Identifier: GPL-2.0
/*
 * rmap-shadow module selftests: load/unload, parameters, debugfs access, and
 * the file-rmap tap counting what the real kernel does.
 *
 * Needs root, debugfs mounted, and rmap_shadow.ko (see rmap_shadow_util.h).
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "rmap_shadow_util.h"

/* Seconds per test: debug kernels under TCG are slow (the harness default is 30). */
#define RS_TEST_TIMEOUT 600

FIXTURE(module) {
	char *status;
	int kmsg;
};

FIXTURE_SETUP(module)
{
	self->status = NULL;
	self->kmsg = -1;
	if (geteuid())
		SKIP(return, "needs root");
	if (rs_loaded())
		ASSERT_EQ(0, rs_unload());
	ASSERT_EQ(0, access(rs_ko_path(), R_OK)) TH_LOG("no module at %s", rs_ko_path());
	self->kmsg = rs_kmsg_open();
}

/* Every test ends with the module's invariants and a clean kernel log. */
FIXTURE_TEARDOWN(module)
{
	free(self->status);
	if (rs_loaded()) {
		EXPECT_EQ(0, rs_check_invariants(0));
		EXPECT_EQ(0, rs_unload());
	}
	EXPECT_EQ(0, rs_kmsg_reports(self->kmsg)) TH_LOG("kernel log has reports");
}

/* Loading creates the module and its debugfs directory; unloading removes both. */
TEST_F_TIMEOUT(module, load_unload, RS_TEST_TIMEOUT)
{
	int i;

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, rs_load(""));
		ASSERT_TRUE(rs_loaded());
		ASSERT_EQ(0, access(RS_DEBUGFS "/status", R_OK));
		ASSERT_EQ(0, rs_unload());
		ASSERT_FALSE(rs_loaded());
		ASSERT_NE(0, access(RS_DEBUGFS, F_OK));
	}
}

/* status reports this kernel, its id ranges and the parameters in effect. */
TEST_F_TIMEOUT(module, status_matches_kernel, RS_TEST_TIMEOUT)
{
	unsigned int ma, mi, pa;
	char ver[32] = "", end;
	struct utsname u;
	char kernel[256];

	ASSERT_EQ(0, rs_load("nr_trees=3 max_files=100"));
	self->status = rs_read_file(RS_DEBUGFS "/status");
	ASSERT_NE(NULL, self->status);
	TH_LOG("status:\n%s", self->status);

	ASSERT_EQ(0, uname(&u));
	ASSERT_EQ(0, rs_status_str(self->status, "kernel", kernel, sizeof(kernel)));
	EXPECT_STREQ(u.release, kernel);
	EXPECT_EQ(rs_sysfs_max_plus_one("/sys/devices/system/node/possible"),
		  rs_status_ll(self->status, "nr_node_ids"));
	EXPECT_EQ(rs_sysfs_max_plus_one("/sys/devices/system/cpu/possible"),
		  rs_status_ll(self->status, "nr_cpu_ids"));
	EXPECT_EQ(3, rs_status_ll(self->status, "param.nr_trees"));
	EXPECT_EQ(100, rs_status_ll(self->status, "param.max_files"));
	/* MAJOR.MINOR.PATCH, nothing else. */
	ASSERT_EQ(0, rs_status_str(self->status, "version", ver, sizeof(ver)));
	EXPECT_EQ(3, sscanf(ver, "%u.%u.%u%c", &ma, &mi, &pa, &end)) TH_LOG("version '%s'", ver);
}

/* Defaults: one tree per node, 4096 files. */
TEST_F_TIMEOUT(module, default_parameters, RS_TEST_TIMEOUT)
{
	ASSERT_EQ(0, rs_load(""));
	self->status = rs_read_file(RS_DEBUGFS "/status");
	ASSERT_NE(NULL, self->status);
	EXPECT_EQ(0, rs_status_ll(self->status, "param.nr_trees"));
	EXPECT_EQ(4096, rs_status_ll(self->status, "param.max_files"));
}

/* Every debugfs file is root-only, and an unprivileged user cannot read it. */
TEST_F_TIMEOUT(module, debugfs_root_only, RS_TEST_TIMEOUT)
{
	struct stat st;
	pid_t pid;
	int status;

	ASSERT_EQ(0, rs_load(""));
	ASSERT_EQ(0, stat(RS_DEBUGFS "/status", &st));
	EXPECT_EQ(0, st.st_mode & 077) TH_LOG("status mode %o", st.st_mode & 0777);
	EXPECT_EQ(0, st.st_uid);

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd;

		/* nobody/nogroup, no capabilities left after setuid. */
		if (setgid(65534) || setuid(65534))
			_exit(2);
		fd = open(RS_DEBUGFS "/status", O_RDONLY);
		_exit(fd < 0 && (errno == EACCES || errno == EPERM) ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("an unprivileged user could open status");
}

struct bad_param {
	const char *params;
	const char *log;	/* the one clear line we expect, or NULL */
};

/* A bad parameter fails the load with EINVAL and one clear log line. */
TEST_F_TIMEOUT(module, bad_parameters_rejected, RS_TEST_TIMEOUT)
{
	static const struct bad_param bad[] = {
		{ "nr_trees=1025", "invalid nr_trees=1025" },
		{ "nr_trees=4294967295", "invalid nr_trees=4294967295" },
		{ "max_files=0", "invalid max_files=0" },
		{ "max_files=1048577", "invalid max_files=1048577" },
		{ "policy=bogus", "invalid policy=bogus" },
		{ "policy=hash,0", "invalid policy=hash,0" },
		{ "policy=node,nodes,3", "invalid policy=node,nodes,3" },
		{ "policy=smallest,cpus32,x", "invalid policy=smallest,cpus32,x" },
		/* Longer than 31 bytes: the kernel's own parameter line. */
		{ "policy=smallestsmallestsmallestsmallest", NULL },
		{ "nr_trees=abc", NULL },	/* the kernel's own parser rejects it */
		{ "nr_trees=-1", NULL },
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int kmsg = rs_kmsg_open();
		int ret = rs_load(bad[i].params);
		int lines;

		EXPECT_EQ(-EINVAL, ret) TH_LOG("%s: load returned %d", bad[i].params, ret);
		EXPECT_FALSE(rs_loaded());
		if (rs_loaded())
			rs_unload();
		lines = rs_kmsg_count(kmsg, bad[i].log ? bad[i].log : "rmap_shadow");
		if (bad[i].log) {
			EXPECT_EQ(1, lines) TH_LOG("%s: %d log lines with '%s'",
						   bad[i].params, lines, bad[i].log);
		} else {
			EXPECT_LE(1, lines);
		}
	}
	/* Boundary values are accepted. */
	ASSERT_EQ(0, rs_load("nr_trees=1024 max_files=1048576"));
	ASSERT_EQ(0, rs_unload());
	ASSERT_EQ(0, rs_load("nr_trees=1 max_files=1"));
}

/* The policy parameter sets the load-time policy and tree count. */
TEST_F_TIMEOUT(module, policy_parameter, RS_TEST_TIMEOUT)
{
	long cpus = rs_sysfs_max_plus_one("/sys/devices/system/cpu/possible");
	char want[64], *pol;

	ASSERT_EQ(0, rs_load("policy=smallest,cpus32"));
	pol = rs_read_file(RS_DEBUGFS "/policy");
	ASSERT_NE(NULL, pol);
	snprintf(want, sizeof(want), "\nsmallest cpus32 %ld\n", (cpus + 31) / 32 * 32);
	EXPECT_NE(NULL, strstr(pol, want)) TH_LOG("policy: %s", pol);
	free(pol);
	ASSERT_EQ(0, rs_unload());
	/* Without a count, nr_trees gives it. */
	ASSERT_EQ(0, rs_load("policy=hash nr_trees=5"));
	pol = rs_read_file(RS_DEBUGFS "/policy");
	ASSERT_NE(NULL, pol);
	EXPECT_NE(NULL, strstr(pol, "\nhash 5 5\n")) TH_LOG("policy: %s", pol);
	free(pol);
}

/*
 * The file-rmap tap sees the real kernel link file VMAs: N mappings of one
 * file page (pgoff 0 each, so none can merge) are N mapping_rmap_tree_insert
 * calls.
 */
TEST_F_TIMEOUT(module, tap_counts_file_vma_links, RS_TEST_TIMEOUT)
{
	enum { N = 200 };
	char path[] = "/tmp/rmap_shadow_tapXXXXXX";
	long long before, after;
	void *maps[N];
	int fd, i;

	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);
	ASSERT_EQ(0, ftruncate(fd, 4096));

	ASSERT_EQ(0, rs_load(""));
	self->status = rs_read_file(RS_DEBUGFS "/status");
	ASSERT_NE(NULL, self->status);
	before = rs_status_ll(self->status, "tap.mapping_rmap_tree_insert");
	ASSERT_LE(0, before);

	for (i = 0; i < N; i++) {
		maps[i] = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, maps[i]);
	}
	free(self->status);
	self->status = rs_read_file(RS_DEBUGFS "/status");
	ASSERT_NE(NULL, self->status);
	after = rs_status_ll(self->status, "tap.mapping_rmap_tree_insert");
	for (i = 0; i < N; i++)
		munmap(maps[i], 4096);
	close(fd);

	TH_LOG("mapping_rmap_tree_insert: %lld -> %lld", before, after);
	EXPECT_LE(before + N, after);
	/* Nothing else runs in the guest: the rest is a little noise, not N more. */
	EXPECT_GT(before + 2 * N, after);
}

/* Unloading while file VMAs are linked and unlinked on every CPU is clean. */
TEST_F_TIMEOUT(module, unload_during_mmap_storm, RS_TEST_TIMEOUT)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t kids[64];
	int i, round, status;

	if (ncpu > 64)
		ncpu = 64;
	for (i = 0; i < ncpu; i++) {
		kids[i] = fork();
		ASSERT_LE(0, kids[i]);
		if (kids[i] == 0) {
			int fd;

			/* Dies with the test, even if an ASSERT ends it early. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

			for (;;) {
				void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);

				if (p != MAP_FAILED)
					munmap(p, 4096);
			}
		}
	}
	/* Three rounds: each is a load (seeding under the storm, arming) and
	 * an unload; safety.unload_under_load adds fork+exec, walks and replays. */
	for (round = 0; round < 3; round++) {
		ASSERT_EQ(0, rs_load(""));
		usleep(50 * 1000);
		ASSERT_EQ(0, rs_unload());
	}
	for (i = 0; i < ncpu; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], &status, 0);
	}
}

#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define LDSO "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"

/* Runs selftests' execl_storm next to this program; returns its loops. */
static long run_storm_n(int secs, int procs)
{
	char exe[4096], cmd[4300], out[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	long loops = -1;
	FILE *f;
	char *slash, *l;

	if (n <= 0)
		return -1;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	*slash = 0;
	if (procs > 0)
		snprintf(cmd, sizeof(cmd), "%s/execl_storm -n %d -d %d -p cpu", exe, procs, secs);
	else
		snprintf(cmd, sizeof(cmd), "%s/execl_storm -d %d -p cpu", exe, secs);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (fgets(out, sizeof(out), f) && (l = strstr(out, " loops=")))
		loops = strtol(l + 7, NULL, 10);
	/* A storm that failed is not a storm that ran. */
	if (pclose(f) != 0)
		return -1;
	return loops;
}

/* The storm with one process per CPU. */
static long run_storm(int secs)
{
	return run_storm_n(secs, 0);
}

static int verify(const char *what, char **result)
{
	int ret = rs_write_str(RS_DEBUGFS "/verify", what);

	*result = rs_read_file(RS_DEBUGFS "/verify");
	return ret;
}

/*
 * After an execl storm and quiescence the shadow is exact: `verify all` is
 * OK, and the shadow's VMA counts of libc and ld.so equal the number of
 * their VMAs in /proc/ * /maps (and the real tree's).
 */
TEST_F_TIMEOUT(module, shadow_exact_after_storm, RS_TEST_TIMEOUT)
{
	const char *libs[] = { LIBC, LDSO };
	struct rs_file_row row;
	char *res = NULL;
	unsigned int i;

	ASSERT_EQ(0, rs_load(""));
	ASSERT_EQ(0, verify("all", &res));
	ASSERT_NE(NULL, res);
	EXPECT_EQ(0, strncmp(res, "OK", 2)) TH_LOG("verify after load: %s", res);
	free(res);

	ASSERT_LT(0, run_storm(3));
	usleep(200 * 1000);
	ASSERT_EQ(0, verify("all", &res));
	EXPECT_EQ(0, strncmp(res, "OK", 2)) TH_LOG("verify after storm: %s", res);
	free(res);

	for (i = 0; i < 2; i++) {
		long maps = -1;
		int tries;

		/*
		 * Storm processes may still be exiting on a loaded host: wait
		 * (at most 10 s) until /proc agrees with the real tree.
		 */
		for (tries = 0; tries < 20; tries++) {
			maps = rs_proc_maps_count(libs[i]);
			ASSERT_EQ(0, rs_file_row(libs[i], &row)) TH_LOG("%s not in files", libs[i]);
			if (maps == row.real)
				break;
			usleep(500 * 1000);
		}
		TH_LOG("%s: /proc maps %ld, real %lld, shadow %lld", libs[i], maps, row.real,
		       row.shadow);
		EXPECT_LT(0, maps);
		EXPECT_EQ(maps, row.shadow);
		EXPECT_EQ(row.real, row.shadow);
		EXPECT_EQ(0, row.degraded);
		ASSERT_EQ(0, verify(libs[i], &res));
		EXPECT_EQ(0, strncmp(res, "OK 1", 4)) TH_LOG("verify %s: %s", libs[i], res);
		free(res);
	}
}

/* Bad writes fail with EINVAL and change nothing, also when concurrent. */
TEST_F_TIMEOUT(module, bad_writes_rejected, RS_TEST_TIMEOUT)
{
	static const char *bad[] = { "bogus", "node 0", "node 1025", "node nodes x", "Node",
				     "hash -1", "hash +3", " ", "\n", "cpu 4294967297",
				     "smallest\xff" };
	char *before, *after, *big, *res = NULL;
	unsigned int i;
	pid_t kids[4];
	int st;

	ASSERT_EQ(0, rs_load(""));
	before = rs_read_file(RS_DEBUGFS "/policy");
	ASSERT_NE(NULL, before);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, rs_write_str(RS_DEBUGFS "/policy", bad[i])) TH_LOG("bad write #%u", i);
	big = malloc(1 << 20);
	ASSERT_NE(NULL, big);
	memset(big, 'a', 1 << 20);
	EXPECT_EQ(-EINVAL, rs_write(RS_DEBUGFS "/policy", big, 1 << 20));
	EXPECT_EQ(-EINVAL, rs_write(RS_DEBUGFS "/verify", big, 1 << 20));
	free(big);
	EXPECT_EQ(-EINVAL, rs_write_str(RS_DEBUGFS "/verify", "relative/path"));
	EXPECT_EQ(-ENOENT, rs_write_str(RS_DEBUGFS "/verify", "/no/such/file"));
	after = rs_read_file(RS_DEBUGFS "/policy");
	ASSERT_NE(NULL, after);
	EXPECT_STREQ(before, after);
	free(after);

	/* Concurrent writers, good and bad: bad ones always fail, good ones win. */
	for (i = 0; i < 4; i++) {
		kids[i] = fork();
		ASSERT_LE(0, kids[i]);
		if (kids[i] == 0) {
			int j, fails = 0;

			/* Each good write is a rebuild (a walk of every mm). */
			for (j = 0; j < 3; j++) {
				if (rs_write_str(RS_DEBUGFS "/policy", i & 1 ? "hash 3" : "cpu 2"))
					fails++;
				if (rs_write_str(RS_DEBUGFS "/policy", "garbage 7") != -EINVAL)
					fails++;
			}
			_exit(fails);
		}
	}
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(kids[i], waitpid(kids[i], &st, 0));
		EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	after = rs_read_file(RS_DEBUGFS "/policy");
	ASSERT_NE(NULL, after);
	EXPECT_TRUE(strstr(after, "\nhash 3 3\n") || strstr(after, "\ncpu 2 2\n")) TH_LOG("%s", after);
	free(after);
	free(before);
	ASSERT_EQ(0, verify("all", &res));
	EXPECT_EQ(0, strncmp(res, "OK", 2)) TH_LOG("verify: %s", res);
	free(res);
}

/* `memory`: the patch's per-inode cost follows the tree count. */
TEST_F_TIMEOUT(module, memory_follows_tree_count, RS_TEST_TIMEOUT)
{
	long long per4, per8, tree, arr4;
	char *m;

	ASSERT_EQ(0, rs_load(""));
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/policy", "hash 4"));
	m = rs_read_file(RS_DEBUGFS "/memory");
	ASSERT_NE(NULL, m);
	TH_LOG("memory:\n%s", m);
	EXPECT_EQ(4, rs_status_ll_ws(m, "patch.trees_per_inode"));
	EXPECT_LT(0, rs_status_ll_ws(m, "shadow_bytes"));
	tree = rs_status_ll_ws(m, "patch.tree_alloc_bytes");
	arr4 = rs_status_ll_ws(m, "patch.array_alloc_bytes");
	per4 = rs_status_ll_ws(m, "patch.per_inode_bytes");
	EXPECT_LE(40, rs_status_ll_ws(m, "patch.tree_struct_bytes"));
	EXPECT_LE(5 * 8, arr4);
	EXPECT_EQ(4 * tree + arr4 + rs_status_ll_ws(m, "patch.address_space_delta_bytes"), per4);
	free(m);
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/policy", "hash 8"));
	m = rs_read_file(RS_DEBUGFS "/memory");
	ASSERT_NE(NULL, m);
	per8 = rs_status_ll_ws(m, "patch.per_inode_bytes");
	EXPECT_LE(per4 + 4 * tree, per8);
	free(m);
}

/*
 * Lock designs: an execl storm on >= 2 vCPUs contends the `single` design's
 * per-file rwsem; the figures are consistent (contended <= acquisitions,
 * max wait <= total wait), and every replayed operation took the lock of
 * each design: `single` and `inverted` file locks count the same
 * acquisitions, and each tree's lock is taken as often under `all-trees`
 * as under `inverted` (no walks on libc).
 */
TEST_F_TIMEOUT(module, locks_contended_under_single, RS_TEST_TIMEOUT)
{
	struct rs_lock_row tot, sf, inf, at, it;
	char *stats, lock[8];
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
	EXPECT_LT(0, tot.contended);
	EXPECT_LE(tot.contended, tot.acq);
	EXPECT_LT(0, tot.wait_ns);
	EXPECT_LE(tot.wait_max_ns, tot.wait_ns);
	EXPECT_LT(0, tot.hold_ns);

	ASSERT_EQ(0, rs_lock_row(LIBC, "single", "file", &sf));
	ASSERT_EQ(0, rs_lock_row(LIBC, "inverted", "file", &inf));
	EXPECT_LT(0, sf.acq);
	EXPECT_EQ(sf.acq, inf.acq);
	for (i = 0; i < 4; i++) {
		snprintf(lock, sizeof(lock), "t%d", i);
		ASSERT_EQ(0, rs_lock_row(LIBC, "all-trees", lock, &at));
		ASSERT_EQ(0, rs_lock_row(LIBC, "inverted", lock, &it));
		EXPECT_LT(0, at.acq) TH_LOG("tree %d", i);
		EXPECT_EQ(at.acq, it.acq) TH_LOG("tree %d", i);
		EXPECT_LE(at.contended, at.acq);
		EXPECT_LE(it.contended, it.acq);
	}
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
	char *stats, *big;
	unsigned int i;

	ASSERT_EQ(0, rs_load(""));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, rs_write_str(RS_DEBUGFS "/locks", bad[i])) TH_LOG("bad #%u", i);
	big = malloc(1 << 20);
	ASSERT_NE(NULL, big);
	memset(big, 's', 1 << 20);
	EXPECT_EQ(-EINVAL, rs_write(RS_DEBUGFS "/locks", big, 1 << 20));
	free(big);
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

/* Reads active_objs and objperslab of @cache from /proc/slabinfo; 0 if found. */
static int slabinfo(const char *cache, long long *active, long long *per_slab)
{
	char line[512], name[64];
	long long num, size;
	int found = -1;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lld %lld %lld %lld", name, active, &num, &size, per_slab) == 5 &&
		    !strcmp(name, cache)) {
			found = 0;
			break;
		}
	fclose(f);
	return found;
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

/*
 * Memory after an execl storm: one 48-byte node per shadowed file VMA and
 * nothing else per VMA (`shadow.bytes_per_vma`, from the node cache's
 * object size), and the module's count of nodes agrees with the allocator's
 * (/proc/slabinfo `rmap_shadow_node`, after a shrink; tolerance: partially
 * used per-CPU slabs, and VMAs linked or unlinked between the two reads).
 */
TEST_F_TIMEOUT(module, memory_48_bytes_per_vma_after_storm, RS_TEST_TIMEOUT)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	long long active, per_slab, nodes, vmas, bpv, tol;
	char *st;

	ASSERT_EQ(0, rs_load(""));
	ASSERT_LT(0, run_storm(3));
	st = rs_read_file(RS_DEBUGFS "/stats");
	ASSERT_NE(NULL, st);
	nodes = rs_status_ll_ws(st, "shadow.nodes");
	vmas = rs_status_ll_ws(st, "shadow.vmas");
	bpv = rs_status_ll_ws(st, "shadow.bytes_per_vma");
	TH_LOG("vmas %lld nodes %lld node_bytes %lld bytes_per_vma %lld bytes_per_file %lld "
	       "anon.bytes_per_anon_vma %lld",
	       vmas, nodes, rs_status_ll_ws(st, "shadow.node_bytes"), bpv,
	       rs_status_ll_ws(st, "shadow.bytes_per_file"),
	       rs_status_ll_ws(st, "anon.bytes_per_anon_vma"));
	EXPECT_LT(100, vmas);
	EXPECT_EQ(vmas, nodes);
	EXPECT_LT(0, bpv);
	EXPECT_GE(48, bpv);
	EXPECT_GE(48, rs_status_ll_ws(st, "shadow.node_bytes"));
	/* One red-black entry (links, key, record: 40 B) per anon_vma, none per AVC. */
	EXPECT_LE(40, rs_status_ll_ws(st, "anon.bytes_per_anon_vma"));
	EXPECT_GE(64, rs_status_ll_ws(st, "anon.bytes_per_anon_vma"));
	free(st);
	EXPECT_EQ(0, rs_write_str("/sys/kernel/slab/rmap_shadow_node/shrink", "1"));
	ASSERT_EQ(0, slabinfo("rmap_shadow_node", &active, &per_slab));
	st = rs_read_file(RS_DEBUGFS "/stats");
	ASSERT_NE(NULL, st);
	nodes = rs_status_ll_ws(st, "shadow.nodes");
	free(st);
	tol = ncpu * per_slab + 64;
	TH_LOG("slabinfo rmap_shadow_node active %lld, shadow nodes %lld (tolerance %lld)", active,
	       nodes, tol);
	EXPECT_LE(nodes, active + 64);
	EXPECT_LE(active, nodes + tol);
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

	ASSERT_EQ(0, access("/proc/lock_stat", R_OK))
	TH_LOG("no /proc/lock_stat: the debug flavor must have CONFIG_LOCK_STAT");
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

/* One row of `storm`. */
struct storm_row {
	char state[16], design[16], policy[16];
	long long trees, secs, vmas, walk_every, threads, elapsed_ms, execs, ops, ops_per_sec, acq,
		contended_permille, wait_p50, wait_p99, hold_p50, hold_p99, walks, found, alloc_failures;
};

static int storm_row(struct storm_row *r)
{
	char *t = rs_read_file(RS_DEBUGFS "/storm"), *l;
	int n = 0;

	if (!t)
		return -1;
	l = strchr(t, '\n');
	if (l)
		n = sscanf(l + 1, "%15s %15s %15s %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld",
			   r->state, r->design, r->policy, &r->trees, &r->secs, &r->vmas, &r->walk_every,
			   &r->threads, &r->elapsed_ms, &r->execs, &r->ops, &r->ops_per_sec, &r->acq,
			   &r->contended_permille, &r->wait_p50, &r->wait_p99, &r->hold_p50, &r->hold_p99,
			   &r->walks, &r->found, &r->alloc_failures);
	free(t);
	return n == 21 ? 0 : (n == 1 ? 1 : -1);
}

/* Polls `storm` until its run is done (at most @secs s). */
static int storm_wait(struct storm_row *r, int secs)
{
	int i;

	for (i = 0; i < secs * 4; i++) {
		if (storm_row(r) == 0 && !strcmp(r->state, "done"))
			return 0;
		usleep(250 * 1000);
	}
	return -1;
}

/*
 * The in-kernel storm: one kthread per CPU runs the asked design and policy,
 * links, unlinks and walks (walks find the pre-populated VMAs), refuses a
 * second start while running, and `stop` ends a run early, keeping its
 * figures. Every design runs.
 */
TEST_F_TIMEOUT(module, storm_runs_every_design, RS_TEST_TIMEOUT)
{
	const char *designs[] = { "single", "all-trees", "inverted" };
	struct storm_row r;
	char cmd[128];
	unsigned int i;

	ASSERT_EQ(0, rs_load(""));
	ASSERT_EQ(1, storm_row(&r)) TH_LOG("no run yet: `none`");
	for (i = 0; i < 3; i++) {
		snprintf(cmd, sizeof(cmd), "start design=%s policy=hash trees=4 secs=2 vmas=1000 walk_every=8",
			 designs[i]);
		ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/storm", cmd));
		EXPECT_EQ(-EBUSY, rs_write_str(RS_DEBUGFS "/storm", "start"));
		ASSERT_EQ(0, storm_wait(&r, 120));
		TH_LOG("%s: %lld threads, %lld execs, %lld ops/s, %lld acq, %lld permille contended, wait p99 %lld ns, %lld walks found %lld",
		       r.design, r.threads, r.execs, r.ops_per_sec, r.acq, r.contended_permille,
		       r.wait_p99, r.walks, r.found);
		EXPECT_STREQ(designs[i], r.design);
		EXPECT_STREQ("hash", r.policy);
		EXPECT_EQ(4, r.trees);
		EXPECT_EQ(sysconf(_SC_NPROCESSORS_ONLN), r.threads);
		EXPECT_LT(0, r.execs);
		EXPECT_EQ(10 * r.execs + r.walks, r.ops);
		/* At least one lock per link and unlink, once warm. */
		EXPECT_LE(5 * r.execs, r.acq);
		EXPECT_GE(1000, r.contended_permille);
		EXPECT_LE(r.wait_p50, r.wait_p99);
		EXPECT_LT(0, r.walks);
		/* Every walk hits the 1000 pre-populated VMAs' offsets. */
		EXPECT_LE(r.walks, r.found);
		EXPECT_EQ(0, r.alloc_failures);
	}
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/storm", "start design=all-trees policy=cpu secs=600 vmas=100"));
	usleep(500 * 1000);
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/storm", "stop"));
	ASSERT_EQ(0, storm_row(&r));
	EXPECT_STREQ("done", r.state);
	EXPECT_GT(60000, r.elapsed_ms);
}

/* Bad storm writes are EINVAL; unload during a run stops it cleanly. */
TEST_F_TIMEOUT(module, storm_bad_writes_and_unload, RS_TEST_TIMEOUT)
{
	static const char *bad[] = { "begin", "start design=none", "start policy=x", "start trees=0",
				     "start trees=33", "start secs=0", "start secs=601",
				     "start vmas=6001", "start walk_every=0", "start secs=+3",
				     "start secs", "start foo=1", "stopp" };
	struct storm_row r;
	unsigned int i;

	ASSERT_EQ(0, rs_load(""));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, rs_write_str(RS_DEBUGFS "/storm", bad[i])) TH_LOG("bad #%u", i);
	EXPECT_EQ(1, storm_row(&r));
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/storm", "start design=inverted secs=600 vmas=500"));
	usleep(300 * 1000);
	ASSERT_EQ(0, rs_unload());
	ASSERT_FALSE(rs_loaded());
}

TEST_HARNESS_MAIN
