# lua-zis: make | make test | make test-timing | make mutate | make demo
#          make memcheck | make asan | make lint
#          make install [PREFIX= DESTDIR= LUA_LIBDIR= LUA_DIR=] | make uninstall
#
# make test: the specs in parallel, under 20 s on two cores; make
# test-timing: the specs tagged #timing (they measure time), alone; make
# mutate: the mutants of tools/mutants.lua, each of which a spec must kill.
#
# `make test` and `make demo` install the Debian packages they need when
# they are missing (as root, or through sudo).

LUA ?= lua5.4
LUA_VERSION ?= 5.4
PKG_CONFIG ?= pkg-config
LUA_INCDIR ?= $(shell $(PKG_CONFIG) --variable=includedir lua$(LUA_VERSION) 2>/dev/null)/lua$(LUA_VERSION)
CURL_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CURL_LIBS ?= $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null || echo -lcurl)
CC ?= cc
OPT ?= -O2 -g
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS ?= $(OPT)
ALL_CFLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fPIC \
             -fvisibility=hidden $(WARN) -I$(LUA_INCDIR) $(CURL_CFLAGS) $(CFLAGS)
LIBFLAG ?= -shared

PREFIX ?= /usr/local
LUA_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
LUA_DIR ?= $(PREFIX)/share/lua/$(LUA_VERSION)
BINDIR ?= $(PREFIX)/bin

# zis.core: the codec, files, clock (no libcurl); zis.net: the client and
# the engine, with libcurl (the engine builds Lua values with the codec,
# so it is compiled into both); SRC: all of them, for one-binary builds.
JSON_SRC = src/zis_json.c src/zis_json_decode.c src/zis_json_float.c
CORE_SRC = src/zis_core.c $(JSON_SRC) src/zis_fs.c
NET_SRC = src/zis_net.c src/zis_client.c src/zis_engine.c $(JSON_SRC)
SRC = src/zis_core.c src/zis_net.c src/zis_client.c src/zis_engine.c $(JSON_SRC) src/zis_fs.c
HDR = src/zis.h src/zis_version.h src/zis_json.h src/zis_json_internal.h src/zis_json_float.h \
      src/zis_json_pow10.h src/zis_fs.h
LUA_MODULES = lua/zis/init.lua lua/zis/mock.lua lua/zis/validate.lua lua/zis/deploy.lua lua/zis/export.lua \
              lua/zis/graph.lua lua/zis/endpoints.lua lua/zis/client.lua lua/zis/request.lua lua/zis/run.lua \
              lua/zis/pager.lua lua/zis/errors.lua lua/zis/pace.lua \
              lua/zis/token.lua lua/zis/cli.lua lua/zis/manifest.lua lua/zis/plan.lua lua/zis/loop.lua lua/zis/util.lua \
              lua/zis/flow.lua
# zis.cli.*: installed under zis/cli/
LUA_CLI_MODULES = lua/zis/cli/bundles.lua lua/zis/cli/services.lua lua/zis/cli/deployments.lua \
                  lua/zis/cli/common.lua lua/zis/cli/tools.lua
# zis.run.*: installed under zis/run/
LUA_RUN_MODULES = lua/zis/run/auth.lua lua/zis/run/outcome.lua
# zis.mock.*: installed under zis/mock/
LUA_MOCK_MODULES = lua/zis/mock/wire.lua lua/zis/mock/services.lua lua/zis/mock/registry.lua \
                   lua/zis/mock/server.lua lua/zis/mock/answers.lua lua/zis/mock/state.lua \
                   lua/zis/mock/registry_api.lua lua/zis/mock/control.lua lua/zis/mock/ratelimit.lua \
                   lua/zis/mock/support.lua lua/zis/mock/configs.lua lua/zis/mock/connections.lua \
                   lua/zis/mock/links.lua lua/zis/mock/webhooks.lua
# zis.plan.*: installed under zis/plan/
LUA_PLAN_MODULES = lua/zis/plan/diff.lua lua/zis/plan/live.lua lua/zis/plan/steps.lua \
                   lua/zis/plan/webhooks.lua lua/zis/plan/import.lua
