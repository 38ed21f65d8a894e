// SPDX-License-Identifier: GPL-2.0
/* mstorm N: N children map and unmap one page of their own executable, forever. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	int n = atoi(argv[1]), i;
	for (i = 0; i < n; i++) {
		if (fork() == 0) {
			int fd = open("/proc/self/exe", O_RDONLY);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;) {
				void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
				if (p != MAP_FAILED)
					munmap(p, 4096);
			}
		}
	}
	pause();
	return 0;
}
