#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The anon table's app set, launched with posix_spawn() instead of fork.

scripts/guest/report.sh measures the anon table with 8 interactive-style
shells, 4 python3 interpreters and 4 coreutils pipelines running, started
by bash: every `&` and every pipeline element is a fork, and a pipeline's
subshell is a forked bash that never execs, so its anonymous memory shares
the parent's anon_vmas through anon_vma_fork(). This launcher starts the
same sixteen apps with os.posix_spawn() (glibc: clone(CLONE_VM |
CLONE_VFORK) then exec, no anon_vma_fork), each pipeline element spawned
on its own with pipes between them, so the two sets differ only in how
they were started: the test of "pipelines fork" as the explanation of the
anon_vma_chain figures.

Prints "spawned 16 apps, N processes" once every app runs, then waits for a line (or EOF) on
stdin; then closes the shells' and pipelines' input (they end on EOF),
kills the interpreters and reaps everything. The launcher itself is one
more python3 process while the set runs.
"""
import os
import shutil
import signal
import sys


def spawn(argv, stdin=None, stdout=None, close=()):
    """posix_spawn argv with stdin/stdout as given; closes `close` in the child."""
    acts = []
    if stdin is not None:
        acts.append((os.POSIX_SPAWN_DUP2, stdin, 0))
    if stdout is not None:
        acts.append((os.POSIX_SPAWN_DUP2, stdout, 1))
    for fd in close:
        acts.append((os.POSIX_SPAWN_CLOSE, fd))
    return os.posix_spawn(shutil.which(argv[0]), argv, os.environ, file_actions=acts)


def main():
    r, w = os.pipe()
    devnull = os.open(os.devnull, os.O_WRONLY)
    kids, sleepers, ours = [], [], []
    for _ in range(8):
        kids.append(spawn(["bash", "-c", "read -r x"], stdin=r, close=(w,)))
    for _ in range(4):
        sleepers.append(spawn(["python3", "-c", "import json, time, collections; time.sleep(600)"],
                              close=(w,)))
    for _ in range(4):
        # cat <input | sort | uniq -c | cat >/dev/null, one spawn per element.
        prev = r
        stages = [["cat"], ["sort"], ["uniq", "-c"], ["cat"]]
        for i, argv in enumerate(stages):
            if i < len(stages) - 1:
                pr, pw = os.pipe()
                ours += [pr, pw]
                kids.append(spawn(argv, stdin=prev, stdout=pw, close=[w] + [fd for fd in ours if fd not in (prev, pw)]))
                if prev != r:
                    os.close(prev)
                os.close(pw)
                ours = [fd for fd in ours if fd not in (prev, pw)]
                prev = pr
            else:
                kids.append(spawn(argv, stdin=prev, stdout=devnull, close=[w] + [fd for fd in ours if fd != prev]))
                os.close(prev)
                ours = [fd for fd in ours if fd != prev]
    os.close(r)
    print(f"spawned 16 apps, {len(kids) + len(sleepers)} processes", flush=True)
    sys.stdin.readline()
    os.close(w)
    for pid in sleepers:
        os.kill(pid, signal.SIGTERM)
    for pid in kids + sleepers:
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
