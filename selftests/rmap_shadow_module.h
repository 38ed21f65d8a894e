/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The `module` fixture of the rmap-shadow feature selftests
 * (rmap_shadow_test, _locks, _anon, _storm): each test starts with the
 * module unloaded and ends with its invariants checked, the module
 * unloaded and the kernel log free of reports; and their shared helpers.
 */
#ifndef RMAP_SHADOW_MODULE_H
#define RMAP_SHADOW_MODULE_H

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
	RS_SETUP_UNLOADED();
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

#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define LDSO "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"

/* Runs selftests' execl_storm next to this program; returns its loops. */
static inline long run_storm_n(int secs, int procs)
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
static inline long run_storm(int secs)
{
	return run_storm_n(secs, 0);
}

static inline int verify(const char *what, char **result)
{
	int ret = rs_write_str(RS_DEBUGFS "/verify", what);

	*result = rs_read_file(RS_DEBUGFS "/verify");
	return ret;
}

/* Reads active_objs and objperslab of @cache from /proc/slabinfo; 0 if found. */
static inline int slabinfo(const char *cache, long long *active, long long *per_slab)
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

#endif /* RMAP_SHADOW_MODULE_H */
