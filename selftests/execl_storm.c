// SPDX-License-Identifier: GPL-2.0
/*
 * execl_storm: a UnixBench-style execl loop on N processes.
 *
 *   execl_storm [-n PROCS] [-d SECONDS] [-p none|cpu|node|node=K] [-w PAGES] [-m]
 *   execl_storm --file-vmas      # file VMAs one exec leaves mapped
 *
 * Each worker re-executes this (dynamically linked) program with execl()
 * until the deadline, so every iteration maps ld.so, libc.so and the binary
 * again: the file-rmap traffic of UnixBench's execl test. Pinning:
 *   cpu     worker i on CPU i % ncpus
 *   node    worker i on the CPUs of node i % nnodes
 *   node=K  every worker on the CPUs of node K
 *
 * -w PAGES makes the storm walk-heavy: a file of PAGES pages next to this
 * program (unlinked at once, shared by every worker through an inherited
 * descriptor) is mapped MAP_SHARED by each loop, every page read, paged out
 * with MADV_PAGEOUT (reclaim walks each folio's file rmap: folio_referenced
 * and try_to_unmap under the file's i_mmap_rwsem for read) and unmapped,
 * before the next execl. The walk side of the lock designs is then loaded
 * together with the links and unlinks of the execs. Run it pinned (-p cpu):
 * a page just read-faulted waits in its CPU's LRU batch, MADV_PAGEOUT
 * drains only the batch of the CPU it runs on, and a worker that migrated
 * in between pages out nothing (seen in a 4n8c guest: 2 loops, 0 walks).
 *
 * -m runs the loop from a copy of this program in a memfd (shmem, in
 * memory): the first exec of each worker is fexecve() of the copy, the
 * later ones /proc/self/exe, now the copy; the parent keeps the copy mapped
 * meanwhile. The program's file VMAs are then
 * shmem's, and no exec waits on the filesystem the program was started
 * from (the guests' 9p repository mount is uncached: every exec of a
 * program there costs round trips to the host's 9p server). ld.so and libc
 * stay where they are.
 *
 * Prints one parsable line:
 *   execl_storm: procs=N seconds=D pin=P loops=L loops_per_sec=R [walk_pages=W] [mem=1]
 * and exits non-zero if any worker failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 1024

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * --file-vmas: prints how many file VMAs this program has mapped once
 * started (the binary, ld.so, libc...): what one exec links, before the
 * splits' re-inserts. The execl storm test's lower bound per exec.
 */
static int print_file_vmas(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return perror("/proc/self/maps"), 1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, " /") != NULL;
	fclose(f);
	printf("%d\n", n);
	return 0;
}

/* -w: map the shared file, read every page, page it out, unmap. */
static int walk_step(void)
{
	const char *fds = getenv("RS_STORM_WALK_FD"), *ps = getenv("RS_STORM_WALK_PAGES");
	volatile char sum = 0;
	size_t len, i;
	char *m;

	if (!fds || !ps)
		return 0;
	len = strtoul(ps, NULL, 10) * 4096;
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, atoi(fds), 0);
	if (m == MAP_FAILED)
		return perror("execl_storm: walk mmap"), 1;
	for (i = 0; i < len; i += 4096)
		sum += m[i];
	if (madvise(m, len, MADV_PAGEOUT))
		return perror("execl_storm: MADV_PAGEOUT"), 1;
	munmap(m, len);
	return 0;
}

/* -w: the walk file, created next to this program and unlinked at once. */
static int walk_file(int pages)
{
	char path[4200], page[4096], *slash;
	ssize_t n;
	int fd, i;

	n = readlink("/proc/self/exe", path, 4096);
	if (n <= 0)
		return -1;
	path[n] = 0;
	slash = strrchr(path, '/');
	if (!slash)
		return -1;
	strcpy(slash, "/.execl_storm_walk.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	memset(page, 'w', sizeof(page));
	for (i = 0; i < pages; i++)
		if (write(fd, page, sizeof(page)) != sizeof(page))
			return close(fd), unlink(path), -1;
	close(fd);
	/* Read-only: a shared mapping of a descriptor open for writing is
	 * refused (EINVAL) where the filesystem maps files read-only (9p
	 * without a cache, the guests' root). */
	fd = open(path, O_RDONLY);
	unlink(path);
	return fd;
}

/*
 * -m: a copy of this program in a memfd (close-on-exec: the copy lives on
 * as the workers' executable). Returns the descriptor or -1.
 */
static int mem_copy(void)
{
	char buf[65536];
	ssize_t n = 0;
	int in, out;

	in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	out = memfd_create("execl_storm", MFD_CLOEXEC | MFD_EXEC);
	if (out < 0 && errno == EINVAL) /* before 6.3: no MFD_EXEC, always executable */
		out = memfd_create("execl_storm", MFD_CLOEXEC);
	if (out < 0)
		return close(in), -1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) {
			n = -1;
			break;
		}
	close(in);
	if (n < 0)
		return close(out), -1;
	return out;
}

/* Re-exec step: argv = [prog, "--child", deadline_ns, count, result_fd]. */
static int child_step(char **argv)
{
	uint64_t deadline = strtoull(argv[2], NULL, 10);
	uint64_t count = strtoull(argv[3], NULL, 10) + 1;
	int fd = atoi(argv[4]);
	char c[32];

	if (walk_step())
		return 1;
	if (now_ns() >= deadline) {
		if (write(fd, &count, sizeof(count)) != sizeof(count))
			return 1;
		return 0;
	}
	snprintf(c, sizeof(c), "%llu", (unsigned long long)count);
	execl("/proc/self/exe", argv[0], "--child", argv[2], c, argv[4], (char *)NULL);
	perror("execl");
	return 1;
}