# zis.loop.*: installed under zis/loop/
LUA_LOOP_MODULES = lua/zis/loop/cqueues.lua lua/zis/loop/luv.lua
# zis.flow.*: installed under zis/flow/
LUA_FLOW_MODULES = lua/zis/flow/path.lua lua/zis/flow/choice.lua lua/zis/flow/actions.lua \
                   lua/zis/flow/cli.lua
# zis.graph.*: installed under zis/graph/
LUA_GRAPH_MODULES = lua/zis/graph/text.lua lua/zis/graph/model.lua lua/zis/graph/trace.lua \
                    lua/zis/graph/dot.lua lua/zis/graph/mermaid.lua lua/zis/graph/graphviz.lua
# zis.validate.*: installed under zis/validate/
LUA_VALIDATE_MODULES = lua/zis/validate/values.lua lua/zis/validate/checker.lua lua/zis/validate/states.lua \
                       lua/zis/validate/choice.lua lua/zis/validate/resources.lua \
                       lua/zis/validate/integration.lua

export LUA_PATH := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;
export LUA_CPATH := $(CURDIR)/build/?.so;;

# lua-cjson: only the specs use it (to prove lua-zis never touches it)
# lua-cqueues, lua-luv: only the specs (zis.loop's adapters; the core never needs them)
DEBIAN_PACKAGES = lua5.4 liblua5.4-dev libcurl4-openssl-dev lua-cjson \
                  lua-socket lua-busted pkg-config openssl graphviz lua-argparse \
                  lua-cqueues lua-luv libjq-dev jq

.PHONY: all deps test test-timing mutate demo memcheck asan lint install uninstall clean bench fuzz check-install tsan \
        graph-images check-floats FORCE

all: build/zis/core.so build/zis/net.so build/zis/jq.so

# build/cflags records the compiler and flags: a build made with others
# (make all CFLAGS=...) is redone by the next plain make.
build/cflags: FORCE
	@mkdir -p build
	@echo '$(CC) $(ALL_CFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS)' > $@

build/zis/core.so: $(CORE_SRC) $(HDR) build/cflags
	@mkdir -p build/zis
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $(CORE_SRC)

build/zis/net.so: $(NET_SRC) $(HDR) build/cflags
	@mkdir -p build/zis
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $(NET_SRC) $(CURL_LIBS) -pthread

# zis.jq: the flow simulator's jq, a module of its own so that core.so
# never depends on libjq.
build/zis/jq.so: src/zis_jq.c build/cflags
	@mkdir -p build/zis
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ src/zis_jq.c -ljq

# The embedding example: a host program links Lua itself (the module never does).
build/embed: examples/embed/embed.c
	@mkdir -p build
	$(CC) -std=c99 $(OPT) $(WARN) -I$(LUA_INCDIR) -o $@ $< -llua$(LUA_VERSION) -lpthread

# A host with its own poll() loop driving lua-zis (zis.loop's generic interface).
build/poll_host: examples/embed/poll_host.c
	@mkdir -p build
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L $(OPT) $(WARN) -I$(LUA_INCDIR) -o $@ $< -llua$(LUA_VERSION) -lm

# Installs what is missing, and only that.
deps:
	@./tools/ensure-deps $(DEBIAN_PACKAGES)

# The spec files in SPEC_JOBS busted processes at once (default: two per
# CPU, plus one: many specs wait), each with its own local registry (tools/run-specs), without
# the specs tagged #timing: those measure time, which a loaded machine
# does not keep; make test-timing runs them alone, one file at a time.
# Every test has a deadline: ZIS_SPEC_TIMEOUT seconds (default 30; see
# spec/timeout.lua).
SPEC_JOBS ?=
test: deps
	@$(MAKE) -s --no-print-directory all build/embed build/poll_host build/freecheck.so
	@./tools/run-specs $(if $(SPEC_JOBS),-j $(SPEC_JOBS)) --exclude-tags=timing spec

test-timing: deps
	@$(MAKE) -s --no-print-directory all build/embed build/poll_host
	@./tools/run-specs -j 1 -v --tags=timing spec

# An LD_PRELOAD'ed free() that reports credentials freed without being
# overwritten first (spec/safety_spec.lua).
build/freecheck.so: tools/freecheck.c
	@mkdir -p build
	$(CC) -std=c99 $(OPT) $(WARN) -fPIC $(LIBFLAG) -o $@ $< -ldl

