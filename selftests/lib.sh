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
