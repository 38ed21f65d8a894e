// SPDX-License-Identifier: GPL-2.0
/*
 * mmloop FILE SECONDS KEEP: one process keeps KEEP + 1 one-page shared
 * mappings of FILE (its i_mmap tree then holds KEEP + 1 VMAs), then maps
 * and unmaps four pages of it, again and again, for SECONDS; prints
 * the number of map/unmap pairs. The file taps' cost with nothing between
 * them but the syscalls: no exec, no fork, no switch of address space (no
 * emptying of an emulated TLB), the same tree for every event. A
 * diagnostic beside the execl storm (Documentation/results.rst, "Where a
 * file tap's time goes"): run in a guest with the module loaded, in mode
 * shadow with timing on, then read `taps`. Build:
 *   scripts/in-root.sh gcc -O2 -o scripts/diag/mmloop scripts/diag/mmloop.c
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec t0, t;
	double secs;
	long n = 0;
	int fd, keep, k;

	if (argc != 4) {
		fprintf(stderr, "usage: mmloop FILE SECONDS KEEP\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CREAT, 0600);
	secs = atof(argv[2]);
	keep = atoi(argv[3]);
	if (fd < 0 || ftruncate(fd, 1 << 20)) {
		perror("mmloop");
		return 1;
	}
	for (k = 0; k <= keep; k++)
		if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (k % 200) * 4096) == MAP_FAILED) {
			perror("mmloop: mmap");
			return 1;
		}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (k = 0; k < 100; k++) {
			void *p = mmap(NULL, 4 * 4096, PROT_READ, MAP_SHARED, fd, (k % 16) * 4096);

			if (p == MAP_FAILED || munmap(p, 4 * 4096)) {
				perror("mmloop");
				return 1;
			}
		}
		n += 100;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	printf("mmloop: %ld map/unmap pairs\n", n);
	return 0;
}