# Mutation testing, never part of make test or CI (minutes): each mutant
# of tools/mutants.lua applied alone to a copy of the tree, the specs it
# names run against it; every mutant must be killed.  MUTANTS="name ...":
# only those.
mutate: deps
	@$(MAKE) -s --no-print-directory all build/embed build/poll_host build/freecheck.so
	@$(LUA) tools/mutate.lua $(MUTANTS)

demo: deps
	@$(MAKE) -s --no-print-directory all
	@./tools/with-mock $(LUA) examples/quickstart.lua

# Under valgrind and the sanitizers a test may take far longer.
SLOW_SPEC_TIMEOUT ?= 600

# The specs that drive the C core (the engine, the codec, many calls on
# one client, the services, iterators, the fuzzed boundaries, jq) with
# their Lua process under valgrind: zero errors, no definite leaks.
# --ignore-lua keeps busted in this process (.busted would start another,
# outside valgrind).  The suppressions cover libcurl/OpenSSL one-time
# globals only.
MEMCHECK_SPECS ?= spec/engine_spec.lua spec/json_codec_spec.lua spec/json_spec.lua spec/many_calls_spec.lua \
                  spec/safety_spec.lua spec/services_spec.lua spec/iterators_spec.lua spec/jq_spec.lua \
                  spec/client_spec.lua spec/auth_matrix_spec.lua spec/secrets_spec.lua
memcheck: deps
	@./tools/ensure-deps valgrind
	@$(MAKE) -s --no-print-directory all build/embed build/poll_host build/freecheck.so
	@ZIS_SPEC_TIMEOUT=$(SLOW_SPEC_TIMEOUT) LD_PRELOAD=$$($(CC) -print-file-name=libjq.so.1) \
	  ./tools/with-mock valgrind --quiet --error-exitcode=99 --leak-check=full \
	  --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	  --suppressions=tools/valgrind.supp \
	  $(LUA) /usr/bin/busted --ignore-lua --exclude-tags=timing $(MEMCHECK_SPECS)
	@ZIS_LUA_DIR=$(CURDIR)/lua ZIS_LIB_DIR=$(CURDIR)/build ./tools/with-mock valgrind --quiet \
	  --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	  --suppressions=tools/valgrind.supp build/embed -t 4 examples/embed/script.lua >/dev/null

# AddressSanitizer + UBSan (no recovery) + LeakSanitizer, the collector
# stressed.  The modules (zis.core, zis.net, zis.jq) are built into build/asan/
# (build/zis/ is left as it is, so make test needs no rebuild after this).  LUA_INIT_5_4,
# read by every lua5.4 the suite starts (busted, the local registry,
# bin/zis, the examples) and by no Lua 5.1 (busted's launcher), makes the collector run all the time (ASAN_GC) and
# preloads those modules, ahead of any package.cpath.  The interpreter is not
# instrumented, so the runtimes are preloaded.  Processes a spec starts
# with a clean environment (env -i) drop both and run the normal build.
# Reports go to build/asan/log.* (a child's stderr may be swallowed by its
# spec): any report fails the target, as does a failing spec.  Specs
# tagged #timing are left out (Ctrl-C within a second, timer gaps under
# 50 ms): they measure time, which a sanitized process does not keep.
# tools/lsan.supp: leaks of programs the specs run (dot), not ours.
ASAN_CC ?= gcc
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=all
ASAN_GC ?= collectgarbage("incremental", 1, 400, 10)
# libjq is preloaded too: Lua unloads zis.jq (and so libjq) before exit,
# which would leave libjq's own leaks unnamed (tools/lsan.supp names it).
ASAN_RUNTIME = $$($(ASAN_CC) -print-file-name=libasan.so) $$($(ASAN_CC) -print-file-name=libubsan.so) \
               $$($(ASAN_CC) -print-file-name=libjq.so.1)
