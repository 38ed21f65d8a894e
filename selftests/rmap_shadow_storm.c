// SPDX-License-Identifier: GPL-2.0
/*
 * rmap-shadow in-kernel storm selftests: every design and policy runs,
 * bad input and unload during a run.
 *
 * Needs root, debugfs mounted, and rmap_shadow.ko (see rmap_shadow_util.h).
 */
#define _GNU_SOURCE
#include "rmap_shadow_module.h"

/* One row of `storm`. */
struct storm_row {
	char state[16], design[16], policy[16];
	long long trees, secs, vmas, walk_every, threads, elapsed_ms, execs, ops, ops_per_sec, acq,
		contended_permille, wait_p50, wait_p99, hold_p50, hold_p99, walks, found, alloc_failures,
		wait_mean, hold_mean;
};

static int storm_row(struct storm_row *r)
{
	char *t = rs_read_file(RS_DEBUGFS "/storm"), *l;
	int n = 0;

	if (!t)
		return -1;
	l = strchr(t, '\n');
	if (l)
		n = sscanf(l + 1, "%15s %15s %15s %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld",
			   r->state, r->design, r->policy, &r->trees, &r->secs, &r->vmas, &r->walk_every,
			   &r->threads, &r->elapsed_ms, &r->execs, &r->ops, &r->ops_per_sec, &r->acq,
			   &r->contended_permille, &r->wait_p50, &r->wait_p99, &r->hold_p50, &r->hold_p99,
			   &r->walks, &r->found, &r->alloc_failures, &r->wait_mean, &r->hold_mean);
	free(t);
	return n == 23 ? 0 : (n == 1 ? 1 : -1);
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
		EXPECT_LT(0, r.hold_mean);
	}
	/*
	 * threads=1: one kthread (the lab model's uncontended run): no
	 * acquisition waits for another thread, so none is contended.
	 */
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/storm", "start design=single policy=single secs=1 vmas=100 threads=1"));
	ASSERT_EQ(0, storm_wait(&r, 120));
	EXPECT_EQ(1, r.threads);
	EXPECT_LT(0, r.execs);
	EXPECT_EQ(0, r.contended_permille);
	EXPECT_LT(0, r.hold_mean);
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
				     "start secs", "start foo=1", "stopp", "start threads=0",
				     "start threads=4097" };
	struct storm_row r;
	char more[64];
	unsigned int i;

	ASSERT_EQ(0, rs_load(""));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_EQ(-EINVAL, rs_write_str(RS_DEBUGFS "/storm", bad[i])) TH_LOG("bad #%u", i);
	/* More threads than online CPUs. */
	snprintf(more, sizeof(more), "start secs=1 threads=%ld", sysconf(_SC_NPROCESSORS_ONLN) + 1);
	EXPECT_EQ(-EINVAL, rs_write_str(RS_DEBUGFS "/storm", more));
	EXPECT_EQ(1, storm_row(&r));
	ASSERT_EQ(0, rs_write_str(RS_DEBUGFS "/storm", "start design=inverted secs=600 vmas=500"));
	usleep(300 * 1000);
	ASSERT_EQ(0, rs_unload());
	ASSERT_FALSE(rs_loaded());
}

TEST_HARNESS_MAIN
