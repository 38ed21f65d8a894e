// SPDX-License-Identifier: GPL-2.0
/*
 * rmap-shadow placement selftests: which sibling tree each VMA of a file
 * goes to, under each policy, and the patch's lifecycle rules (a fork child
 * goes to its parent's tree; the pieces of a split keep their tree). Every
 * test maps a file of its own on a tmpfs of its own, so no other process
 * touches it and every expectation is exact: no retry, no wait for quiet.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "rmap_shadow_util.h"

#define RS_TEST_TIMEOUT 600

FIXTURE(policy) {
	int kmsg;
	int fd;
	char mnt[64];
	char path[128];
	cpu_set_t all;
};

/* The policy written before the test's mappings, and the trees it makes. */
FIXTURE_VARIANT(policy) {
	const char *spec;
	int trees;
};

FIXTURE_VARIANT_ADD(policy, node) { .spec = "node nodes", .trees = 0 };
FIXTURE_VARIANT_ADD(policy, smallest4) { .spec = "smallest 4", .trees = 4 };
FIXTURE_VARIANT_ADD(policy, cpu2) { .spec = "cpu 2", .trees = 2 };
FIXTURE_VARIANT_ADD(policy, hash4) { .spec = "hash 4", .trees = 4 };
FIXTURE_VARIANT_ADD(policy, single) { .spec = "single 8", .trees = 1 };

static int nr_cpu_nodes(void)
{
	char path[96];
	int n = 0;

	for (;;) {
		char *s;

		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", n);
		s = rs_read_file(path);
		if (!s)
			return n;
		free(s);
		n++;
	}
}

/* The CPUs of @node as a mask. */
static int node_mask(int node, cpu_set_t *set)
{
	char path[96], *s, *p;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
	s = rs_read_file(path);
	if (!s)
		return -1;
	CPU_ZERO(set);
	for (p = s; *p && *p != '\n';) {
		long a = strtol(p, &p, 10), b = a;

		if (*p == '-')
			b = strtol(p + 1, &p, 10);
		for (; a <= b; a++)
			CPU_SET(a, set);
		if (*p == ',')
			p++;
	}
	free(s);
	return 0;
}

static int pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

FIXTURE_SETUP(policy)
{
	self->kmsg = -1;
	self->fd = -1;
	self->mnt[0] = 0;
	RS_SETUP_UNLOADED();
	ASSERT_EQ(0, sched_getaffinity(0, sizeof(self->all), &self->all));
	self->kmsg = rs_kmsg_open();
	self->fd = rs_tmpfs_file(self->mnt, self->path, 256);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, rs_load(""));
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/policy", variant->spec));
}

FIXTURE_TEARDOWN(policy)
{
	sched_setaffinity(0, sizeof(self->all), &self->all);
	if (rs_loaded()) {
		EXPECT_EQ(0, rs_check_invariants(0));
		EXPECT_EQ(0, rs_unload());
	}
	if (self->fd >= 0)
		close(self->fd);
	if (self->mnt[0]) {
		umount2(self->mnt, MNT_DETACH);
		rmdir(self->mnt);
	}
	EXPECT_EQ(0, rs_kmsg_reports(self->kmsg)) TH_LOG("kernel log has reports");
}

/* The file's row; the shadow equals the real tree and the trees add up. */
static int row_of(struct __test_metadata *_metadata, const char *path, struct rs_file_row *row)
{
	long long sum = 0;
	int i;

	if (rs_file_row_once(path, row))
		return -1;
	for (i = 0; i < row->trees; i++)
		sum += row->per_tree[i];
	EXPECT_EQ(row->real, row->shadow);
	EXPECT_EQ(row->shadow, sum);
	EXPECT_EQ(0, row->degraded);
	return 0;
}