ASAN_SPECS ?= spec
ASAN_LOG = $(CURDIR)/build/asan/log
asan: deps
	@$(MAKE) -s --no-print-directory all build/embed build/poll_host build/freecheck.so build/asan/zis/core.so \
	  build/asan/zis/net.so build/asan/zis/jq.so
	@rm -f $(ASAN_LOG).*
	@ZIS_SPEC_TIMEOUT=$(SLOW_SPEC_TIMEOUT) LD_PRELOAD="$(ASAN_RUNTIME)" \
	  ASAN_OPTIONS=detect_leaks=1:log_path=$(ASAN_LOG):detect_stack_use_after_return=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tools/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(ASAN_LOG) \
	  LUA_INIT_5_4='$(ASAN_GC); package.preload["zis.core"] = assert(package.loadlib("$(CURDIR)/build/asan/zis/core.so", "luaopen_zis_core")); package.preload["zis.net"] = assert(package.loadlib("$(CURDIR)/build/asan/zis/net.so", "luaopen_zis_net")); package.preload["zis.jq"] = assert(package.loadlib("$(CURDIR)/build/asan/zis/jq.so", "luaopen_zis_jq"))' \
	  ./tools/with-mock env -u LUA_INIT $(LUA) /usr/bin/busted \
	    --exclude-tags=timing $(ASAN_SPECS); rc=$$?; \
	if ls $(ASAN_LOG).* >/dev/null 2>&1; then \
	  cat $(ASAN_LOG).*; echo "make asan: sanitizer reports above (build/asan/log.*)" >&2; exit 1; \
	fi; exit $$rc

build/asan/zis/core.so: $(CORE_SRC) $(HDR)
	@mkdir -p build/asan/zis
	$(ASAN_CC) $(filter-out $(CFLAGS),$(ALL_CFLAGS)) $(ASAN_FLAGS) $(LIBFLAG) -o $@ $(CORE_SRC)

build/asan/zis/net.so: $(NET_SRC) $(HDR)
	@mkdir -p build/asan/zis
	$(ASAN_CC) $(filter-out $(CFLAGS),$(ALL_CFLAGS)) $(ASAN_FLAGS) $(LIBFLAG) -o $@ $(NET_SRC) \
	  $(CURL_LIBS) -pthread

build/asan/zis/jq.so: src/zis_jq.c
	@mkdir -p build/asan/zis
	$(ASAN_CC) $(filter-out $(CFLAGS),$(ALL_CFLAGS)) $(ASAN_FLAGS) $(LIBFLAG) -o $@ src/zis_jq.c -ljq

# ThreadSanitizer: the module and the embedding host, eight threads, each
# with its own lua_State and client, against the local registry.
tsan: deps
	@./tools/ensure-deps clang
	@mkdir -p build/tsan/zis
	clang -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fPIC -g -O1 -fsanitize=thread \
	  -I$(LUA_INCDIR) -shared -o build/tsan/zis/core.so $(CORE_SRC)
	clang -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fPIC -g -O1 -fsanitize=thread \
	  -I$(LUA_INCDIR) $(CURL_CFLAGS) -shared -o build/tsan/zis/net.so $(NET_SRC) $(CURL_LIBS) -pthread
	clang -std=c99 -g -O1 -fsanitize=thread -I$(LUA_INCDIR) -o build/tsan/embed \
	  examples/embed/embed.c -llua$(LUA_VERSION) -lpthread
	@ZIS_LUA_DIR=$(CURDIR)/lua ZIS_LIB_DIR=$(CURDIR)/build/tsan TSAN_OPTIONS=halt_on_error=1 \
	  ./tools/with-mock build/tsan/embed -t 8 examples/embed/script.lua

lint: deps
	@./tools/ensure-deps lua-check
	luacheck lua spec examples bench bin/zis tools/check-mermaid.lua \
	  tools/run-specs tools/spec-watchdog.lua tools/mutate.lua tools/mutants.lua
	$(CC) -std=c99 $(WARN) -Werror -fsyntax-only tools/freecheck.c
	$(CC) $(ALL_CFLAGS) -Werror -fsyntax-only $(SRC) src/zis_jq.c

# The README's picture of the example bundle (spec/graph_spec.lua checks
# it is current).
graph-images: deps
	@$(MAKE) -s --no-print-directory all
	$(LUA) -e 'local svg = assert(require("zis.graph").render(io.open("examples/bundles/example.json"):read("a"), {format = "svg"})); io.open("examples/bundles/example.svg", "wb"):write(svg)'

