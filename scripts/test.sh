#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test.sh [TOPOLOGY...]   — the project's test command (README.rst, .ci/run)
#
# Builds everything it needs from nothing (toolchain root, debug kernel,
# module, selftests), runs the host-side checks, then the kselftests inside
# the harness's debug-kernel guests, then host mode (host-2n4c: a 2n4c guest
# on the perf kernel plays a user's own NUMA machine,
# scripts/guest/host-mode.sh: doctor, the module built with the guest's own
# toolchain, every kselftest, a short lab report), and prints one TAP
# stream. The last line is "N passed, N failed, N skipped"; the exit code is
# non-zero if anything failed.
#
# Default: 1n2c (the non-NUMA case), 2n4c, 4n8c and host-2n4c. A fresh run
# of that does not fit in 60 minutes on 2 cores (two kernels of about 19
# minutes each, then about 70 minutes of guests: Documentation/pipeline.rst).
#
# A skip is not a pass: only the skips in EXPECTED_SKIPS below are allowed
# (and counted as skipped); any other skip, a missing test, a short TAP plan,
# a program the runner did not run, or a kernel report on a guest's console
# is a failure.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

topos=("$@")
[ ${#topos[@]} -gt 0 ] || topos=(1n2c 2n4c 4n8c host-2n4c)
hostmode=()
for i in "${!topos[@]}"; do
	case ${topos[$i]} in host-*) hostmode+=("${topos[$i]#host-}"); unset "topos[$i]" ;; esac
done
FLAVOR=debug
logdir=$RS_REPO/.vm/test-logs
mkdir -p "$logdir"
pass=0 fail=0 skip=0 n=0
# TOPOLOGY:TEST skips that are expected (the test cannot apply there); none
# today: the placement tests use files of their own and apply everywhere.
EXPECTED_SKIPS=()
# Programs the kselftest runner must run in every guest (selftests/Makefile).
EXPECTED_PROGRAMS=9
t0=$(date +%s)

echo "TAP version 13"
# ok NAME / notok NAME [DIAG...]
ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n $1"; }
notok() {
	n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n $1"
	shift; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/# /' | tail -n 40
	return 0
}
# check NAME CMD...: a host-side test, its output kept in $logdir.
check() {
	local name=$1 log
	shift
	log=$logdir/$(tr -c 'a-zA-Z0-9_.-' _ <<<"$name").log
	if "$@" >"$log" 2>&1; then ok "$name"; else notok "$name" "$(tail -n 25 "$log")"; fi
}
skipped() { n=$((n + 1)); skip=$((skip + 1)); echo "ok $n $1 # SKIP $2"; }
finish() {
	echo "1..$n"
	echo "# total time $(($(date +%s) - t0)) s"
	echo "$pass passed, $fail failed, $skip skipped"
	[ "$fail" = 0 ]
	exit
}

# --- set-up: each step is a test; a failed step ends the run -----------------
check "host: toolchain root (trixie, pinned versions)" "$RS_REPO/scripts/toolchain.sh"
[ "$fail" = 0 ] || finish
check "host: $FLAVOR kernel builds from generated config" "$RS_REPO/scripts/kernel.sh" "$FLAVOR"
[ "$fail" = 0 ] || finish
kdir=$("$RS_REPO/scripts/kernel.sh" "$FLAVOR" --print-dir)
# Inside the root and the guests the sources are at /cache/src/... (the
# build's own `source` link).
ksrc=$(readlink "$kdir/source")

# --- host-side checks ----------------------------------------------------------
host_is_bookworm() {
	# Nothing from trixie leaked into the host: glibc is still bookworm's 2.36.
	local v
	v=$(dpkg-query -W -f='${Version}' libc6)
	echo "host libc6 $v"
	case "$v" in 2.36-*) ;; *) return 1 ;; esac
	# A trixie package carries a deb13 / bpo13 version; bookworm-backports
	# builds of trixie sources end in ~bpo12 and are bookworm's own.
	! dpkg-query -W -f='${Package} ${Version}\n' | grep -E 'deb13|bpo13' | grep -v '~bpo12'
}
check "host: nothing from trixie installed on the host" host_is_bookworm

