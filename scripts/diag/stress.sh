#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# stress.sh MODULE.ko NAME CYCLES — inside a guest (scripts/vm.sh): load and
# unload MODULE CYCLES times while 8 processes map and unmap a file page in a
# tight loop (mstorm). The diagnostic for a rare guest death in
# module.unload_during_mmap_storm (an Oops with RIP 0 on entering
# vm_area_free while the module was loading, seen on 4n8c; an unexplained
# 2n4c guest death in the same test before): run it
# with rmap_shadow.ko, and with kpstress.ko (the same 14 kprobes in plain C,
# counting only) to tell the module from the kernel's ftrace patching.
# Build both first (KDIR: scripts/kernel.sh debug --print-dir):
#   scripts/in-root.sh gcc -O2 -o scripts/diag/mstorm scripts/diag/mstorm.c
#   scripts/in-root.sh make -C "$KDIR" M="$PWD/scripts/diag" MO="$PWD/scripts/diag" LLVM=1 modules
# MO as in ../../Makefile: without it the output goes into the kernel's build
# directory, and a "clean" there then deletes the kernel's objects and
# Module.symvers (every module build against that kernel fails until
# scripts/kernel.sh rebuilds it: remove its .rmap-shadow-complete first).
set -u
K=$1 NAME=$2 CYCLES=$3
D=$(dirname "$0")
. "$D/../../selftests/lib.sh"
"$D/mstorm" 8 &
S=$!
t0=$(date +%s)
for i in $(seq 1 "$CYCLES"); do
	insmod "$K" || echo "insmod failed $i"
	[ -e "$RS_DEBUGFS/locks" ] && echo off >"$RS_DEBUGFS/locks"
	sleep 0.05
	for _ in $(seq 1 100); do rmmod "$NAME" 2>/dev/null && break; sleep 0.1; done
	[ $((i % 10)) = 0 ] && echo "cycle $i done $(($(date +%s) - t0)) s"
done
kill $S
echo "stress $NAME $CYCLES cycles done"
