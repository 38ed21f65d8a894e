# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers for the shell selftests (sourced). kselftest exit codes.
KSFT_PASS=0
KSFT_FAIL=1
KSFT_SKIP=4
RS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RS_BIN=${RS_BIN:-$RS_DIR/out}
[ -x "$RS_BIN/execl_storm" ] || RS_BIN=$RS_DIR
# The module: RMAP_SHADOW_KO (the selftests), else RS_KO (the guest programs
# of scripts/guest/, which source this file for the paths), else the build.
RS_KO=${RMAP_SHADOW_KO:-${RS_KO:-$RS_DIR/../rmap_shadow.ko}}
# The module's debugfs directory: its one definition in shell.
RS_DEBUGFS=/sys/kernel/debug/rmap_shadow

ksft_pass() { exit $KSFT_PASS; }
ksft_fail() { echo "# FAIL: $*"; exit $KSFT_FAIL; }
ksft_skip() { echo "# SKIP: $*"; exit $KSFT_SKIP; }
ksft_require_root() { [ "$(id -u)" = 0 ] || ksft_skip "needs root"; }

rs_load() { insmod "$RS_KO" "$@"; }
rs_unload() { rmmod rmap_shadow; }
rs_unload_quiet() { [ -d /sys/module/rmap_shadow ] && rmmod rmap_shadow 2>/dev/null; true; }
# rs_status KEY: the value of "KEY: value" in debugfs status.
rs_status() { sed -n "s/^$1: //p" "$RS_DEBUGFS/status"; }
# rs_stat KEY: the value of "KEY value" in debugfs stats.
rs_stat() { sed -n "s/^$1 //p" "$RS_DEBUGFS/stats"; }

