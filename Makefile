.POSIX:
.SUFFIXES:

# Users own these; the project's own flags live in HC_* so CFLAGS=... on the
# command line cannot drop them.
CC = cc
CFLAGS = -O2 -g
CPPFLAGS =
LDFLAGS =
PREFIX = /usr/local
DESTDIR =
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
DOCDIR = $(PREFIX)/share/doc/health-checker
# Where --script finds the contrib checks by bare name: ../lib from BINDIR.
CHECKSDIR = $(PREFIX)/lib/health-checker/checks
UNITDIR = $(PREFIX)/lib/systemd/system
SYSUSERSDIR = $(PREFIX)/lib/sysusers.d

HC_CPPFLAGS = -D_GNU_SOURCE
HC_WARN = -std=c99 -pedantic -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2
# Hardening by default: fortified libc calls, stack protector, PIE, full RELRO.
# _FORTIFY_SOURCE=2 only when the user's flags do not mention it: their level
# (=3, say, or -U) then stands alone, with no "redefined" warning and no =2 of
# ours after it.  A shell test, because POSIX make has no conditionals.
HC_FORTIFY = `case " $(CPPFLAGS) $(CFLAGS) " in *_FORTIFY_SOURCE*) ;; \
	*) echo -D_FORTIFY_SOURCE=2 ;; esac`
HC_HARDEN = $(HC_FORTIFY) -fstack-protector-strong -fPIE
HC_CFLAGS = $(HC_WARN) $(HC_HARDEN)
HC_LDFLAGS = -pie -Wl,-z,relro,-z,now

SRC = src/main.c src/options.c src/targets.c src/arena.c src/words.c \
	src/log.c src/loop.c src/http.c src/runtime.c src/sd.c \
	src/server.c src/admit.c src/peer.c src/serve.c src/answer.c \
	src/reqbuf.c src/persist.c src/agent.c src/agentconn.c \
	src/flight.c src/statefile.c src/change.c src/maint.c src/runfile.c \
	src/checks.c src/probe.c src/kind_connect.c src/kind_http.c \
	src/kind_script.c src/spawn.c src/reap.c src/lookup.c src/report.c
HDR = src/version.h src/options.h src/targets.h src/arena.h src/words.h src/log.h \
	src/loop.h src/http.h src/runtime.h src/sd.h \
	src/server.h src/admit.h src/peer.h src/serve.h src/answer.h \
	src/reqbuf.h src/serve_conn.h src/agent.h src/agentconn.h \
	src/flight.h src/statefile.h src/change.h src/maint.h src/runfile.h \
	src/checks.h src/probe.h src/kind_connect.h src/kind_http.h \
	src/kind_script.h src/spawn.h src/reap.h src/lookup.h src/report.h

all: health-checker

