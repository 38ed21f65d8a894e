# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of rmap_shadow.ko, the kbuild way, inside the toolchain
# root (scripts/toolchain.sh). Kbuild itself reads ./Kbuild.
#
#   make [FLAVOR=perf|debug] [KDIR=<kernel build dir>] [CLIPPY=1]
#   make clean
#   make rustfmtcheck        # rustfmt --check on rust/*.rs
#   make rustfmt             # reformat rust/*.rs
#
# KDIR defaults to the cached test kernel of FLAVOR (scripts/kernel.sh).

FLAVOR ?= debug
KDIR ?= $(shell scripts/kernel.sh $(FLAVOR) --print-dir)
IN_ROOT := scripts/in-root.sh
KMAKE = $(IN_ROOT) make -C $(KDIR) M=$(CURDIR) MO=$(CURDIR) LLVM=1 $(if $(CLIPPY),CLIPPY=1) $(if $(V),V=$(V))
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
