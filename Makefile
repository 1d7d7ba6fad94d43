# SPDX-License-Identifier: Apache-2.0
# flanneld in C. `make` builds build/flanneld; `make check` runs the unit tests
# under ASan+UBSan; `make SAN=1` builds a sanitized daemon in build-san/.

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
UNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/flanneld
DESTDIR ?=
CC ?= cc
PKG_CONFIG ?= pkg-config
# The release number, kept here only: `flanneld --version` prints
# "v$(VERSION)" and, when known, the git commit after it; debian/changelog's
# top entry must carry the same number (debian/rules refuses otherwise).
VERSION := 0.1.0
GIT_COMMIT ?= $(shell git describe --always --dirty --exclude='*' 2>/dev/null)
VERSION_STRING := v$(VERSION)$(if $(GIT_COMMIT), (git $(GIT_COMMIT)))

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	  -Wpointer-arith -Wcast-qual -Wsign-compare -Wno-unused-parameter \
	  -D_GNU_SOURCE -DFLANNELD_VERSION='"$(VERSION_STRING)"' -Isrc -MMD -MP
LIBS := $(shell $(PKG_CONFIG) --libs jansson libmnl libnghttp2 2>/dev/null || \
	  echo -ljansson -lmnl -lnghttp2)
LIBS += -pthread

# etcd's gRPC messages: protoc-c turns proto/*.proto into PB_SRCS/PB_HDRS in
# PB_GEN (never committed). protoc-c's INIT macros cast away the const of
# protobuf_c_empty_string, so its code gets PB_GEN_CFLAGS on top of ours.
PROTOC_C ?= protoc-c
PB_GEN := build-gen
PB_PROTOS := $(wildcard proto/*.proto)
PB_SRCS := $(PB_PROTOS:proto/%.proto=$(PB_GEN)/%.pb-c.c)
PB_HDRS := $(PB_SRCS:.c=.h)
PB_CFLAGS := -I$(PB_GEN) $(shell $(PKG_CONFIG) --cflags libprotobuf-c 2>/dev/null)
PB_GEN_CFLAGS := -Wno-cast-qual
PB_LIBS := $(shell $(PKG_CONFIG) --libs libprotobuf-c 2>/dev/null || echo -lprotobuf-c)
CFLAGS += $(PB_CFLAGS)
LIBS += $(PB_LIBS)

ifeq ($(SAN),1)
BUILD ?= build-san
CFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else
BUILD ?= build
endif

ifneq ($(V),1)
Q = @
quiet = @printf '  %-7s %s\n' $(1) $(2);
endif

DAEMON_SRCS := $(wildcard src/*.c src/*/*.c) $(PB_SRCS)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/%.o)

all: $(BUILD)/flanneld