# bpftrace, the peer a user would pick instead (selftests/bpftrace_test.sh,
# scripts/bpftrace-count.sh, scripts/guest/overhead.sh's `bpftrace` arm).
#
# rs_tap_symbols: the kernel functions the module taps, from its `taps`
# table (the module must be loaded; `test_tap` is the module's own).
rs_tap_symbols() { awk 'NR > 1 && $1 != "test_tap" { print $1 }' "$RS_DEBUGFS/taps"; }
# rs_taps_read ARRAY: the module's hits per tap into the associative array
# ARRAY (tap -> hits); builtins only (no fork: bpftrace would count it).
rs_taps_read() {
	local -n into=$1
	local tap hits rest
	{
		read -r rest
		# shellcheck disable=SC2034 # a nameref: the caller's array
		while read -r tap hits rest; do into[$tap]=$hits; done
	} <"$RS_DEBUGFS/taps"
}
# rs_bpftrace_table PREFIX T0 T1 SYM...: print "function module bpftrace",
# one row per SYM (the module's hits T1[SYM] - T0[SYM], two rs_taps_read
# arrays, beside RS_BT_COUNT[SYM] of rs_bpftrace_stop), each line behind
# PREFIX; a row whose two counts differ says DIFFERENT, and then the
# function returns 1.
rs_bpftrace_table() {
	local pfx=$1 s m b mark rc=0
	local -n a0=$2 a1=$3
	shift 3
	printf '%s%-32s %12s %12s\n' "$pfx" function module bpftrace
	for s in "$@"; do
		m=$((${a1[$s]:-0} - ${a0[$s]:-0}))
		b=${RS_BT_COUNT[$s]:-0}
		mark=
		[ "$m" = "$b" ] || { mark='  DIFFERENT'; rc=1; }
		printf '%s%-32s %12d %12d%s\n' "$pfx" "$s" "$m" "$b" "$mark"
	done
	return $rc
}
# rs_bpftrace_usable: bpftrace is installed and the kernel has kprobe events
# (tracefs mounted here if it is not: bpftrace reads it).
rs_bpftrace_usable() {
	command -v bpftrace >/dev/null || return 1
	[ -e /sys/kernel/tracing/kprobe_events ] ||
		mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
	[ -e /sys/kernel/tracing/kprobe_events ]
}
# rs_bpftrace_prog SYM...: a bpftrace program counting the calls of each
# kernel function SYM (one kprobe each, a per-CPU count), except those of
# the process whose PID is its first positional parameter (bpftrace's own),
# and printing "ready" once every probe is attached (BEGIN runs after the
# attach) and "done" after the counts at exit.
#
# rs_bpftrace_prog -w SYM...: the same, counted only inside the module's
# window: from the first read(2) after an open of $RS_DEBUGFS/taps by the
# process whose PID is the first positional parameter (the caller's shell,
# rs_taps_read) to the first read after its next open, the two reads at
# which the module sums its hits. Every process counts, bpftrace too (the
# module counts its calls in the window as well). Calls outside the window
# go to @out (rs_bpftrace_stop: RS_BT_OUT), @edges counts the window's
# opening and closing (RS_BT_EDGES, 2 when both happened).
rs_bpftrace_prog() {
	local probes w=0
	if [ "$1" = -w ]; then w=1; shift; fi
	probes=$(printf 'kprobe:%s,' "$@")
	probes=${probes%,}
	echo 'BEGIN { printf("ready\n"); }'
	if [ $w = 1 ]; then
		printf '%s\n' "kprobe:do_sys_openat2 /pid == \$1 && str(uptr(arg1)) == \"$RS_DEBUGFS/taps\"/ { @arm = 1; }" \
			'kprobe:vfs_read /pid == $1 && @arm == 1/ { @arm = 0; @on = 1 - @on; @edges = @edges + 1; }' \
			"$probes { if (@on == 1) { @n[probe] = count(); } else { @out[probe] = count(); } }" \
			'END { print(@n); print(@out); print(@edges); clear(@n); clear(@out); clear(@edges); clear(@arm); clear(@on); printf("done\n"); }'
	else
		printf '%s\n' "$probes /pid != \$1/ { @n[probe] = count(); }" \
			'END { print(@n); clear(@n); printf("done\n"); }'
	fi
}
# rs_bpftrace_start [-w] SYM...: start bpftrace counting SYM...
# (rs_bpftrace_prog; -w: only inside the window of the caller's two
# rs_taps_read) and return once its probes are attached, with no process
# started after bpftrace's: without -w the caller's next command is the
# first the counts can see.
# Its output goes to a FIFO read with the shell's builtin `read` (a fork
# here would be counted by bpftrace but happen before the caller's start).
# Sets RS_BT_PID and RS_BT_FD; fails (with bpftrace's messages) if it does
# not attach within RS_BT_TIMEOUT seconds (default 300: TCG debug guests).
rs_bpftrace_start() {
	local dir line prog who=
	prog=$(rs_bpftrace_prog "$@")
	dir=$(mktemp -d)
	mkfifo "$dir/out"
	exec {RS_BT_FD}<>"$dir/out"
	rm -rf "$dir"
	# The filter's PID: with -w this shell's, whose reads of `taps` open
	# and close the window; without, bpftrace's own (exec: it runs as the
	# subshell's $BASHPID), the one the filter leaves out.
	[ "$1" != -w ] || who=$BASHPID
	(exec bpftrace -B line -e "$prog" "${who:-$BASHPID}" >&"$RS_BT_FD" 2>&1) &
	RS_BT_PID=$!
	while IFS= read -r -t "${RS_BT_TIMEOUT:-300}" line <&"$RS_BT_FD"; do
		[ "$line" = ready ] && return 0
		echo "# bpftrace: $line"
	done
	echo "# bpftrace did not attach within ${RS_BT_TIMEOUT:-300} s"
	kill "$RS_BT_PID" 2>/dev/null
	wait "$RS_BT_PID" 2>/dev/null
	return 1
}
# rs_bpftrace_stop: stop the bpftrace of rs_bpftrace_start (SIGINT: its END
# prints the counts) and fill the associative array RS_BT_COUNT (function ->
# calls; declare it with `declare -A RS_BT_COUNT` first); with -w also
# RS_BT_OUT (function -> calls outside the window; declared by the caller
# too) and RS_BT_EDGES. Only builtins until bpftrace has exited.
rs_bpftrace_stop() {
	local line name
	# shellcheck disable=SC2034 # the caller's
	RS_BT_EDGES=0
	kill -INT "$RS_BT_PID"
	while IFS= read -r -t 60 line <&"$RS_BT_FD"; do
		case $line in
		done) break ;;
		"@n[kprobe:"*"]: "*)
			name=${line#@n\[kprobe:}
			# shellcheck disable=SC2034 # the caller's
			RS_BT_COUNT[${name%%\]*}]=${line##*: } ;;
		"@out[kprobe:"*"]: "*)
			name=${line#@out\[kprobe:}
			# shellcheck disable=SC2034 # the caller's
			RS_BT_OUT[${name%%\]*}]=${line##*: } ;;
		"@edges: "*)
			# shellcheck disable=SC2034 # the caller's
			RS_BT_EDGES=${line#@edges: } ;;
		"") ;;
		*) echo "# bpftrace: $line" ;;
		esac
	done
	wait "$RS_BT_PID"
	local rc=$?
	exec {RS_BT_FD}<&-
	[ "$line" = "done" ] && [ $rc = 0 ]
}
# rs_bpftrace_outside PREFIX SYM...: one line behind PREFIX listing the
# calls bpftrace -w counted outside the module's window (RS_BT_OUT), which
# neither side compares.
rs_bpftrace_outside() {
	local pfx=$1 s list=
	shift
	for s in "$@"; do
		[ "${RS_BT_OUT[$s]:-0}" = 0 ] || list="$list $s=${RS_BT_OUT[$s]}"
	done
	printf '%sbpftrace outside the window (not compared):%s\n' "$pfx" "${list:- none}"
}