no_committed_config() {
	# The kernel config is generated: no full .config is committed.
	! git -C "$RS_REPO" ls-files | grep -E '(^|/)\.?config$|defconfig$'
}
check "host: no committed kernel .config" no_committed_config

build_clean() {
	make -C "$RS_REPO" KDIR="$kdir" clean >/dev/null &&
		make -C "$RS_REPO" KDIR="$kdir" "$@" 2>&1 | tee /dev/stderr |
		{ ! grep -E '^(warning|error)|: warning:|: error:'; } &&
		[ -f "$RS_REPO/rmap_shadow.ko" ]
}
check "host: CLIPPY=1 build has no warnings" build_clean CLIPPY=1
check "host: module builds with no warnings" build_clean
check "host: rustfmt --check" make -C "$RS_REPO" KDIR="$kdir" rustfmtcheck

proto_mismatch_fails_build() {
	# A probed function whose prototype differs from what its tap assumes
	# fails the build: a wrong expectation in rust/protos.c, and a changed
	# __rmap_walk_file in the source the text check reads.
	local bad out
	out=$(make -C "$RS_REPO" KDIR="$kdir" RS_PROTO_SELFTEST=1 2>&1) && { echo "$out"; echo "built anyway"; return 1; }
	grep -q "prototype of mapping_rmap_tree_insert differs" <<<"$out" || { echo "$out" | tail -n 20; return 1; }
	# The build tree's source link names the source as the root sees it
	# (/cache/...); on the host it lives under $RS_CACHE.
	local src
	src=$(readlink "$kdir/source")
	src=$RS_CACHE${src#/cache}
	[ -r "$src/mm/rmap.c" ] || { echo "no $src/mm/rmap.c"; return 1; }
	bad=$(mktemp)
	sed 's/unsigned long nr_pages,/unsigned int nr_pages,/' "$src/mm/rmap.c" >"$bad"
	out=$("$RS_REPO/scripts/check-protos.sh" "$src" "$bad" 2>&1) && { rm -f "$bad"; echo "accepted a changed prototype"; return 1; }
	rm -f "$bad"
	grep -q "prototype of __rmap_walk_file differs" <<<"$out" || { echo "$out"; return 1; }
	"$RS_REPO/scripts/check-protos.sh" "$src"
}
check "host: a changed probe prototype fails the build" proto_mismatch_fails_build
# The checks above leave the tree clean; rebuild the module for the guests.
check "host: module rebuilt for the guests" build_clean

safety_comments() {
	# Every unsafe block has a SAFETY comment on the line(s) just above.
	local missing
	missing=$(find "$RS_REPO/rust" -name '*.rs' ! -name '*_generated.rs' -print0 |
		xargs -0 awk '
		FNR==1 { safety=0 }
		/^[[:space:]]*\/\// { if ($0 ~ /SAFETY/) safety=1; next }
		/unsafe[[:space:]]*\{/ && $0 !~ /SAFETY/ && !safety { printf "%s:%d\n", FILENAME, FNR }
		{ safety=0 }')
	[ -z "$missing" ] || { echo "unsafe without SAFETY: $missing"; return 1; }
}
check "host: every unsafe block has a SAFETY comment" safety_comments

shellcheck_clean() {
	# Every shell script (by its #! line, and the two sourced libraries),
	# at shellcheck's warning level, with sourced files followed.
	local files
	mapfile -t files < <(cd "$RS_REPO" && grep -rlIE '^#!/bin/(ba)?sh' scripts selftests .ci &&
		echo scripts/lib.sh && echo selftests/lib.sh)
	[ "${#files[@]}" -ge 10 ] || { echo "only ${#files[@]} shell scripts found"; return 1; }
	(cd "$RS_REPO" && scripts/in-root.sh shellcheck -x -S warning "${files[@]}")
}
check "host: shellcheck clean at warning level (every shell script)" shellcheck_clean

modinfo_ok() {
	local mi
	mi=$(rs_chroot modinfo "$RS_REPO/rmap_shadow.ko") || return 1
	echo "$mi"
	grep -q '^license: *GPL' <<<"$mi" && grep -q '^parm: *nr_trees' <<<"$mi" &&
		grep -q '^parm: *max_files' <<<"$mi" &&
		grep -q "^vermagic: *$(cat "$kdir/include/config/kernel.release") " <<<"$mi"
}
wrong_version_fails() {
	# A kernel other than 7.3 (here: 7.3's build tree told it is 7.2) fails
	# the build at once with one message naming the version.
	local out
	out=$(cd "$RS_REPO" && scripts/in-root.sh make -C "/cache/${kdir#"$RS_CACHE"/}" M="$RS_REPO" LLVM=1 PATCHLEVEL=2 modules 2>&1)
	echo "$out" | tail -n 5
	grep -q 'rmap_shadow: written for Linux 7.3 .*this kernel is 7.2' <<<"$out" && ! grep -q 'RUSTC\|BINDGEN' <<<"$out"
}
check "host: a kernel other than 7.3 fails the build with one message" wrong_version_fails

check "host: modinfo has license, parameters, vermagic of the test kernel" modinfo_ok

clone_under_tmp_builds() {
	# A newcomer's clone can live anywhere, /tmp included (rs_chroot once
	# hid it under the root's own /tmp).
	local d rc=0
	d=$(mktemp -d /tmp/rs-clone.XXXXXX)
	git clone -q "$RS_REPO" "$d/rmap-shadow" &&
		make -C "$d/rmap-shadow" KDIR="$kdir" >/dev/null &&
		[ -f "$d/rmap-shadow/rmap_shadow.ko" ] || rc=1
	rm -rf "$d"
	return $rc
}
check "host: a clone under /tmp builds the module" clone_under_tmp_builds
check "host: interval tree and policy unit tests (cargo test)" \
	cargo test --offline --quiet --manifest-path "$RS_REPO/tests/host/Cargo.toml"
check "host: selftests build" rs_chroot make -C "$RS_REPO/selftests" KSRC="$ksrc" all
check "host: lab statistics unit tests (scripts/test_*.py: labstats, model, overhead)" \
	rs_chroot python3 -m unittest discover -s "$RS_REPO/scripts" -p 'test_*.py'

# --- guest kselftests ------------------------------------------------------------
# Guests boot with slab_nomerge: the anon cross-check reads the anon_vma and
# anon_vma_chain caches in /proc/slabinfo, which merging would hide. And with
# lock statistics off (lockdep.lock_stat=0: collecting them doubled the boot
# time under TCG); the lock_stat test turns them on for its own window.
# Counts the harness's own test lines ("# ok N name") and the runner's lines
# for the shell tests; a runner "not ok" for the harness binary (a crash, a
# timeout) counts as one more failure, and so does a guest that printed
# nothing or ended with exit >= 90 (90: wrong topology, 124: killed after the
# timeout, 128+N: qemu killed by a signal).
# Kernel report headers a guest's console must not show (the selftests also
# check the log from each test's start; this catches what they cannot see:
# a report during boot, between tests, or in a guest that died).
report_pat='WARNING:|BUG:|Oops|general protection fault|UBSAN:|possible circular locking dependency|possible recursive locking|inconsistent lock state|suspicious RCU usage|DEBUG_LOCKS_WARN_ON|sleeping function called from invalid context|Kernel panic|kernel BUG|rcu: INFO:|detected stall|turning off the locking correctness validator|queued lock replays|suspected memory leaks|blocked for more than'
# stamp FILE: copy stdin to stdout; write to FILE, for each harness test and
# each runner program, "took SECONDS NAME" (host clock), and "boot SECONDS"
# for the time until the first test started. Where a suite's time goes.
stamp() {
	local out=$1 line start now cur="" name booted=""
	start=$(date +%s)
	: >"$out"
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case "$line" in
		"# #  RUN "*|"# selftests: "*)
			now=$(date +%s)
			[ -n "$booted" ] || { booted=1; echo "boot $((now - start))" >>"$out"; }
			[ -z "$cur" ] || echo "took $((now - start)) $cur" >>"$out"
			start=$now
			name=${line#\# \#  RUN }; name=${name#\# selftests: }
			name=${name% ...}
			cur=${name#"${name%%[! ]*}"} ;;
		"ok "*"selftests: "*|"not ok "*"selftests: "*)
			now=$(date +%s)
			[ -z "$cur" ] || echo "took $((now - start)) $cur" >>"$out"
			cur="" start=$now ;;
		esac
	done
	[ -z "$cur" ] || echo "took $(($(date +%s) - start)) $cur (unfinished)" >>"$out"
}
# Kernel arguments and the guest's set-up of every debug-kernel guest, the
# harness's and host mode's alike.
guest_args=(-a slab_nomerge -a log_buf_len=16M -a lockdep.lock_stat=0)
debug_env="echo clear >/sys/kernel/debug/kmemleak; RS_EXPECT_KMEMLEAK=1 RS_EXPECT_DEBUG=1 RS_EXPECT_BPFTRACE=1"
for topo in "${topos[@]}"; do
	log=$logdir/guest-$topo.log
	# The guest's console goes into the log too (RMAP_SHADOW_VM_VERBOSE):
	# a splat or a panic is then in the failure's excerpt. A large log
	# buffer keeps an early splat from rolling out of dmesg. The timeout
	# (2100 s) leaves room over the slowest guest measured (4n8c, 1309 s).
	RMAP_SHADOW_VM_VERBOSE=1 "$RS_REPO/scripts/vm.sh" -t 2100 "${guest_args[@]}" "$topo" "$FLAVOR" \
		"$debug_env RMAP_SHADOW_KO=$RS_REPO/rmap_shadow.ko make -s -C selftests KSRC=$ksrc run_tests" \
		2>&1 | stamp "$logdir/guest-$topo.times" >"$log"
	rc=${PIPESTATUS[0]}
	echo "# $topo: $(awk '$1 == "took" { n++ } END { print n + 0 }' "$logdir/guest-$topo.times") timed lines in guest-$topo.times; slowest:"
	sort -k2,2nr "$logdir/guest-$topo.times" | awk '$1 == "took"' | head -n 5 | sed 's/^/#   /'
	got=0 plan=0 seen=0 programs=0
	while IFS= read -r line; do
		case "$line" in
		"# 1.."[0-9]*)
			plan=$((plan + ${line#\# 1..})) ;;
		"# ok "*"# SKIP"*)
			got=1; seen=$((seen + 1))
			name=${line#\# ok [0-9]* }; name=${name%% \# SKIP*}
			if printf '%s\n' "${EXPECTED_SKIPS[@]+"${EXPECTED_SKIPS[@]}"}" | grep -qxF "$topo:$name"; then
				skipped "$topo: $name" "${line##*# SKIP }"
			else
				notok "$topo: $name (unexpected skip)" "$line"
			fi ;;
		"# ok "*)
			got=1; seen=$((seen + 1)); ok "$topo: ${line#\# ok [0-9]* }" ;;
		"# not ok "*)
			got=1; seen=$((seen + 1))
			notok "$topo: ${line#\# not ok [0-9]* }" "$(grep -B 30 -F "$line" "$log" | grep -E '^# #' | tail -n 20)" ;;
		"ok "*"selftests: "*"# SKIP"*)
			got=1; programs=$((programs + 1))
			notok "$topo: ${line##*: } (unexpected skip)" "$line" ;;
		"ok "*"selftests: "*)
			got=1; programs=$((programs + 1))
			case "$line" in *.sh*) ok "$topo: ${line##*: }" ;; esac ;;
		"not ok "*"selftests: "*)
			got=1; programs=$((programs + 1))
			notok "$topo: ${line##*: }" "$(grep -B 40 -F "$line" "$log" | tail -n 30)" ;;
		esac
	done < <(sed 's/\r$//' "$log")
	if [ "$got" = 0 ] || [ "$rc" -ge 90 ]; then
		notok "$topo: guest booted and ran the kselftests (exit $rc)" "$(tail -n 80 "$log")"
	fi
	if [ "$programs" != "$EXPECTED_PROGRAMS" ]; then
		notok "$topo: the runner ran $programs of $EXPECTED_PROGRAMS programs" "$(grep -E '^(not )?ok .*selftests:' "$log")"
	fi
	if [ "$seen" != "$plan" ]; then
		notok "$topo: harness plans announced $plan tests, $seen reported"
	fi
	# Console lines are the ones the TAP output did not write (the guests
	# print no printk timestamps); the tests' own echoes start with "#".
	if sed 's/\r$//' "$log" | grep -vE '^(#|ok |not ok |TAP version|1\.\.)' |
		grep -E "$report_pat" >"$logdir/console-$topo.bad"; then
		notok "$topo: console free of kernel reports" "$(head -n 20 "$logdir/console-$topo.bad")"
	else
		ok "$topo: console free of kernel reports"
	fi