$(BUILD)/flanneld: $(DAEMON_OBJS)
	$(call quiet,LINK,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# main.c prints the version: rebuild it when the string changes (a new
# commit), which make cannot see from the sources. The stamp is rewritten
# only then, so an unchanged tree relinks nothing.
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(VERSION_STRING)' | cmp -s - $@ || echo '$(VERSION_STRING)' >$@

$(BUILD)/src/main.o: $(BUILD)/version.stamp

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Both outputs of one protoc-c run (a multi-target pattern rule is one recipe).
# Every proto is a prerequisite since rpc.proto imports kv.proto.
$(PB_GEN)/%.pb-c.c $(PB_GEN)/%.pb-c.h: proto/%.proto $(PB_PROTOS)
	@mkdir -p $(@D)
	$(call quiet,PROTOC,$<)$(PROTOC_C) --proto_path=proto --c_out=$(PB_GEN) $<

$(BUILD)/$(PB_GEN)/%.o: $(PB_GEN)/%.c
	@mkdir -p $(@D)
	$(call quiet,CC,$<)$(CC) $(CPPFLAGS) $(CFLAGS) $(PB_GEN_CFLAGS) -c -o $@ $<

# Any source may include a generated header; -MMD only knows after the first build.
$(DAEMON_OBJS): | $(PB_HDRS)

# Unit tests: each links its module and only what it needs (cmocka).
UNIT_BUILD := build-unit
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
test_ip_DEPS := src/ip.c src/textutil.c
test_config_DEPS := src/config.c src/ip.c src/jsonutil.c src/textutil.c
test_subnet_DEPS := src/lease/subnet.c src/ip.c src/jsonutil.c src/textutil.c
test_subnetenv_DEPS := src/subnetenv.c src/ip.c src/log.c src/textutil.c
test_flags_DEPS := src/flags.c src/etcd/http_url.c src/log.c src/textutil.c
test_alloc_DEPS := src/lease/alloc_choice.c src/config.c src/ip.c src/lease/subnet.c src/jsonutil.c \
	src/textutil.c
test_etcd_pb_DEPS := src/etcd/etcd_pb.c $(PB_SRCS:%.c=$(UNIT_BUILD)/%.o)
test_http_url_DEPS := src/etcd/http_url.c src/textutil.c
test_grpc_msg_DEPS := src/etcd/grpc_msg.c src/textutil.c
test_leasecache_DEPS := src/lease/leasecache.c src/lease/keyhash.c src/lease/subnet.c src/ip.c \
	src/jsonutil.c src/textutil.c
# The lease decisions, against a scripted etcd and loop (tests/unit/fake_etcd.c).
LEASE_DECISION_DEPS := tests/unit/fake_etcd.c src/lease/leasewatch.c src/lease/leasecache.c \
	src/lease/keyhash.c src/lease/leasecheck.c src/lease/subnet.c src/ip.c src/jsonutil.c \
	src/textutil.c src/log.c
test_leasewatch_DEPS := $(LEASE_DECISION_DEPS)
test_ownlease_DEPS := $(LEASE_DECISION_DEPS) src/lease/ownlease.c src/lease/ownlease_choose.c \
	src/lease/alloc_choice.c src/config.c
test_vxlan_conf_DEPS := src/backend/vxlan_conf.c src/ip.c src/jsonutil.c src/textutil.c
test_fdbset_DEPS := src/backend/fdbset.c src/lease/keyhash.c
test_keyhash_DEPS := src/lease/keyhash.c src/lease/leasecache.c src/backend/fdbset.c \
	src/lease/subnet.c src/ip.c src/jsonutil.c src/textutil.c
test_leasecheck_DEPS := src/lease/leasecheck.c src/lease/subnet.c src/ip.c src/jsonutil.c \
	src/textutil.c src/config.c
test_nl_msg_DEPS := src/netlink/nl_msg.c
test_nl_DEPS := src/netlink/nl.c src/netlink/nl_msg.c src/log.c src/textutil.c
test_masq_rules_DEPS := src/masq_rules.c src/ip.c src/textutil.c
test_proc_run_DEPS := src/proc_run.c src/loop.c
test_sdnotify_DEPS := src/sdnotify.c src/textutil.c
test_ifset_DEPS := src/ifset.c src/ip.c src/textutil.c
test_udp_pkt_DEPS := src/backend/udp_pkt.c
test_tun_conf_DEPS := src/backend/tun_conf.c src/jsonutil.c src/textutil.c
test_wg_nl_msg_DEPS := src/backend/wg_nl_msg.c src/backend/kaddr.c src/ip.c src/textutil.c
test_secret_file_DEPS := src/secret_file.c
test_wg_key_DEPS := src/backend/wg_key.c src/backend/tun_conf.c src/jsonutil.c src/textutil.c src/log.c
test_ext_cmd_DEPS := src/backend/ext_cmd.c
test_peer_decide_DEPS := src/backend/peer_decide.c src/backend/sorted_vec.c src/backend/routes.c \
	src/backend/kaddr.c src/backend/fdbset.c src/lease/keyhash.c src/ip.c src/textutil.c
test_peer_l2_DEPS := src/backend/peer_decide.c src/backend/sorted_vec.c src/backend/routes.c \
	src/backend/kaddr.c src/backend/fdbset.c src/lease/keyhash.c src/ip.c src/textutil.c
test_vici_msg_DEPS := src/backend/vici_msg.c
test_vici_DEPS := src/backend/vici.c src/backend/vici_msg.c src/loop.c
test_ipsec_conf_DEPS := src/backend/ipsec_conf.c src/jsonutil.c src/textutil.c
test_leasevalue_DEPS := src/lease/subnet.c src/ip.c src/jsonutil.c src/textutil.c
# Old and new BackendData decoders side by side (tests/unit/backend_data_ref.c).
test_backend_data_DEPS := tests/unit/backend_data_ref.c src/backend/vxlan_conf.c \
	src/backend/tun_conf.c src/lease/subnet.c src/ip.c src/jsonutil.c src/textutil.c

UNIT_CFLAGS := $(filter-out -Werror,$(CFLAGS)) -Werror -O1 -g -fno-omit-frame-pointer \
	       -fsanitize=address,undefined -fno-sanitize-recover=all
UNIT_BINS := $(UNIT_TESTS:%=$(UNIT_BUILD)/%)

.SECONDEXPANSION:

$(UNIT_BUILD)/%: tests/unit/%.c $$(%_DEPS) | $(PB_HDRS)
	@mkdir -p $(@D)
	$(call quiet,TEST,$@)$(CC) $(UNIT_CFLAGS) -o $@ $^ -fsanitize=address,undefined \
		$(LIBS) -lcmocka

$(UNIT_BUILD)/$(PB_GEN)/%.o: $(PB_GEN)/%.c | $(PB_HDRS)
	@mkdir -p $(@D)
	$(call quiet,CC,$<)$(CC) $(UNIT_CFLAGS) $(PB_GEN_CFLAGS) -c -o $@ $<

# Kept between runs rather than deleted as intermediates.
.SECONDARY: $(PB_SRCS) $(PB_HDRS) $(PB_SRCS:%.c=$(UNIT_BUILD)/%.o)

units: $(UNIT_BINS)

check: units
	@pass=0; fail=0; for t in $(UNIT_BINS); do \
		if ASAN_OPTIONS=detect_leaks=1 ./$$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "unit: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

# Fuzz targets (fuzz/fuzz_*.c, libFuzzer with ASan+UBSan, clang); fuzz/run.sh runs them.
FUZZ_CC ?= clang
FUZZ_BUILD := build-fuzz
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -Isrc $(PB_CFLAGS) -g -O1 -fno-omit-frame-pointer \
	       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_TARGETS := $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
fuzz_config_DEPS := src/config.c src/ip.c src/jsonutil.c src/textutil.c src/lease/alloc_choice.c
fuzz_lease_DEPS := src/lease/subnet.c src/ip.c src/jsonutil.c src/textutil.c src/backend/vxlan_conf.c
fuzz_etcd_pb_DEPS := src/etcd/etcd_pb.c $(PB_SRCS)
fuzz_http_url_DEPS := src/etcd/http_url.c src/textutil.c
fuzz_grpc_frames_DEPS := src/etcd/grpc_msg.c src/textutil.c
fuzz_subnetenv_DEPS := src/subnetenv.c src/ip.c src/log.c src/textutil.c
fuzz_ip_DEPS := src/ip.c src/textutil.c
fuzz_nl_DEPS := src/netlink/nl_msg.c
fuzz_udp_DEPS := src/backend/udp_pkt.c
fuzz_wg_DEPS := src/backend/tun_conf.c src/jsonutil.c src/textutil.c src/backend/wg_nl_msg.c src/backend/kaddr.c src/ip.c
fuzz_leasecache_DEPS := src/lease/leasewatch.c src/lease/leasecache.c src/lease/leasecheck.c \
	src/lease/keyhash.c src/lease/subnet.c src/ip.c src/jsonutil.c src/textutil.c
fuzz_vici_DEPS := src/backend/vici_msg.c src/backend/ipsec_conf.c src/jsonutil.c src/textutil.c
fuzz_backend_data_DEPS := $(test_backend_data_DEPS)

# The lease value decoder (leasevalue.c) goes with subnet.c into every
# unit test and fuzz target, from the same directory.
$(foreach v,$(filter %_DEPS,$(.VARIABLES)),$(foreach s,$(filter %/subnet.c,$($(v))), \
	$(eval $(v) += $(dir $(s))leasevalue.c)))
# The one-pass JSON walker (jsonwalk.c: lease values, BackendData) goes
# with jsonutil.c likewise.
$(foreach v,$(filter %_DEPS,$(.VARIABLES)),$(if $(filter src/jsonutil.c,$($(v))), \
	$(eval $(v) += src/jsonwalk.c)))

$(FUZZ_BUILD)/%: fuzz/%.c $$(%_DEPS) | $(PB_HDRS)
	@mkdir -p $(@D)
	$(call quiet,FUZZ,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(LIBS)

fuzz: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)

# Benchmark helpers (bench/*.c, standalone programs; see bench/vxlan.sh).
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(call quiet,CC,$<)$(CC) $(CFLAGS) -Ibench -o $@ $<

bench: $(BENCH_BINS)

format:
	clang-format -i src/*.[ch] src/*/*.[ch] tests/unit/*.c tests/etcd_smoke.c bench/*.[ch] fuzz/*.c

format-check:
	clang-format --dry-run -Werror src/*.[ch] src/*/*.[ch] tests/unit/*.c tests/etcd_smoke.c bench/*.[ch] fuzz/*.c

# The binary, the systemd unit (ExecStart pointed at SBINDIR), the man page,
# and examples: the docker drop-in and /etc/default/flanneld.
install: $(BUILD)/flanneld
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(DOCDIR)/examples/docker.service.d
	install -m 0755 $(BUILD)/flanneld $(DESTDIR)$(SBINDIR)/flanneld
	sed 's|/usr/sbin/flanneld|$(SBINDIR)/flanneld|g' dist/flanneld.service \
		>$(DESTDIR)$(UNITDIR)/flanneld.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/flanneld.service.tmp
	mv $(DESTDIR)$(UNITDIR)/flanneld.service.tmp $(DESTDIR)$(UNITDIR)/flanneld.service
	install -m 0644 doc/flanneld.8 $(DESTDIR)$(MANDIR)/man8/flanneld.8
	install -m 0644 dist/docker.service.d/flannel.conf \
		$(DESTDIR)$(DOCDIR)/examples/docker.service.d/flannel.conf
	install -m 0644 dist/flanneld.default $(DESTDIR)$(DOCDIR)/examples/flanneld.default

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/flanneld $(DESTDIR)$(UNITDIR)/flanneld.service \
		$(DESTDIR)$(MANDIR)/man8/flanneld.8 \
		$(DESTDIR)$(DOCDIR)/examples/docker.service.d/flannel.conf \
		$(DESTDIR)$(DOCDIR)/examples/flanneld.default

clean:
	rm -rf build build-san build-unit build-fuzz build-deb $(PB_GEN)

print-version:
	@echo $(VERSION)

.PHONY: all units check bench fuzz format format-check install uninstall clean print-version FORCE

-include $(DAEMON_OBJS:.o=.d) $(EXTRA_OBJS:.o=.d)
