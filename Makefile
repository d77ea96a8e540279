# popfetch - a POP3 mail downloader.  Plain GNU make; see README.md.

VERSION   = 0.1.0
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
DESTDIR  ?=

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN      = -Wall -Wextra -Wformat=2 -Wshadow -Werror
CPPFLAGS += -Iinclude -I/usr/include/iniparser -D_GNU_SOURCE \
            -DPOPFETCH_VERSION='"$(VERSION)"'
STD       = -std=c11
LDLIBS   += -liniparser -lssl -lcrypto -pthread

SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=all

SRCS := $(wildcard src/*.c)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

OBJS      := $(SRCS:src/%.c=build/%.o)
LIB_OBJS  := $(LIB_SRCS:src/%.c=build/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/tests/%)

SAN_OBJS      := $(SRCS:src/%.c=build-san/%.o)
SAN_LIB_OBJS  := $(LIB_SRCS:src/%.c=build-san/%.o)
SAN_UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build-san/tests/%)

.PHONY: all check check-run check-unit check-integration check-san check-crash clean \
        install uninstall lint fuzz fuzz-build bench demo deps

all: popfetch

popfetch: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LDLIBS)

build/%.o: src/%.c $(wildcard include/*.h) | build
	$(CC) $(STD) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

build/tests/%: tests/unit/%.c $(LIB_OBJS) $(wildcard tests/unit/*.h) | build/tests
	$(CC) $(STD) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< $(LIB_OBJS) \
	    $(LDLIBS) -lcmocka

build-san/popfetch: $(SAN_OBJS)
	$(CC) $(SAN_FLAGS) $(LDFLAGS) -o $@ $(SAN_OBJS) $(LDLIBS)

build-san/%.o: src/%.c $(wildcard include/*.h) | build-san
	$(CC) $(STD) $(CPPFLAGS) $(SAN_FLAGS) $(WARN) -c -o $@ $<

build-san/tests/%: tests/unit/%.c $(SAN_LIB_OBJS) $(wildcard tests/unit/*.h) | build-san/tests
	$(CC) $(STD) $(CPPFLAGS) $(SAN_FLAGS) $(WARN) -o $@ $< $(SAN_LIB_OBJS) \
	    $(LDLIBS) -lcmocka

build build/tests build-san build-san/tests build-fuzz:
	mkdir -p $@

# The scripted fault-injecting POP3 server of the tests (plain and TLS).
build/tests/faultserver: tests/fault/faultserver.c | build/tests
	$(CC) $(STD) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< -lssl -lcrypto

# libFuzzer targets (clang): every parser of server or config input.
# `make fuzz FUZZ_SECONDS=60` fuzzes each target for that long, starting
# from its seed corpus in tests/fuzz/corpus/TARGET/ (new finds go to
# build-fuzz/corpus/TARGET/, crashes to build-fuzz/).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_FLAGS    = -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_LIB_SRCS := $(LIB_SRCS)

build-fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRCS) $(wildcard include/*.h) \
              $(wildcard tests/fuzz/*.h) | build-fuzz
	$(FUZZ_CC) $(STD) $(CPPFLAGS) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LIB_SRCS) \
	    $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@for b in $(FUZZ_BINS); do \
	    t=$$(basename $$b); mkdir -p build-fuzz/corpus/$$t; \
	    echo "== $$t ($(FUZZ_SECONDS) s)"; \
	    (cd build-fuzz && ./$$t -max_total_time=$(FUZZ_SECONDS) \
	        -print_final_stats=1 corpus/$$t ../tests/fuzz/corpus/$$t \
	        >$$t.log 2>&1; s=$$?; \
	        grep -E 'stat::number_of_executed_units|ERROR|crash-|Done' $$t.log; \
	        exit $$s) || exit 1; \
	done

# make check: installs the Debian packages the tests need if some are
# missing (contrib/install-deps --test; root or sudo), then unit tests,
# integration tests against a private Dovecot, and both again under
# AddressSanitizer + UndefinedBehaviorSanitizer.  Every suite prints TAP;
# tests/run-suites counts them and ends with the line "N passed, N failed".
check:
	contrib/install-deps --test
	$(MAKE) check-run

INTEGRATION_SUITES = run delivery auth tls ux

check-run: popfetch $(UNIT_BINS) build-san/popfetch $(SAN_UNIT_BINS) \
       build/tests/faultserver
	tests/run-suites \
	    "unit" "tests/run-unit build/tests" \
	    $(foreach s,$(INTEGRATION_SUITES),"integration-$(s)" "env POPFETCH=$(CURDIR)/popfetch tests/integration/$(s)") \
	    "fault" "env POPFETCH=$(CURDIR)/popfetch FAULTSERVER=$(CURDIR)/build/tests/faultserver tests/fault/run" \
	    "unit-sanitizer" "tests/run-unit build-san/tests" \
	    $(foreach s,$(INTEGRATION_SUITES),"integration-$(s)-sanitizer" "env POPFETCH=$(CURDIR)/build-san/popfetch tests/integration/$(s)") \
	    "fault-sanitizer" "env POPFETCH=$(CURDIR)/build-san/popfetch FAULTSERVER=$(CURDIR)/build/tests/faultserver tests/fault/run" \
	    "crash" "env POPFETCH=$(CURDIR)/popfetch tests/crash/run" \
	    "diskfull" "env POPFETCH=$(CURDIR)/popfetch tests/crash/diskfull" \
	    "crash-sanitizer" "env POPFETCH=$(CURDIR)/build-san/popfetch CRASH_STRIDE=3 CRASH_RANDOM=3 tests/crash/run" \
	    "diskfull-sanitizer" "env POPFETCH=$(CURDIR)/build-san/popfetch tests/crash/diskfull" \
	    "contrib" "tests/contrib/run" \
	    "manpages" "tests/lint-man" \
	    "fuzz-corpus" "tests/fuzz/run-corpus"

check-unit: $(UNIT_BINS)
	tests/run-suites "unit" "tests/run-unit build/tests"

check-integration: popfetch
	tests/run-suites \
	    $(foreach s,$(INTEGRATION_SUITES),"integration-$(s)" "env POPFETCH=$(CURDIR)/popfetch tests/integration/$(s)")

check-san: build-san/popfetch $(SAN_UNIT_BINS)
	tests/run-suites \
	    "unit-sanitizer" "tests/run-unit build-san/tests" \
	    $(foreach s,$(INTEGRATION_SUITES),"integration-$(s)-sanitizer" "env POPFETCH=$(CURDIR)/build-san/popfetch tests/integration/$(s)")

# Crash loops and full disks alone (part of make check).
check-crash: popfetch
	tests/run-suites \
	    "crash" "env POPFETCH=$(CURDIR)/popfetch tests/crash/run" \
	    "diskfull" "env POPFETCH=$(CURDIR)/popfetch tests/crash/diskfull"

# A benchmark, not a test: popfetch against mpop, fetchmail and getmail6
# and against the stream and disk floors, on a private Dovecot; results in
# build/bench/results.md.  BENCH_MODE=compare|bigmsg|many|accounts|all,
# see tests/bench/run.
bench: popfetch
	tests/bench/run

# make demo: installs what is missing (contrib/install-deps --demo), builds,
# and fetches 200 generated messages from a private Dovecot on 127.0.0.1
# into ./demo/Maildir (contrib/demo).
demo:
	contrib/install-deps --demo
	$(MAKE) popfetch
	contrib/demo

# The packages to build popfetch (contrib/install-deps --build).
deps:
	contrib/install-deps --build

lint:
	mandoc -Tlint -Wwarning man/popfetch.1 man/popfetch.ini.5

DATADIR  ?= $(PREFIX)/share
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/site-functions

install: popfetch
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(DATADIR)/popfetch $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 0755 popfetch $(DESTDIR)$(BINDIR)/popfetch
	install -m 0644 man/popfetch.1 $(DESTDIR)$(MANDIR)/man1/popfetch.1
	install -m 0644 man/popfetch.ini.5 $(DESTDIR)$(MANDIR)/man5/popfetch.ini.5
	install -m 0755 contrib/oauth2-token $(DESTDIR)$(DATADIR)/popfetch/oauth2-token
	install -m 0644 contrib/completion/popfetch.bash $(DESTDIR)$(BASHCOMPDIR)/popfetch
	install -m 0644 contrib/completion/_popfetch $(DESTDIR)$(ZSHCOMPDIR)/_popfetch

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/popfetch $(DESTDIR)$(MANDIR)/man1/popfetch.1 \
	    $(DESTDIR)$(MANDIR)/man5/popfetch.ini.5 \
	    $(DESTDIR)$(DATADIR)/popfetch/oauth2-token \
	    $(DESTDIR)$(BASHCOMPDIR)/popfetch $(DESTDIR)$(ZSHCOMPDIR)/_popfetch
	-rmdir $(DESTDIR)$(DATADIR)/popfetch 2>/dev/null

clean:
	rm -rf build build-san build-fuzz popfetch
