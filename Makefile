# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of rmap_shadow.ko, the kbuild way, inside the toolchain
# root (scripts/toolchain.sh). Kbuild itself reads ./Kbuild.
#
#   make [FLAVOR=perf|debug|lockstat] [KDIR=<kernel build dir>] [TOOLCHAIN=root|host] [CLIPPY=1]
#        [RMAP_SHADOW_UNCHECKED_WALK=1]  # build without mm/rmap.c (no check
#                                        # of __rmap_walk_file's prototype)
#        [RS_PROTO_SELFTEST=1]           # test.sh: a wrong prototype must fail
#   make clean
#   make rustfmtcheck        # rustfmt --check on rust/*.rs
#   make rustfmt             # reformat rust/*.rs
#
# KDIR defaults to the cached test kernel of FLAVOR (scripts/kernel.sh).
# The project's test kernels (under the cache, $RMAP_SHADOW_CACHE/kernels)
# build inside the toolchain root; any other KDIR, such as the usual
# /lib/modules/$(uname -r)/build of the machine's own kernel, builds with
# the machine's own toolchain (rustc, bindgen, clang as the kernel was built
# with: scripts/doctor.sh checks), as out-of-tree modules do. TOOLCHAIN
# overrides the choice.

# Kbuild takes M= as a word: a directory whose path has a space cannot be built.
ifneq ($(word 2,$(CURDIR)),)
$(error rmap-shadow: kbuild cannot build a module in "$(CURDIR)" (its path has a space): clone it to a path without spaces)
endif

FLAVOR ?= debug
KDIR ?= $(shell scripts/kernel.sh $(FLAVOR) --print-dir)
RS_CACHE := $(or $(RMAP_SHADOW_CACHE),/var/cache/rmap-shadow)
TOOLCHAIN ?= $(if $(filter $(RS_CACHE)/kernels/%,$(abspath $(KDIR))),root,host)
ifeq ($(TOOLCHAIN),root)
IN_ROOT := scripts/in-root.sh
else ifeq ($(TOOLCHAIN),host)
IN_ROOT := env
else
$(error TOOLCHAIN must be root or host)
endif
# The root's environment is empty (env -i): pass what Kbuild reads.
KMAKE = $(IN_ROOT) make -C $(KDIR) M=$(CURDIR) MO=$(CURDIR) LLVM=1 $(if $(CLIPPY),CLIPPY=1) $(if $(V),V=$(V)) \
	$(if $(RS_PROTO_SELFTEST),RS_PROTO_SELFTEST=1) \
	$(if $(RMAP_SHADOW_UNCHECKED_WALK),RMAP_SHADOW_UNCHECKED_WALK=1)
RS_SOURCES = $(filter-out %_generated.rs,$(wildcard rust/*.rs))
RUSTFMT = $(IN_ROOT) rustfmt --edition=2021 --config-path=$(KDIR)/source/.rustfmt.toml

all modules:
	$(KMAKE) modules

clean:
	$(KMAKE) clean

rustfmtcheck:
	$(RUSTFMT) --check $(RS_SOURCES)

rustfmt:
	$(RUSTFMT) $(RS_SOURCES)

.PHONY: all modules clean rustfmt rustfmtcheck