# Proves the rock and make install work outside the repository.
check-install: deps
	@./tools/ensure-deps luarocks
	@$(MAKE) -s --no-print-directory all
	@./tools/check-install

install: all
	install -d $(DESTDIR)$(LUA_LIBDIR)/zis $(DESTDIR)$(LUA_DIR)/zis $(DESTDIR)$(BINDIR)
	install -m 0755 build/zis/core.so $(DESTDIR)$(LUA_LIBDIR)/zis/core.so
	install -m 0755 build/zis/net.so $(DESTDIR)$(LUA_LIBDIR)/zis/net.so
	install -m 0755 build/zis/jq.so $(DESTDIR)$(LUA_LIBDIR)/zis/jq.so
	install -m 0644 $(LUA_MODULES) $(DESTDIR)$(LUA_DIR)/zis/
	install -d $(DESTDIR)$(LUA_DIR)/zis/cli
	install -m 0644 $(LUA_CLI_MODULES) $(DESTDIR)$(LUA_DIR)/zis/cli/
	install -d $(DESTDIR)$(LUA_DIR)/zis/run
	install -m 0644 $(LUA_RUN_MODULES) $(DESTDIR)$(LUA_DIR)/zis/run/
	install -d $(DESTDIR)$(LUA_DIR)/zis/mock
	install -m 0644 $(LUA_MOCK_MODULES) $(DESTDIR)$(LUA_DIR)/zis/mock/
	install -d $(DESTDIR)$(LUA_DIR)/zis/plan
	install -m 0644 $(LUA_PLAN_MODULES) $(DESTDIR)$(LUA_DIR)/zis/plan/
	install -d $(DESTDIR)$(LUA_DIR)/zis/loop
	install -m 0644 $(LUA_LOOP_MODULES) $(DESTDIR)$(LUA_DIR)/zis/loop/
	install -d $(DESTDIR)$(LUA_DIR)/zis/flow
	install -m 0644 $(LUA_FLOW_MODULES) $(DESTDIR)$(LUA_DIR)/zis/flow/
	install -d $(DESTDIR)$(LUA_DIR)/zis/graph
	install -m 0644 $(LUA_GRAPH_MODULES) $(DESTDIR)$(LUA_DIR)/zis/graph/
	install -d $(DESTDIR)$(LUA_DIR)/zis/validate
	install -m 0644 $(LUA_VALIDATE_MODULES) $(DESTDIR)$(LUA_DIR)/zis/validate/
	install -m 0755 bin/zis $(DESTDIR)$(BINDIR)/zis

uninstall:
	rm -f $(DESTDIR)$(LUA_LIBDIR)/zis/core.so $(DESTDIR)$(LUA_LIBDIR)/zis/net.so $(DESTDIR)$(LUA_LIBDIR)/zis/jq.so \
	  $(DESTDIR)$(BINDIR)/zis
	rm -f $(addprefix $(DESTDIR)$(LUA_DIR)/zis/,$(notdir $(LUA_MODULES)))
	rm -f $(addprefix $(DESTDIR)$(LUA_DIR)/zis/mock/,$(notdir $(LUA_MOCK_MODULES)))
	rm -f $(addprefix $(DESTDIR)$(LUA_DIR)/zis/run/,$(notdir $(LUA_RUN_MODULES)))
	-rmdir $(DESTDIR)$(LUA_DIR)/zis/run 2>/dev/null
	rm -f $(addprefix $(DESTDIR)$(LUA_DIR)/zis/loop/,$(notdir $(LUA_LOOP_MODULES)))
	rm -f $(addprefix $(DESTDIR)$(LUA_DIR)/zis/flow/,$(notdir $(LUA_FLOW_MODULES)))
	rm -f $(addprefix $(DESTDIR)$(LUA_DIR)/zis/graph/,$(notdir $(LUA_GRAPH_MODULES)))
	rm -f $(addprefix $(DESTDIR)$(LUA_DIR)/zis/validate/,$(notdir $(LUA_VALIDATE_MODULES)))
	rm -f $(addprefix $(DESTDIR)$(LUA_DIR)/zis/plan/,$(notdir $(LUA_PLAN_MODULES)))
	rm -f $(addprefix $(DESTDIR)$(LUA_DIR)/zis/cli/,$(notdir $(LUA_CLI_MODULES)))
	-rmdir $(DESTDIR)$(LUA_DIR)/zis/mock $(DESTDIR)$(LUA_DIR)/zis/loop $(DESTDIR)$(LUA_DIR)/zis/flow \
	  $(DESTDIR)$(LUA_DIR)/zis/graph \
	  $(DESTDIR)$(LUA_DIR)/zis/plan $(DESTDIR)$(LUA_DIR)/zis/cli 2>/dev/null
	-rmdir $(DESTDIR)$(LUA_DIR)/zis/validate 2>/dev/null
	-rmdir $(DESTDIR)$(LUA_LIBDIR)/zis $(DESTDIR)$(LUA_DIR)/zis 2>/dev/null

