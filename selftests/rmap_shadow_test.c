// SPDX-License-Identifier: GPL-2.0
/*
 * rmap-shadow module selftests: load/unload, parameters, debugfs access,
 * the file-rmap taps counting what the real kernel does, the shadow exact
 * after a storm, and its memory.
 *
 * Needs root, debugfs mounted, and rmap_shadow.ko (see rmap_shadow_util.h).
 */
#define _GNU_SOURCE
#include "rmap_shadow_module.h"

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
	char *before, *after, *res = NULL;
	unsigned int i;
	pid_t kids[4];
	int st;

	ASSERT_EQ(0, rs_load(""));
	before = rs_read_file(RS_DEBUGFS "/policy");
	ASSERT_NE(NULL, before);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, rs_write_str(RS_DEBUGFS "/policy", bad[i])) TH_LOG("bad write #%u", i);
	EXPECT_EQ(-EINVAL, rs_write_big(RS_DEBUGFS "/policy", 'a'));
	EXPECT_EQ(-EINVAL, rs_write_big(RS_DEBUGFS "/verify", 'a'));
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

TEST_HARNESS_MAIN
