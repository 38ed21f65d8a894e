#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of test.sh's host-mode check: the guest plays a user's own
# NUMA machine running its own Rust-enabled 7.3 kernel. Parameters from the
# environment:
#   RS_KDIR   the running kernel's build directory (read-only here)
#   RS_KSRC   its source tree (kselftest headers)
#
# From a copy of the repository under /tmp (a user's clone; the shared one
# is not touched), with the guest's own toolchain (no toolchain root, no
# chroot): scripts/doctor.sh must pass, the module must build with
# `make KDIR=...`, the selftests must run (make -C selftests run_tests:
# every program and every harness test ok) and a short host-mode lab
# report (scripts/host-report.sh) must give its short form. Prints one line
# per step: "HM ok STEP" or "HM not ok STEP", the details before it.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
# The copy lives on the shared 9p directory (under .vm/, ignored by git),
# not on /tmp: the walk tests page out a file next to the programs, and
# /tmp's tmpfs pages cannot be paged out without swap.
mkdir -p "$src/.vm"
work=$(mktemp -d "$src/.vm/rs-host.XXXXXX")
# (Not a path with a space: kbuild's M= cannot take one, and the Makefile
# says so.)
clone="$work/clone"
step() { local name=$1; shift; if "$@"; then echo "HM ok $name"; else echo "HM not ok $name"; fi; }

copy() {
	# Not the build products a clone does not have (tests/host's cargo
	# target is 20-30 MB: over the guest's 9p under a debug kernel that
	# alone took minutes).
	tar -C "$src" --exclude=./.vm --exclude=./results --exclude=./selftests/out \
		--exclude=./tests/host/target --exclude=./.git \
		--exclude='*.ko' --exclude='*.o' -cf "$work/repo.tar" . &&
		mkdir -p "$clone" && tar -C "$clone" -xf "$work/repo.tar"
}
step "copy of the repository" copy
cd "$clone" || exit 1
step "doctor.sh passes" scripts/doctor.sh -k "$RS_KDIR" -s "$RS_KSRC"
build() { make clean KDIR="$RS_KDIR" >/dev/null && make KDIR="$RS_KDIR" 2>&1 | tail -n 5 && [ -f rmap_shadow.ko ]; }
step "module builds with this machine's toolchain (make KDIR=...)" build
# The Makefile chose the machine's toolchain, not a chroot.
step "the build used no toolchain root" bash -c '! grep -q in-root <(make -n KDIR="$1" 2>/dev/null)' x "$RS_KDIR"
selftests() {
	local log=$work/selftests.log
	RMAP_SHADOW_KO="$clone/rmap_shadow.ko" make -s -C selftests KSRC="$RS_KSRC" run_tests >"$log" 2>&1
	grep -E '^(not )?ok |^# (not )?ok ' "$log" | sed 's/^/# /'
	# Each failed harness test's output from its RUN line to its FAIL
	# line (assertions, TH_LOG), or the log is gone with $work and a flake
	# cannot be told from a bug.
	awk '/ RUN  /{n=0} {b[n++]=$0} / FAIL  /{for(i=0;i<n;i++)print b[i]; n=0}' "$log" |
		tail -n 80 | sed 's/^/# failure detail: /'
	local progs bad skips
	progs=$(grep -cE '^ok [0-9]+ selftests: ' "$log")
	bad=$(grep -cE '^not ok |^# not ok ' "$log")
	# A skip here is a feature this kernel lacks (a perf kernel has no
	# LOCK_STAT): listed, not failed; on a debug kernel (RS_EXPECT_DEBUG
	# set, as test.sh does) a skip fails.
	skips=$(grep -cE '# SKIP' "$log")
	grep -E '# SKIP' "$log" | sed 's/^/# skipped here: /'
	echo "# selftests: $progs programs ok, $bad failed, $skips skipped"
	[ "$progs" = "$(sed -n 's/^EXPECTED_PROGRAMS=//p' scripts/test.sh)" ] && [ "$bad" = 0 ] &&
		{ [ -z "${RS_EXPECT_DEBUG:-}" ] || [ "$skips" = 0 ]; }
}
step "selftests run on the machine itself (make -C selftests run_tests)" selftests
report() {
	RS_KMODEL=0 KSRC=$RS_KSRC scripts/host-report.sh -r 2 -d 2 -k 1 -s 1 -m "$clone/rmap_shadow.ko" -o "$work/report" >"$work/report.log" 2>&1
	local rc=$?
	sed 's/^/# /' "$work/report.log" | tail -n 25
	[ $rc = 0 ] && grep -q 'taps / empty loops/s' "$work/report.log" && [ -s "$work/report/report.md" ]
}
step "host-mode lab report (scripts/host-report.sh)" report
rm -rf "$work"
