#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# putback.sh [TOPOLOGY]   — the safety tests can fail (issue "Safe to load")
#
# Puts each fixed defect back, one at a time (scripts/putback/*.patch on a
# copy of the working tree), builds that module, and runs in one debug-kernel
# guest (default 1n2c) the kselftest written for the defect: first with the
# real module (it must pass), then with the defective one (it must fail).
# Prints one line per defect and exits non-zero unless every test passed
# with the fix and failed with the defect. Defect 7 (no .owner on the
# debugfs fops) may panic the guest at the close: it runs last, and a guest
# that died during it counts as the test failing.
#
# Defect 4 (probe prototypes) is a build-time check: test.sh's host test
# "a changed probe prototype fails the build" puts it back itself.
#
# Not part of test.sh (one more guest boot); run it after changing the code
# these tests guard.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

topo=${1:-1n2c}
# name  program  test — in run order (defect 7 last: it may panic the guest;
# defect 2 after the baseline: its lockdep dependency stays for the boot).
cases=(
	"d3-degraded-file-pinned rmap_shadow_safety degraded_file_not_pinned"
	"d1-sleep-under-shadow-lock rmap_shadow_safety verify_degraded_under_failslab"
	"d2-alloc-under-i-mmap-rwsem rmap_shadow_safety no_alloc_under_i_mmap_rwsem"
	"d7-debugfs-without-owner rmap_shadow_safety debugfs_open_across_rmmod"
)

out=$RS_REPO/.vm/putback
rm -rf "$out"
mkdir -p "$out"

# The root, the debug kernel, the real module and the selftests.
rs_build debug
kdir=$RS_KDIR
cp "$RS_REPO/rmap_shadow.ko" "$out/fixed.ko"

for c in "${cases[@]}"; do
	read -r name _ _ <<<"$c"
	w=$(mktemp -d "$out/src.XXXXXX")
	# The working tree as it is (committed or not), without build output.
	(cd "$RS_REPO" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$w"
	patch -s -p1 -d "$w" <"$RS_REPO/scripts/putback/$name.patch" ||
		die "$name.patch no longer applies: update it to the code it breaks"
	log "building the module with defect $name"
	make -s -C "$w" KDIR="$kdir" >/dev/null
	cp "$w/rmap_shadow.ko" "$out/$name.ko"
	rm -rf "$w"
done

guest=$out/guest.sh
{
	echo "cd $(printf %q "$RS_REPO/selftests/out")"
	echo 'run() { rmmod rmap_shadow 2>/dev/null; RMAP_SHADOW_KO=$1 ./$2 -t $3 >$4.out 2>&1; echo "putback $4 rc=$?"; }'
	for c in "${cases[@]}"; do
		read -r name prog test <<<"$c"
		echo "run $out/fixed.ko $prog $test $out/fixed-$name"
	done
	for c in "${cases[@]}"; do
		read -r name prog test <<<"$c"
		echo "echo putback $out/$name started"
		echo "run $out/$name.ko $prog $test $out/$name"
	done
} >"$guest"

set +e
RMAP_SHADOW_VM_VERBOSE=1 "$RS_REPO/scripts/vm.sh" -t 1500 -a slab_nomerge -a log_buf_len=16M -a lockdep.lock_stat=0 \
	"$topo" debug "bash $guest" >"$out/guest.log" 2>&1
set -e

bad=0
for c in "${cases[@]}"; do
	read -r name prog test <<<"$c"
	fixed=$(sed -n "s|^putback $out/fixed-$name rc=||p" "$out/guest.log" | tr -d '\r')
	broken=$(sed -n "s|^putback $out/$name rc=||p" "$out/guest.log" | tr -d '\r')
	started=$(grep -c "^putback $out/$name started" "$out/guest.log" || true)
	if [ -z "$broken" ] && [ "$started" -gt 0 ] && [ "$name" = d7-debugfs-without-owner ]; then
		broken="guest died"
	fi
	verdict=ok
	[ "$fixed" = 0 ] || verdict="NOT OK (with the fix: rc=${fixed:-none})"
	case "$broken" in "" | 0) verdict="NOT OK (with the defect: rc=${broken:-none})" ;; esac
	[ "$verdict" = ok ] || bad=1
	echo "$name: $prog -t $test passes with the fix (rc=$fixed), fails with the defect (${broken:-none}): $verdict"
	grep -hE '^# +(not ok|.*: (Expected|Test failed)|.*(BUG|kernel log has reports|umount|rmmod|lockdep))' \
		"$out/$name.out" 2>/dev/null | head -n 4 | sed 's/^/    /'
done
[ "$bad" = 0 ]