health-checker: $(SRC) $(HDR)
	$(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(HC_CFLAGS) $(CFLAGS) \
		-o $@ $(SRC) $(HC_LDFLAGS) $(LDFLAGS)

# ASan + UBSan, aborting on the first report, for `make sanitize`.
SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
health-checker-asan: $(SRC) $(HDR)
	$(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(HC_WARN) $(SAN_FLAGS) \
		-o $@ $(SRC) $(LDFLAGS)

# One static binary against musl (Debian's musl-tools): no loader, no
# library, runnable in an empty root or a scratch container image.
MUSL_CC = musl-gcc
health-checker-static: $(SRC) $(HDR)
	$(MUSL_CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(HC_WARN) \
		-fstack-protector-strong $(CFLAGS) -static \
		-o $@ $(SRC) -Wl,-z,relro,-z,now $(LDFLAGS)

static: health-checker-static

# The same static binary for aarch64 (Graviton and other arm64 machines):
# Debian's cross gcc (gcc-aarch64-linux-gnu) against Debian's musl for arm64,
# which bookworm ships only as a foreign-architecture package: `tests/deps
# sysroot` unpacks musl-dev:arm64 and musl:arm64 into a build-local sysroot
# (the host's dpkg architectures untouched), and musl's own specs file,
# pointed there, makes the cross gcc a musl-gcc.
AARCH64_CC = aarch64-linux-gnu-gcc
AARCH64_SYSROOT = build/musl-arm64
$(AARCH64_SYSROOT):
	tests/deps sysroot arm64 $@

health-checker-static-aarch64: $(SRC) $(HDR) $(AARCH64_SYSROOT)
	s=`pwd`/$(AARCH64_SYSROOT); \
	sed "s|/usr/|$$s/usr/|g" \
		$$s/usr/lib/aarch64-linux-musl/musl-gcc.specs >$$s/musl-gcc.specs
	$(AARCH64_CC) -specs=$(AARCH64_SYSROOT)/musl-gcc.specs \
		$(HC_CPPFLAGS) $(CPPFLAGS) $(HC_WARN) \
		-fstack-protector-strong $(CFLAGS) -static \
		-o $@ $(SRC) -Wl,-z,relro,-z,now $(LDFLAGS)

static-aarch64: health-checker-static-aarch64

# The release files: both static binaries under their architecture's name,
# and their SHA-256 sums (sha256sum -c SHA256SUMS in dist/ checks them).
VERSION = `sed -n 's/^.define VERSION "\(.*\)"$$/\1/p' src/version.h`
dist: health-checker-static health-checker-static-aarch64
	rm -rf dist
	mkdir dist
	v=$(VERSION); \
	cp health-checker-static dist/health-checker-$$v-linux-x86_64 && \
	cp health-checker-static-aarch64 dist/health-checker-$$v-linux-aarch64
	cd dist && sha256sum health-checker-* >SHA256SUMS
	cat dist/SHA256SUMS

# The sanitized pass of `make check` alone.
sanitize: health-checker-asan tests/listen
	PLAIN=no SANITIZED=./health-checker-asan tests/run

tests/listen: tests/listen.c
	$(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(HC_CFLAGS) $(CFLAGS) \
		-o $@ tests/listen.c $(LDFLAGS)

# Every source once more with -Werror at the same optimisation: a warning
# fails `make check` (and CI) without failing a user's `make`.  gcc and
# musl-gcc, and clang where it is installed (another compiler's warnings).
CLANG = clang
werror:
	for f in $(SRC) tests/listen.c $(UNIT_SRC); do \
		$(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(HC_CFLAGS) $(CFLAGS) \
			-Werror -c -o /dev/null $$f || exit 1; \
		$(MUSL_CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(HC_WARN) $(CFLAGS) \
			-Werror -c -o /dev/null $$f || exit 1; \
		if command -v $(CLANG) >/dev/null 2>&1; then \
			$(CLANG) $(HC_CPPFLAGS) $(CPPFLAGS) $(HC_CFLAGS) \
				$(CFLAGS) -Werror -c -o /dev/null $$f || exit 1; \
		fi; \
	done

# Unit tests of the pure modules (tests/unit, golden files beside them):
# each links an archive of every source but main.c, so code moving between
# files never breaks a link line; NAME-test-asan is NAME-test under ASan +
# UBSan.  A test that does not build is missing, and tests/run counts it
# as failed.
AR = ar
UNIT_TESTS = build/unit/http-test build/unit/words-test \
	build/unit/report-test build/unit/reqbuf-test
UNIT_TESTS_ASAN = build/unit/http-test-asan build/unit/words-test-asan \
	build/unit/report-test-asan build/unit/reqbuf-test-asan
UNIT_SRC = tests/unit/http_test.c tests/unit/words_test.c \
	tests/unit/report_test.c tests/unit/reqbuf_test.c tests/unit/tap.c
# The archive $@ of $(SRC) but main.c, each object compiled by compile().
UNIT_ARCHIVE = rm -rf $@.d && mkdir -p $@.d && \
	for f in $(SRC); do \
		case $$f in src/main.c) continue ;; esac; \
		compile -c -o $@.d/`basename $$f .c`.o $$f || exit 1; \
	done; \
	rm -f $@ && $(AR) rcs $@ $@.d/*.o

build/unit/libhc.a: $(SRC) $(HDR)
	compile() { $(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(HC_CFLAGS) $(CFLAGS) \
		"$$@"; }; $(UNIT_ARCHIVE)

build/unit/libhc-asan.a: $(SRC) $(HDR)
	compile() { $(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(HC_WARN) \
		$(SAN_FLAGS) "$$@"; }; $(UNIT_ARCHIVE)

$(UNIT_TESTS): $(UNIT_SRC) tests/unit/tap.h build/unit/libhc.a
	rm -f $@
	$(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(HC_CFLAGS) $(CFLAGS) -o $@ \
		tests/unit/`basename $@ -test`_test.c tests/unit/tap.c \
		build/unit/libhc.a $(HC_LDFLAGS) $(LDFLAGS)

$(UNIT_TESTS_ASAN): $(UNIT_SRC) tests/unit/tap.h build/unit/libhc-asan.a
	rm -f $@
	$(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(HC_WARN) $(SAN_FLAGS) -o $@ \
		tests/unit/`basename $@ -test-asan`_test.c tests/unit/tap.c \
		build/unit/libhc-asan.a $(LDFLAGS)

# The unit tests alone, plain and sanitized, counted as tests/run counts.
unit: $(UNIT_TESTS) $(UNIT_TESTS_ASAN)
	SANITIZED=./health-checker-asan tests/run $(UNIT_TESTS)

# The whole suite three times: against the build, ASan+UBSan, and the static
# musl build; the unit tests in the first two passes.
check: health-checker health-checker-asan health-checker-static \
	health-checker-static-aarch64 tests/listen werror
	-$(MAKE) -k $(UNIT_TESTS) $(UNIT_TESTS_ASAN)
	SANITIZED=./health-checker-asan STATIC=./health-checker-static \
		tests/run tests/*.bats $(UNIT_TESTS)

CONTRIB = contrib/xinetd.health-checker contrib/xinetd.health-checker-agent \
	contrib/inetd.conf contrib/default \
	contrib/haproxy.cfg contrib/aws-target-group.md contrib/supervisord.conf
CHECKS = contrib/checks/zk-ruok contrib/checks/zk-mntr \
	contrib/checks/pg-isready contrib/checks/redis-ping
UNITS = units/health-checker.socket units/health-checker@.service \
	units/health-checker.service units/health-checker-server.socket \
	units/health-checker-agent.socket units/health-checker-agent@.service

# Units and contrib name the installed binary and scripts: paths rewritten
# to BINDIR and DOCDIR as they are copied.  STATIC=1 installs the static
# musl build as the binary.
STATIC =
# The generator that gives the sockets PollLimitIntervalSec=0 where systemd
# knows the key (systemd >= 255), decided at every boot and daemon-reload;
# the state directory of the xinetd, inetd and supervisord forms.
GENERATORDIR = $(PREFIX)/lib/systemd/system-generators
TMPFILESDIR = $(PREFIX)/lib/tmpfiles.d
install: health-checker
	if [ -n "$(STATIC)" ]; then $(MAKE) health-checker-static; fi
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/contrib \
		$(DESTDIR)$(CHECKSDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(GENERATORDIR) $(DESTDIR)$(TMPFILESDIR)
	cp units/health-checker.sysusers \
		$(DESTDIR)$(SYSUSERSDIR)/health-checker.conf
	chmod 644 $(DESTDIR)$(SYSUSERSDIR)/health-checker.conf
	cp units/health-checker.tmpfiles \
		$(DESTDIR)$(TMPFILESDIR)/health-checker.conf
	chmod 644 $(DESTDIR)$(TMPFILESDIR)/health-checker.conf
	cp units/health-checker-generator $(DESTDIR)$(GENERATORDIR)/
	chmod 755 $(DESTDIR)$(GENERATORDIR)/health-checker-generator
	if [ -n "$(STATIC)" ]; then b=health-checker-static; \
	else b=health-checker; fi; \
	cp $$b $(DESTDIR)$(BINDIR)/health-checker
	chmod 755 $(DESTDIR)$(BINDIR)/health-checker
	cp man/health-checker.8 $(DESTDIR)$(MANDIR)/man8/health-checker.8
	chmod 644 $(DESTDIR)$(MANDIR)/man8/health-checker.8
	for f in $(UNITS) $(CONTRIB); do \
		case $$f in units/*) d=$(DESTDIR)$(UNITDIR) ;; \
		*) d=$(DESTDIR)$(DOCDIR)/contrib ;; esac; \
		sed -e 's|@bindir@|$(BINDIR)|g' \
			-e 's|/usr/local/bin|$(BINDIR)|g' \
			-e 's|/usr/local/share/doc/health-checker|$(DOCDIR)|g' \
			-e '/^@sandbox@$$/r units/sandbox.inc' \
			-e '/^@sandbox@$$/d' \
			$$f >$$d/$${f##*/} && chmod 644 $$d/$${f##*/} || exit 1; \
	done
	for f in $(CHECKS); do \
		cp $$f $(DESTDIR)$(CHECKSDIR)/ && \
		chmod 755 $(DESTDIR)$(CHECKSDIR)/$${f##*/} || exit 1; \
	done
	cp README.md $(DESTDIR)$(DOCDIR)/README.md

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/health-checker \
		$(DESTDIR)$(MANDIR)/man8/health-checker.8 \
		$(DESTDIR)$(UNITDIR)/health-checker.socket \
		$(DESTDIR)$(UNITDIR)/health-checker@.service \
		$(DESTDIR)$(UNITDIR)/health-checker.service \
		$(DESTDIR)$(UNITDIR)/health-checker-server.socket \
		$(DESTDIR)$(UNITDIR)/health-checker-agent.socket \
		$(DESTDIR)$(UNITDIR)/health-checker-agent@.service \
		$(DESTDIR)$(SYSUSERSDIR)/health-checker.conf \
		$(DESTDIR)$(TMPFILESDIR)/health-checker.conf \
		$(DESTDIR)$(GENERATORDIR)/health-checker-generator
	rm -rf $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CHECKSDIR)
	-rmdir $(DESTDIR)$(PREFIX)/lib/health-checker

clean:
	rm -f health-checker health-checker-asan health-checker-static \
		health-checker-static-aarch64 \
		tests/listen tests/bench/ref-server tests/bench/ref-oneshot \
		tests/bench/ref-oneshot-static tests/bench/execs tests/bench/conns \
		tests/fuzz/http-fuzz tests/fuzz/words-fuzz
	rm -rf dist build/unit

.PHONY: all check clean werror bench install uninstall fuzz sanitize lint \
	static static-aarch64 dist unit

tests/bench/ref-server: tests/bench/ref-server.c
	$(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) -o $@ tests/bench/ref-server.c $(LDFLAGS)

tests/bench/ref-oneshot: tests/bench/ref-oneshot.c
	$(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) -o $@ tests/bench/ref-oneshot.c $(LDFLAGS)

tests/bench/ref-oneshot-static: tests/bench/ref-oneshot.c
	$(MUSL_CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) -static -o $@ \
		tests/bench/ref-oneshot.c $(LDFLAGS)

tests/bench/execs: tests/bench/execs.c
	$(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) -o $@ tests/bench/execs.c $(LDFLAGS)

tests/bench/conns: tests/bench/conns.c
	$(CC) $(HC_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) -o $@ tests/bench/conns.c $(LDFLAGS)

# Not part of check: prints figures beside references measured in the same run.
bench: health-checker health-checker-static tests/listen tests/bench/ref-server \
	tests/bench/ref-oneshot tests/bench/ref-oneshot-static tests/bench/execs \
	tests/bench/conns
	tests/bench/run

# Fuzzing (clang with libFuzzer): FUZZ_SECONDS per target; new inputs go to a
# temporary corpus, crashes to tests/fuzz/crash-*.  The parser's inputs reach
# past 8 KiB, where 431 begins.
FUZZ_SECONDS = 60
FUZZ_CC = clang
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all

tests/fuzz/http-fuzz: tests/fuzz/http_fuzz.c src/http.c src/http.h
	$(FUZZ_CC) $(HC_CPPFLAGS) $(FUZZ_FLAGS) -o $@ tests/fuzz/http_fuzz.c src/http.c

tests/fuzz/words-fuzz: tests/fuzz/words_fuzz.c src/words.c src/words.h
	$(FUZZ_CC) $(HC_CPPFLAGS) $(FUZZ_FLAGS) -o $@ tests/fuzz/words_fuzz.c src/words.c

fuzz: tests/fuzz/http-fuzz tests/fuzz/words-fuzz
	for t in http words; do \
		work=$$(mktemp -d) || exit 1; \
		len=4096; [ $$t = http ] && len=9000; \
		tests/fuzz/$$t-fuzz -max_total_time=$(FUZZ_SECONDS) \
			-max_len=$$len \
			-artifact_prefix=tests/fuzz/crash-$$t- \
			"$$work" tests/fuzz/corpus-$$t || { rm -rf "$$work"; exit 1; }; \
		rm -rf "$$work"; \
	done

# Style, static analysis, man page and shell lint (clang-format, cppcheck,
# clang-tidy one file per call, mandoc, shellcheck).
lint:
	clang-format --dry-run -Werror src/*.c src/*.h tests/*.c \
		tests/fuzz/*.c tests/bench/*.c tests/unit/*.c tests/unit/*.h
	cppcheck --quiet --enable=warning,portability,performance --std=c99 \
		-D_GNU_SOURCE --error-exitcode=1 src/
	for f in $(SRC); do \
		clang-tidy --quiet $$f -- $(HC_CPPFLAGS) -std=c99 || exit 1; \
	done
	mandoc -Tlint -W warning man/health-checker.8
	shellcheck -S warning contrib/checks/* tests/*.bash tests/run \
		tests/bench/run tests/systemd/container tests/systemd/*.bash \
		debian/health-checker.postinst debian/health-checker.prerm \
		debian/health-checker.postrm .ci/run tests/deps
