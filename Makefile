# winnow: GNU Makefile. `make` builds bin/winnowd; `make check` runs every test;
# `make demo` runs the main job; `make deps` installs the Debian packages needed.

PREFIX  ?= /usr/local
DESTDIR ?=
SANITIZE ?=
# A sanitizer build gets its own folders, so its objects never mix with a plain build's.
comma := ,
ifeq ($(SANITIZE),)
BUILD   ?= build
BIN     ?= bin
else
BUILD   ?= build-$(subst $(comma),-,$(SANITIZE))
BIN     ?= bin-$(subst $(comma),-,$(SANITIZE))
endif

PKGS := libuv libcjson yajl libcurl expat sqlite3 openblas libjpeg libpng libwebp libwebpdemux libxxhash stb \
	libavformat libavcodec libswscale libavutil
WEB_PKGS := libmicrohttpd libcrypto
TEST_PKGS := cmocka

# Debian packages: build libraries, test tools (cmocka, numpy, scikit-learn, Pillow).
# python3-pydantic .. -urllib3: what Lightly's own client (tests/tools/lightly_client_check.sh) needs.
# libav*-dev: videos (lib/video.c, SPEC 3.1); ffmpeg: the video tests make their clips with its CLI.
DEB_PKGS := build-essential pkg-config libuv1-dev libcjson-dev libyajl-dev libcurl4-openssl-dev \
	libsqlite3-dev libopenblas-dev libjpeg62-turbo-dev libpng-dev libwebp-dev \
	libxxhash-dev libstb-dev libexpat1-dev libcmocka-dev sqlite3 python3 python3-numpy \
	python3-sklearn python3-pil libmicrohttpd-dev libssl-dev chromium systemd \
	clang libclang-rt-14-dev \
	python3-pydantic python3-requests python3-tqdm python3-dateutil python3-urllib3 \
	libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg

CC ?= cc
WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -I. -Ilib -MMD -MP \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS_ALL = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

RUNNER_SRC := daemon/pipeline.c daemon/report.c daemon/checkpoint.c daemon/inputs.c \
	$(sort $(wildcard daemon/in_*.c))