/* A child pinned to @cpu maps @n pages from @first and waits; its pid. */
static pid_t mapper_on(int fd, int cpu, int first, int n)
{
	int pfd[2];
	pid_t pid;
	char c = 'n';

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid == 0) {
		void *maps[256];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(pfd[0]);
		if (!pin_cpu(cpu) && !rs_map_range(fd, first, n, maps))
			c = 'y';
		if (write(pfd[1], &c, 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	if (pid > 0 && (read(pfd[0], &c, 1) != 1 || c != 'y')) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(pfd[0]);
	return pid;
}

static int reap(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	return waitpid(pid, &st, 0) == pid && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM ? 0 : -1;
}

/*
 * Where each policy puts the VMAs of one process pinned to CPU 0, then of
 * one pinned to the last CPU (on the last node): exact per tree.
 */
TEST_F_TIMEOUT(policy, places, RS_TEST_TIMEOUT)
{
	struct rs_file_row row;
	int ncpu = sysconf(_SC_NPROCESSORS_ONLN), nodes = nr_cpu_nodes();
	int trees = variant->trees ? variant->trees : nodes;
	int last = ncpu - 1, i, nz = 0;
	cpu_set_t lastnode;
	pid_t a, b;

	ASSERT_LE(2, ncpu);
	ASSERT_EQ(0, node_mask(nodes - 1, &lastnode));
	ASSERT_TRUE(CPU_ISSET(last, &lastnode));
	a = mapper_on(self->fd, 0, 0, 40);
	ASSERT_LT(0, a);
	ASSERT_EQ(0, row_of(_metadata, self->path, &row));
	ASSERT_EQ(trees, row.trees);
	ASSERT_EQ(40, row.shadow);
	if (!strcmp(variant->spec, "node nodes") || !strcmp(variant->spec, "cpu 2") ||
	    !strcmp(variant->spec, "single 8")) {
		/* CPU 0 is on node 0: everything in tree 0. */
		EXPECT_EQ(40, row.per_tree[0]);
	} else if (!strcmp(variant->spec, "smallest 4")) {
		/* Insert-only: balanced to within one, ties to the lowest index. */
		for (i = 0; i < 4; i++)
			EXPECT_EQ(10, row.per_tree[i]);
	} else {
		/* hash: P(an empty tree among 40) = 4 (3/4)^40 < 1e-4. */
		for (i = 0; i < 4; i++)
			nz += row.per_tree[i] > 0;
		EXPECT_EQ(4, nz);
	}
	b = mapper_on(self->fd, last, 40, 41);
	ASSERT_LT(0, b);
	ASSERT_EQ(0, row_of(_metadata, self->path, &row));
	ASSERT_EQ(81, row.shadow);
	if (!strcmp(variant->spec, "node nodes") && nodes == 1) {
		EXPECT_EQ(81, row.per_tree[0]);
	} else if (!strcmp(variant->spec, "node nodes")) {
		EXPECT_EQ(40, row.per_tree[0]);
		EXPECT_EQ(41, row.per_tree[nodes - 1]) TH_LOG("node %d", nodes - 1);
	} else if (!strcmp(variant->spec, "cpu 2")) {
		/* ncpu is even in every guest topology: the last CPU is odd. */
		EXPECT_EQ(40, row.per_tree[0]);
		EXPECT_EQ(41, row.per_tree[1]) TH_LOG("cpu %d", last);
	} else if (!strcmp(variant->spec, "smallest 4")) {
		EXPECT_EQ(21, row.per_tree[0]);
		for (i = 1; i < 4; i++)
			EXPECT_EQ(20, row.per_tree[i]);
	} else if (!strcmp(variant->spec, "single 8")) {
		EXPECT_EQ(81, row.per_tree[0]);
	}
	EXPECT_EQ(0, reap(a));
	EXPECT_EQ(0, reap(b));
	/* Every VMA gone: the file's shadow is released. */
	EXPECT_NE(0, rs_file_row_once(self->path, &row));
}

/*
 * A fork child's VMAs go to their parent's tree (insert_after), whatever
 * the policy would say where the fork runs; the pieces of an mprotect split
 * keep their VMA's tree (vm_area_dup() copies the patch's tree_idx). Under
 * `cpu 2` the forking CPU and the mapping CPU pick different trees, so a
 * placement by policy would show.
 */
TEST_F_TIMEOUT(policy, lifecycle_keeps_tree, RS_TEST_TIMEOUT)
{
	struct rs_file_row row;
	long long dup0, parent0;
	void *extra[30];
	int pfd[2], st;
	char *big, c;
	pid_t kid;

	if (strcmp(variant->spec, "cpu 2"))
		return; /* One variant suffices: the others place by other means. */
	ASSERT_EQ(0, pin_cpu(0));
	/* 30 more VMAs on CPU 0 keep the file among the 20 rows of `files`. */
	ASSERT_EQ(0, rs_map_range(self->fd, 8, 30, extra));
	big = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, big);
	ASSERT_EQ(0, row_of(_metadata, self->path, &row));
	ASSERT_EQ(31, row.per_tree[0]);
	dup0 = rs_stat("placed.dup");
	/* On CPU 1 the policy says tree 1; the split's pieces stay in 0. */
	ASSERT_EQ(0, pin_cpu(1));
	ASSERT_EQ(0, mprotect(big + PAGE, PAGE, PROT_READ));
	ASSERT_EQ(0, row_of(_metadata, self->path, &row));
	EXPECT_EQ(33, row.per_tree[0]) TH_LOG("split pieces: %lld %lld", row.per_tree[0], row.per_tree[1]);
	EXPECT_EQ(0, row.per_tree[1]);
	EXPECT_LE(dup0 + 1, rs_stat("placed.dup"));
	/* Fork on CPU 1: the child's three VMAs go to tree 0 too. */
	parent0 = rs_stat("placed.parent");
	ASSERT_EQ(0, pipe(pfd));
	kid = fork();
	ASSERT_LE(0, kid);
	if (kid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(pfd[1]);
		if (read(pfd[0], &c, 1) < 0)
			_exit(2);
		_exit(0);
	}
	close(pfd[0]);
	ASSERT_EQ(0, row_of(_metadata, self->path, &row));
	EXPECT_EQ(66, row.per_tree[0]) TH_LOG("after fork: %lld %lld", row.per_tree[0], row.per_tree[1]);
	EXPECT_EQ(0, row.per_tree[1]);
	/* Ours and every other file VMA of this process (binary, libraries). */
	EXPECT_LE(parent0 + 33, rs_stat("placed.parent"));
	close(pfd[1]);
	ASSERT_EQ(kid, waitpid(kid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ASSERT_EQ(0, row_of(_metadata, self->path, &row));
	EXPECT_EQ(33, row.per_tree[0]);
	EXPECT_EQ(0, munmap(big, 4 * PAGE));
}

TEST_HARNESS_MAIN