static int parse_cpulist(const char *s, cpu_set_t *set)
{
	CPU_ZERO(set);
	while (*s && *s != '\n') {
		char *end;
		long a = strtol(s, &end, 10), b;

		if (end == s)
			return -1;
		b = a;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (; a <= b; a++)
			CPU_SET(a, set);
		s = *end == ',' ? end + 1 : end;
	}
	return CPU_COUNT(set) ? 0 : -1;
}

static int node_cpus(int node, cpu_set_t *set)
{
	char path[96], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpulist", node);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return parse_cpulist(buf, set);
}

static int nr_nodes(void)
{
	int n = 0;
	cpu_set_t set;

	while (n < 1024 && node_cpus(n, &set) == 0)
		n++;
	return n ? n : 1;
}

int main(int argc, char **argv)
{
	int procs = 0, secs = 5, node_fixed = -1, pin_cpu = 0, pin_node = 0, walk_pages = 0;
	int mem = 0, memfd = -1;
	const char *pin = "none";
	int pfd[2], i, opt, failed = 0;
	pid_t pids[MAX_PROCS];
	uint64_t deadline, start, total = 0, v;
	char dl[32];
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (argc == 5 && !strcmp(argv[1], "--child"))
		return child_step(argv);
	if (argc == 2 && !strcmp(argv[1], "--file-vmas"))
		return print_file_vmas();

	while ((opt = getopt(argc, argv, "n:d:p:w:m")) != -1) {
		switch (opt) {
		case 'm':
			mem = 1;
			break;
		case 'w':
			walk_pages = atoi(optarg);
			if (walk_pages < 1 || walk_pages > 4096)
				goto usage;
			break;
		case 'n':
			procs = atoi(optarg);
			break;
		case 'd':
			secs = atoi(optarg);
			break;
		case 'p':
			pin = optarg;
			if (!strcmp(optarg, "cpu"))
				pin_cpu = 1;
			else if (!strcmp(optarg, "node"))
				pin_node = 1;
			else if (!strncmp(optarg, "node=", 5))
				node_fixed = atoi(optarg + 5);
			else if (strcmp(optarg, "none"))
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (!procs)
		procs = ncpus;
	if (procs < 1 || procs > MAX_PROCS || secs < 1 || secs > 3600)
		goto usage;

	if (walk_pages) {
		char v[16];
		int wfd = walk_file(walk_pages);

		if (wfd < 0)
			return perror("execl_storm: walk file"), 1;
		snprintf(v, sizeof(v), "%d", wfd);
		setenv("RS_STORM_WALK_FD", v, 1);
		snprintf(v, sizeof(v), "%d", walk_pages);
		setenv("RS_STORM_WALK_PAGES", v, 1);
	}
	if (mem) {
		memfd = mem_copy();
		if (memfd < 0)
			return perror("execl_storm: memfd copy"), 1;
		/*
		 * Mapped here for the whole storm, as a busy program on a
		 * real system stays mapped by its other processes: otherwise
		 * no process maps the copy between two workers' execs, and
		 * rmap-shadow makes its file shadow anew at each
		 * (shadow.files_created).
		 */
		if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, memfd, 0) == MAP_FAILED)
			return perror("execl_storm: map the memfd copy"), 1;
	}
	if (pipe2(pfd, 0))
		return perror("pipe"), 1;
	start = now_ns();
	deadline = start + (uint64_t)secs * 1000000000ull;
	snprintf(dl, sizeof(dl), "%llu", (unsigned long long)deadline);

	for (i = 0; i < procs; i++) {
		cpu_set_t set;
		int ok = 0;

		if (pin_cpu) {
			CPU_ZERO(&set);
			CPU_SET(i % ncpus, &set);
			ok = 1;
		} else if (pin_node) {
			ok = node_cpus(i % nr_nodes(), &set) == 0;
		} else if (node_fixed >= 0) {
			if (node_cpus(node_fixed, &set)) {
				fprintf(stderr, "execl_storm: node %d has no CPUs\n", node_fixed);
				return 2;
			}
			ok = 1;
		}
		pids[i] = fork();
		if (pids[i] < 0)
			return perror("fork"), 1;
		if (pids[i] == 0) {
			char fdstr[16];

			close(pfd[0]);
			if (ok && sched_setaffinity(0, sizeof(set), &set))
				_exit(3);
			snprintf(fdstr, sizeof(fdstr), "%d", pfd[1]);
			if (memfd >= 0) {
				char *args[] = { argv[0], "--child", dl, "0", fdstr, NULL };

				fexecve(memfd, args, environ);
			} else {
				execl("/proc/self/exe", argv[0], "--child", dl, "0", fdstr, (char *)NULL);
			}
			_exit(4);
		}
	}
	close(pfd[1]);
	for (i = 0; i < procs; i++) {
		int status;

		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	}
	while (read(pfd[0], &v, sizeof(v)) == sizeof(v))
		total += v;
	printf("execl_storm: procs=%d seconds=%d pin=%s loops=%llu loops_per_sec=%.1f",
	       procs, secs, pin, (unsigned long long)total,
	       total / ((now_ns() - start) / 1e9));
	if (walk_pages)
		printf(" walk_pages=%d", walk_pages);
	if (mem)
		printf(" mem=1");
	printf("\n");
	if (failed)
		fprintf(stderr, "execl_storm: %d workers failed\n", failed);
	return failed ? 1 : 0;

usage:
	fprintf(stderr, "usage: execl_storm [-n PROCS] [-d SECONDS] [-p none|cpu|node|node=K] [-w PAGES] [-m]\n");
	return 2;
}
