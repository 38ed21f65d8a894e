#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# in-root.sh CMD...: run CMD in the current directory inside the toolchain
# root (creating the root first if needed). Used by the Makefile.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ -x "$RS_ROOT/usr/bin/rustc" ] || "$RS_REPO/scripts/toolchain.sh"
rs_chroot /bin/bash -c 'cd "$1" && shift && exec "$@"' in-root "$PWD" "$@"