# The storm's libraries (ld.so, libc: ldd of execl_storm) and
# /etc/ld.so.cache in memory: each copied to a tmpfs and bind-mounted over
# itself, so no exec reads them over the guests' uncached 9p root (most of
# an exec's time there otherwise), and a sleeping holder process keeps
# them mapped. Sets RS_LIBS_BOUND (the bound paths) and RS_LIBS_HOLDER, and
# prints "M lib PATH" per file; rs_libs_restore undoes it (lazily: a
# storm's last exec may still map a library).
rs_libs_in_memory() {
	local lib real
	RS_LIBS_BOUND=()
	RS_LIBS_DIR=$(mktemp -d)
	mount -t tmpfs -o size=256m rs-libs "$RS_LIBS_DIR" || return 1
	while read -r lib; do
		real=$(readlink -f "$lib")
		cp "$real" "$RS_LIBS_DIR/" && mount --bind "$RS_LIBS_DIR/$(basename "$real")" "$real" || return 1
		RS_LIBS_BOUND+=("$real")
		echo "M lib $real"
	done < <({ ldd "$RS_BIN/execl_storm" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
		# ld.so reads its cache at every exec.
		if [ -f /etc/ld.so.cache ]; then echo /etc/ld.so.cache; fi; })
	[ ${#RS_LIBS_BOUND[@]} -ge 2 ] || { echo "rs_libs_in_memory: found only ${#RS_LIBS_BOUND[@]} files" >&2; return 1; }
	# A process that keeps the copies mapped, as init and the shells keep
	# libc mapped on a real system: without one no process maps them
	# between two of the storm's execs, and the module makes their file
	# shadows anew at each (shadow.files_created), a cost no real system's
	# libc sees.
	sleep 1000000 &
	RS_LIBS_HOLDER=$!
}
rs_libs_restore() {
	local real
	if [ -n "${RS_LIBS_HOLDER:-}" ]; then
		kill "$RS_LIBS_HOLDER" 2>/dev/null || true
		wait "$RS_LIBS_HOLDER" 2>/dev/null || true
		RS_LIBS_HOLDER=
	fi
	for real in ${RS_LIBS_BOUND[@]+"${RS_LIBS_BOUND[@]}"}; do umount -l "$real"; done
	if [ -n "${RS_LIBS_DIR:-}" ]; then umount -l "$RS_LIBS_DIR"; fi
	RS_LIBS_BOUND=() RS_LIBS_DIR=
}