LIB_SRC := $(sort $(wildcard lib/*.c) $(wildcard scorers/*.c) $(wildcard selectors/*.c)) $(RUNNER_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
WINNOWD_SRC := $(filter-out $(RUNNER_SRC) daemon/ctl.c,$(sort $(wildcard daemon/*.c)))
WINNOWD_OBJ := $(WINNOWD_SRC:%.c=$(BUILD)/%.o)
# winnowctl: its own small program; it shares the config reader, the queue's
# names and the web app check with winnowd, and links nothing of the loop.
CTL_OBJ := $(addprefix $(BUILD)/daemon/,ctl.o sanity.o dconf.o queue.o)
WEB_SRC := $(sort $(wildcard web/*.c))
WEB_OBJ := $(WEB_SRC:%.c=$(BUILD)/%.o)
WEB_BIN := $(if $(WEB_SRC),$(BIN)/winnow-web)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Test drivers: small programs under tests/tools/ that the Python suites run.
DRIVER_BIN := $(BUILD)/tests/tools/engine_driver $(BUILD)/tests/tools/winnowd-test \
	$(if $(WEB_SRC),$(BUILD)/tests/tools/winnow-web-test)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

DEPS_STAMP := $(BUILD)/.deps-ok

# Quiet by default; V=1 shows full commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: fuzz fuzz-build all deps check soak demo install clean bench bench-images bench-scores \
	bench-web bench-e2e bench-select bench-scale bench-knn bench-csv bench-s3 bench-video unit web-assets
all: deps $(BIN)/winnowd $(BIN)/winnowctl $(WEB_BIN) web-assets

# Runs apt-get only when a package is missing, so it is cheap to call every time.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

$(DEPS_STAMP):
	@$(MAKE) --no-print-directory deps
	@mkdir -p $(@D) && touch $@

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libwinnow.a: $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(BIN)/winnowd: $(WINNOWD_OBJ) $(BUILD)/libwinnow.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BIN)/winnowctl: $(CTL_OBJ) $(BUILD)/libwinnow.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/web/%.o: web/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags $(WEB_PKGS)) -c $< -o $@

$(BIN)/winnow-web: $(WEB_OBJ) $(BUILD)/libwinnow.a
	@mkdir -p $(@D)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL) $(shell pkg-config --libs $(WEB_PKGS))

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libwinnow.a | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags $(TEST_PKGS)) $(LDFLAGS) -o $@ $< \
		$(BUILD)/libwinnow.a $(LDLIBS_ALL) $(shell pkg-config --libs $(TEST_PKGS))

$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libwinnow.a | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  TOOL    $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libwinnow.a $(LDLIBS_ALL)

# winnowd with its test seams set from the environment (daemon/hooks.h): every
# object of winnowd but main.o, and the driver's own main.
$(BUILD)/tests/tools/winnowd-test: tests/tools/winnowd_test.c $(filter-out $(BUILD)/daemon/main.o,$(WINNOWD_OBJ)) \
		$(BUILD)/libwinnow.a | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  TOOL    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Idaemon $(LDFLAGS) -o $@ $< $(filter-out $(BUILD)/daemon/main.o,$(WINNOWD_OBJ)) \
		$(BUILD)/libwinnow.a $(LDLIBS_ALL)

# winnow-web with a fault injector on its store seam (web/db.h), set from the
# environment: every object of winnow-web but main.o, web/main.c again with
# its main renamed, and the driver's own main.
WEB_TEST_OBJ := $(filter-out $(BUILD)/web/main.o,$(WEB_OBJ)) $(BUILD)/tests/tools/web_main.o
$(BUILD)/tests/tools/web_main.o: web/main.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $< (as winnow_web_main)")
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $(shell pkg-config --cflags $(WEB_PKGS)) \
		-Dmain=winnow_web_main -c $< -o $@

$(BUILD)/tests/tools/winnow-web-test: tests/tools/winnow_web_test.c $(WEB_TEST_OBJ) \
		$(BUILD)/libwinnow.a | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  TOOL    $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(shell pkg-config --cflags $(WEB_PKGS)) $(LDFLAGS) -o $@ $< \
		$(WEB_TEST_OBJ) $(BUILD)/libwinnow.a $(LDLIBS_ALL) $(shell pkg-config --libs $(WEB_PKGS))

$(BUILD)/bench/%: bench/%.c $(BUILD)/libwinnow.a | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  BENCH   $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libwinnow.a $(LDLIBS_ALL)

unit: $(UNIT_BIN) $(DRIVER_BIN)

# The pages' charting library (and the browser tests' driver) from npm, pinned by
# web/package-lock.json; its dist file is copied into web/static/vendor/ (gitignored).
# npm ci again whenever package-lock.json changes (npm writes node_modules/.package-lock.json).
web/node_modules/.package-lock.json: web/package-lock.json
	npm ci --prefix web --no-audit --no-fund
	@touch $@

web-assets: web/node_modules/.package-lock.json
	@mkdir -p web/static/vendor
	@cmp -s web/node_modules/chart.js/dist/chart.umd.min.js web/static/vendor/chart.umd.min.js || \
	  cp web/node_modules/chart.js/dist/chart.umd.min.js web/static/vendor/chart.umd.min.js

check: deps $(DEPS_STAMP) $(BIN)/winnowd $(BIN)/winnowctl $(WEB_BIN) $(UNIT_BIN) $(DRIVER_BIN) web-assets fuzz-build
	@BUILD=$(BUILD) BIN=$(BIN) FUZZ_BUILD=$(FUZZ_BUILD) tests/run.sh

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang in their own folder
# (never mixed with the gcc objects): every source of libwinnow.a and web/ again
# with ASan + UBSan and coverage. `make fuzz` runs each for FUZZ_SECONDS from
# its seed corpus tests/fuzz/<target>/; `make check` runs each briefly.
FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# clang, unlike gcc, warns of a va_list format passed on (xvasprintf); gcc checks those.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -Wno-format-nonliteral -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	-I. -Ilib -Iweb -MMD -MP $(shell pkg-config --cflags $(PKGS) $(WEB_PKGS) 2>/dev/null)
FUZZ_LDLIBS = $(LDLIBS_ALL) $(shell pkg-config --libs $(WEB_PKGS))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
# The web app without its main(): the fuzz target calls the route handlers itself.
FUZZ_WEB_OBJ := $(filter-out $(FUZZ_BUILD)/web/main.o,$(WEB_SRC:%.c=$(FUZZ_BUILD)/%.o))

$(FUZZ_BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/libwinnow.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(FUZZ_BUILD)/libweb.a: $(FUZZ_WEB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/libweb.a $(FUZZ_BUILD)/libwinnow.a
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libweb.a \
		$(FUZZ_BUILD)/libwinnow.a $(FUZZ_LDLIBS) $(FUZZ_LDFLAGS_$*)

# fuzz_web replaces getrandom (repeatable ids) and libmicrohttpd's lookups (no connection).
FUZZ_LDFLAGS_web := -Wl,--wrap=getrandom -Wl,--wrap=MHD_lookup_connection_value

# Keep the targets' objects (make would delete them as intermediates).
.SECONDARY: $(FUZZ_SRC:%.c=$(FUZZ_BUILD)/%.o)

fuzz-build: $(FUZZ_BIN)

fuzz: deps fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh $(FUZZ_SECONDS)

# kill -9 of winnowd at random moments (claiming, stages, reporting) while it works
# through scheduled runs; then every run must be COMPLETED once, nothing duplicated,
# both databases intact. Not part of `make check` (tests/py/test_soak.py is its short form).
SOAK_CYCLES ?= 50
SOAK_RUNS ?= 20
soak: $(DEPS_STAMP) $(BIN)/winnowd $(BUILD)/tests/tools/winnowd-test $(WEB_BIN)
	@BUILD=$(BUILD) BIN=$(BIN) WINNOW_ROOT=$(CURDIR) /usr/bin/python3 tests/tools/soak.py \
		--cycles $(SOAK_CYCLES) --runs $(SOAK_RUNS) $(if $(SOAK_SEED),--seed $(SOAK_SEED))

# The main job. Until the web app and the daemon exist: local mode on a generated dataset.
DEMO_DIR ?= $(BUILD)/demo
demo: $(DEPS_STAMP) $(BIN)/winnowd $(WEB_BIN) web-assets
	@BIN=$(BIN) DEMO_DIR=$(DEMO_DIR) ONCE=$(ONCE) tests/tools/demo.sh

bench-images: $(DEPS_STAMP) $(BIN)/winnowd
	@BUILD=$(BUILD) bench/bench_images.sh

# Videos (issue 17): winnow's image pass on generated 1080p H.264 clips against ffmpeg's
# decode and OpenCV's VideoCapture (python3-opencv, installed here as wrk is for bench-web).
bench-video: $(DEPS_STAMP) $(BIN)/winnowd
	@dpkg-query -W -f='$${Status}' python3-opencv 2>/dev/null | grep -q 'install ok installed' || \
	  { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get install -y -q python3-opencv >/dev/null || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q python3-opencv; }; }
	@BUILD=$(BUILD) BIN=$(BIN) /usr/bin/python3 bench/bench_video.py

bench-scores: $(DEPS_STAMP) $(BIN)/winnowd
	@BUILD=$(BUILD) BIN=$(BIN) bench/bench_scores.sh

# Benchmark-only tools, installed by the bench targets that need them.
bench-web: $(DEPS_STAMP) $(BIN)/winnowd $(WEB_BIN) web-assets
	@command -v wrk >/dev/null || { SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get install -y -q wrk >/dev/null || $$SUDO apt-get update -q && $$SUDO apt-get install -y -q wrk; }
	@BIN=$(BIN) /usr/bin/python3 bench/bench_web.py
	@BIN=$(BIN) node bench/bench_results_page.mjs
	@BIN=$(BIN) node bench/bench_results_plot.mjs

# One coral run on 10,000 generated JPEGs through winnow-web and winnowd, beside local mode;
# then the idle daemon's CPU and RSS.
bench-e2e: $(DEPS_STAMP) $(BIN)/winnowd $(WEB_BIN)
	@BUILD=$(BUILD) BIN=$(BIN) /usr/bin/python3 bench/bench_e2e.py

# Coreset on 100,000 x 128 rows against numpy in the same run; then 1,000,000 x 64, winnow
# alone; the plan [DIVERSITY, WEIGHTS, BALANCE] on 1,000,000 x 64 against coral; TYPICALITY's
# k-NN against scikit-learn (bench-knn's run).
bench-select: $(DEPS_STAMP) $(BUILD)/bench/bench_select $(BUILD)/bench/bench_knn
	@BUILD=$(BUILD) /usr/bin/python3 bench/bench_select.py

# TYPICALITY's exact k-NN (K = 20) on 100,000 x 128 clustered rows against scikit-learn's
# exact brute-force NearestNeighbors, both on every core.
# Issue 18: 1.28M x 128 to k = 500,000 (long; not part of check). BENCH_SCALE_ARGS=limit=S
# stops each selection after S seconds on a busy machine (reported as such).
bench-scale: $(DEPS_STAMP) $(BUILD)/bench/bench_scale
	@ref=$$(nice -n 19 /usr/bin/python3 bench/bench_scale_ref.py) && \
	nice -n 19 $(BUILD)/bench/bench_scale ref=$$ref $(BENCH_SCALE_ARGS)

bench-knn: $(DEPS_STAMP) $(BUILD)/bench/bench_knn
	@$(BUILD)/bench/bench_knn bench/bench_knn.py

# The embeddings CSV at 1,000,000 rows: parse MB/s beside numpy's loadtxt, then the
# whole local-mode run on it (stage times, peak RSS).
bench-csv: $(DEPS_STAMP) $(BIN)/winnowd $(BUILD)/bench/bench_csv
	@BUILD=$(BUILD) BIN=$(BIN) /usr/bin/python3 bench/bench_csv.py

# Listing and reading 10,000 objects from a local s3rver, 1 and 16 requests in flight.
bench-s3: $(DEPS_STAMP) $(BUILD)/bench/bench_s3 web-assets
	@BUILD=$(BUILD) /usr/bin/python3 bench/bench_s3.py

bench: bench-images bench-scores bench-web bench-e2e bench-select bench-knn bench-csv bench-s3 bench-video

# The units name /usr/local/bin; install rewrites that to $(PREFIX)/bin. The
# example config never overwrites a real one: it lands beside it as .example.
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
install: $(BIN)/winnowd $(BIN)/winnowctl $(WEB_BIN) web-assets
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)/etc/winnow
	install -m 755 $(BIN)/winnowd $(BIN)/winnowctl $(WEB_BIN) $(DESTDIR)$(PREFIX)/bin/
	for u in winnowd.service winnow-web.service; do \
	  sed 's|/usr/local/|$(PREFIX)/|g' systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u.tmp && \
	  chmod 644 $(DESTDIR)$(UNITDIR)/$$u.tmp && mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u; \
	done
	install -m 644 systemd/winnow.sysusers $(DESTDIR)$(SYSUSERSDIR)/winnow.conf
	install -m 644 systemd/winnowd.json.example $(DESTDIR)/etc/winnow/winnowd.json.example
	install -d $(DESTDIR)$(PREFIX)/share/winnow/static
	if [ -d web/static ]; then cp -R web/static/. $(DESTDIR)$(PREFIX)/share/winnow/static/; fi

clean:
	rm -rf build build-* bin bin-*

-include $(LIB_OBJ:.o=.d) $(WINNOWD_OBJ:.o=.d) $(CTL_OBJ:.o=.d) $(WEB_OBJ:.o=.d) $(BUILD)/tests/tools/web_main.d
# A unit suite that #includes a source file (test_queue.c takes daemon/queue.c) is rebuilt
# when that file changes.
-include $(UNIT_BIN:=.d) $(BENCH_BIN:=.d) $(DRIVER_BIN:=.d)
-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_WEB_OBJ:.o=.d) $(FUZZ_SRC:%.c=$(FUZZ_BUILD)/%.d)
