// SPDX-License-Identifier: GPL-2.0
/*
 * rmap-shadow module selftests: load/unload, parameters, debugfs access, and
 * the file-rmap tap counting what the real kernel does.
 *
 * Needs root, debugfs mounted, and rmap_shadow.ko (see rmap_shadow_util.h).
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "rmap_shadow_util.h"

FIXTURE(module) {
	char *status;
};

FIXTURE_SETUP(module)
{
	self->status = NULL;
	if (geteuid())
		SKIP(return, "needs root");
	if (rs_loaded())
		ASSERT_EQ(0, rs_unload());
	ASSERT_EQ(0, access(rs_ko_path(), R_OK)) TH_LOG("no module at %s", rs_ko_path());
}

FIXTURE_TEARDOWN(module)
{
	free(self->status);
	if (rs_loaded())
		EXPECT_EQ(0, rs_unload());
}

/* Loading creates the module and its debugfs directory; unloading removes both. */
TEST_F(module, load_unload)
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
TEST_F(module, status_matches_kernel)
{
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
	EXPECT_LE(0, rs_status_ll(self->status, "version"));
}

/* Defaults: one tree per node, 4096 files. */
TEST_F(module, default_parameters)
{
	ASSERT_EQ(0, rs_load(""));
	self->status = rs_read_file(RS_DEBUGFS "/status");
	ASSERT_NE(NULL, self->status);
	EXPECT_EQ(0, rs_status_ll(self->status, "param.nr_trees"));
	EXPECT_EQ(4096, rs_status_ll(self->status, "param.max_files"));
}

/* Every debugfs file is root-only, and an unprivileged user cannot read it. */
TEST_F(module, debugfs_root_only)
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
TEST_F(module, bad_parameters_rejected)
{
	static const struct bad_param bad[] = {
		{ "nr_trees=1025", "invalid nr_trees=1025" },
		{ "nr_trees=4294967295", "invalid nr_trees=4294967295" },
		{ "max_files=0", "invalid max_files=0" },
		{ "max_files=1048577", "invalid max_files=1048577" },
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

/*
 * The file-rmap tap sees the real kernel link file VMAs: N mappings of one
 * file page (pgoff 0 each, so none can merge) are N mapping_rmap_tree_insert
 * calls.
 */
TEST_F(module, tap_counts_file_vma_links)
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
TEST_F(module, unload_during_mmap_storm)
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
			int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

			for (;;) {
				void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);

				if (p != MAP_FAILED)
					munmap(p, 4096);
			}
		}
	}
	for (round = 0; round < 10; round++) {
		ASSERT_EQ(0, rs_load(""));
		usleep(50 * 1000);
		ASSERT_EQ(0, rs_unload());
	}
	for (i = 0; i < ncpu; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], &status, 0);
	}
}

TEST_HARNESS_MAIN