clean:
	rm -rf build

# libFuzzer (clang) with ASan + UBSan, FUZZ_SECONDS each: the JSON codec
# (json_fuzz) and the core's input handling (core_fuzz: the engine's header
# and body callbacks into zis.errors, the Lua layer's request building; its
# checks are in fuzz/core_fuzz.lua).  New inputs go to build/fuzz-corpus*;
# a crash leaves build/fuzz/crash-* and fails the target.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
              -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc -I$(LUA_INCDIR) $(CURL_CFLAGS)
FUZZ_RUN = -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
           -artifact_prefix=build/fuzz/ -print_final_stats=1
fuzz: deps build/fuzz/json_fuzz build/fuzz/core_fuzz
	@mkdir -p build/fuzz-corpus build/fuzz-corpus-core
	build/fuzz/json_fuzz $(FUZZ_RUN) -max_len=65536 build/fuzz-corpus fuzz/corpus
	build/fuzz/core_fuzz $(FUZZ_RUN) -max_len=4096 build/fuzz-corpus-core fuzz/corpus-core

build/fuzz/json_fuzz: fuzz/json_fuzz.c src/zis_json.c src/zis_json_decode.c src/zis_json.h src/zis_json_internal.h src/zis_json_float.c
	@./tools/ensure-deps clang
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -o $@ fuzz/json_fuzz.c src/zis_json.c src/zis_json_decode.c src/zis_json_float.c -llua$(LUA_VERSION)

# core_fuzz.c includes zis_engine.c (its static callbacks), so that file is
# not linked again.
build/fuzz/core_fuzz: fuzz/core_fuzz.c fuzz/core_fuzz.lua $(SRC) $(HDR)
	@./tools/ensure-deps clang
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) -DZIS_FUZZ_ROOT='"$(CURDIR)"' -o $@ fuzz/core_fuzz.c \
	  $(filter-out src/zis_engine.c,$(SRC)) -llua$(LUA_VERSION) $(CURL_LIBS) -pthread

# The float formatter against printf/strtod over FLOAT_CHECKS random
# doubles (any bit pattern, short decimals, every decade) and the edges;
# about a minute per 2.5 million.  Never part of make test.
FLOAT_CHECKS ?= 5000000
check-floats: build/check-floats
	build/check-floats $(FLOAT_CHECKS)

build/check-floats: tools/check-floats.c src/zis_json_float.c src/zis_json_float.h src/zis_json_pow10.h
	@mkdir -p build
	$(CC) -std=c99 -O2 $(WARN) -Isrc -o $@ tools/check-floats.c src/zis_json_float.c -lm

# Benchmarks: never part of make test.  Ratios are against a baseline
# measured in the same run.
bench: deps build/bench/responder build/bench/floor
	@./tools/ensure-deps curl python3-requests valgrind
	@$(MAKE) -s --no-print-directory all
	@$(LUA) bench/json.lua
	@$(LUA) bench/bulk.lua
	@$(LUA) bench/pace.lua
	@$(LUA) bench/startup.lua
	@$(LUA) bench/compare.lua
	@$(LUA) bench/callgrind.lua

build/bench/responder: bench/responder.c
	@mkdir -p build/bench
	$(CC) -std=c99 -O2 $(WARN) -o $@ $<

build/bench/floor: bench/floor.c
	@mkdir -p build/bench
	$(CC) -std=c99 -O2 $(WARN) $(CURL_CFLAGS) -o $@ $< $(CURL_LIBS)