done

# --- host mode: a guest plays the user's own NUMA machine ----------------------
# Its own kernel, its own toolchain (the guest's root), a clone of its own:
# doctor, build, selftests and a short lab report, each a step. The kernel
# is the perf flavor, a user's ordinary kernel (its selftests skip what it
# lacks: LOCK_STAT, failslab, lockdep); RMAP_SHADOW_HOSTMODE_FLAVOR=debug
# runs it on the debug kernel, everything then under lockdep, KASAN and
# kmemleak with no skip allowed (measured 2026-12-04, 2n2c: far slower, the
# guest's own bindgen alone took 7 minutes).
hm_steps=("copy of the repository" "doctor.sh passes"
	"module builds with this machine's toolchain (make KDIR=...)" "the build used no toolchain root"
	"selftests run on the machine itself (make -C selftests run_tests)" "host-mode lab report (scripts/host-report.sh)")
for topo in "${hostmode[@]+"${hostmode[@]}"}"; do
	hflavor=${RMAP_SHADOW_HOSTMODE_FLAVOR:-perf}
	if ! pkdir=$("$RS_REPO/scripts/kernel.sh" "$hflavor" 2>"$logdir/hostmode-kernel.log"); then
		notok "host mode $topo: $hflavor kernel builds" "$(tail -n 20 "$logdir/hostmode-kernel.log")"
		continue
	fi
	log=$logdir/hostmode-$topo.log
	# Every flavor has BPF and the root has bpftrace: its test must run.
	expect="RS_EXPECT_BPFTRACE=1"
	[ "$hflavor" != debug ] || expect=$debug_env
	RMAP_SHADOW_VM_VERBOSE=1 "$RS_REPO/scripts/vm.sh" -t 2400 "${guest_args[@]}" "$topo" "$hflavor" \
		"$expect RS_KDIR=/cache/${pkdir#"$RS_CACHE"/} RS_KSRC=$(readlink "$pkdir/source") bash scripts/guest/host-mode.sh" \
		2>&1 | stamp "$logdir/hostmode-$topo.times" >"$log"
	rc=${PIPESTATUS[0]}
	# Each harness test of the selftests step, as its own line (the
	# step's line below says whether every program ran and passed).
	# (Lines "# ok N NAME" / "# not ok N NAME"; the programs' own lines,
	# "# ok N selftests: ...", are the selftests step's.)
	while IFS= read -r line; do
		case "$line" in
		"# ok "*"selftests: "* | "# not ok "*"selftests: "*) ;;
		"# ok "[0-9]*"# SKIP"*)
			name=${line#\# ok [0-9]* }
			if [ "$hflavor" = debug ]; then notok "host mode $topo: ${name%% \# SKIP*} (unexpected skip)" "$line"
			else skipped "host mode $topo: ${name%% \# SKIP*}" "${line##*# SKIP }"; fi ;;
		"# ok "[0-9]*) ok "host mode $topo: ${line#\# ok [0-9]* }" ;;
		"# not ok "[0-9]*) notok "host mode $topo: ${line#\# not ok [0-9]* }" ;;
		esac
	done < <(sed 's/\r$//' "$log")
	for st in "${hm_steps[@]}"; do
		if grep -qxF "HM ok $st" <(sed 's/\r$//' "$log"); then ok "host mode $topo: $st"
		else
			ex=$(grep -B 30 -F "HM not ok $st" "$log" | tail -n 30)
			notok "host mode $topo: $st (exit $rc)" "${ex:-$(tail -n 30 "$log")}"
		fi
	done
	if sed 's/\r$//' "$log" | grep -vE '^(#|HM |ok |not ok |TAP version|1\.\.)' |
		grep -E "$report_pat" >"$logdir/console-host-$topo.bad"; then
		notok "host mode $topo: console free of kernel reports" "$(head -n 20 "$logdir/console-host-$topo.bad")"
	else
		ok "host mode $topo: console free of kernel reports"
	fi
done
finish
