# formdrop: one non-recursive Makefile.  Targets: all run check fuzz
# install clean lint deps.  Normal objects go to build/, sanitizer objects
# to build/asan/: the two are never mixed.

PREFIX		?= /usr/local
SYSCONFDIR	?= $(PREFIX)/etc
DESTDIR		?=
PYTHON		?= /usr/bin/python3

CC		?= cc
SANDBOX		?= seccomp
PKGS		 = fcgi openssl inih libcrypt
ifeq ($(SANDBOX),none)
SANDBOX_CFLAGS	 = -DFORMDROP_NO_SANDBOX
else
PKGS		+= libseccomp
endif
PKG_CFLAGS	:= $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS	:= $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lfcgi -lssl -lcrypto -linih)

WARN		 = -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
		   -Wmissing-prototypes -Wpointer-arith -Wcast-qual \
		   -Wwrite-strings -Wno-unused-parameter
HARDEN		 = -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
CFLAGS		?= -O2 -g
ALL_CFLAGS	 = -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(WARN) $(CFLAGS) \
		   -iquote lib -iquote cgi -iquote pop3d -iquote devserver -DSYSCONFDIR=\"$(SYSCONFDIR)\" $(PKG_CFLAGS) \
		   $(SANDBOX_CFLAGS) \
		   -MMD -MP
LDHARDEN	 = -pie -Wl,-z,relro,-z,now
# Sanitizer builds are unconfined: ASan needs system calls the seccomp
# allow-list refuses.
SAN		 = -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=all -DFORMDROP_NO_SANDBOX

LIB_SRCS	 = lib/log.c lib/buf.c lib/util.c lib/form.c \
		   lib/urlencoded.c lib/header_param.c lib/multipart.c \
		   lib/diag.c lib/inifile.c lib/template.c lib/formdef.c \
		   lib/validate.c lib/encode.c lib/json.c lib/mime.c \
		   lib/maildir.c lib/smime.c lib/token.c lib/once.c \
		   lib/ratelimit.c lib/sandbox.c lib/conf.c lib/spool.c lib/bio_filters.c \
		   lib/pattern.c
CGI_SRCS	 = cgi/handler.c cgi/screen.c
POP3_SRCS	 = lib/tls.c pop3d/conn.c pop3d/userdb.c pop3d/maildrop.c \
		   pop3d/session.c pop3d/failures.c
UNIT_TESTS	 = buf util urlencoded multipart template formdef validate spool userdb \
		   encode json mime maildir conf handler token once inifile failures \
		   ratelimit
FUZZ_TARGETS	 = urlencoded multipart formdef conf template pop3 devserver userdb \
		   intake token

LIB_OBJS	 = $(LIB_SRCS:%.c=build/%.o) $(CGI_SRCS:%.c=build/%.o) \
		   $(POP3_SRCS:%.c=build/%.o)
ASAN_OBJS	 = $(LIB_SRCS:%.c=build/asan/%.o) $(CGI_SRCS:%.c=build/asan/%.o) \
		   $(POP3_SRCS:%.c=build/asan/%.o)
UNIT_BINS	 = $(UNIT_TESTS:%=build/tests/test_%)
ASAN_UNIT_BINS	 = $(UNIT_TESTS:%=build/asan/tests/test_%)
REPLAY_BINS	 = $(FUZZ_TARGETS:%=build/asan/fuzz/replay_%)

.PHONY: all run run-deps check unit unit-asan replay e2e e2e-asan fuzz install uninstall clean lint deps \
	bench bench-quick FORCE

all: cgi/formdrop.fcgi pop3d/formdrop-pop3d devserver/formdrop-devserver

deps:
	@scripts/deps.sh

cgi/formdrop.fcgi: build/cgi/main.o build/cgi/selftest.o $(LIB_OBJS)
	$(CC) $(LDHARDEN) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

pop3d/formdrop-pop3d: build/pop3d/main.o $(LIB_OBJS)
	$(CC) $(LDHARDEN) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

DEV_OBJS	 = build/devserver/fcgi_client.o build/devserver/relay.o \
		   build/devserver/static.o
devserver/formdrop-devserver: build/devserver/main.o $(DEV_OBJS) $(LIB_OBJS)
	$(CC) $(LDHARDEN) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) \
	    $$(pkg-config --libs libmicrohttpd) -lpthread

# Objects depend on the flags they were built with: changing CFLAGS,
# SANDBOX or PREFIX rebuilds them.
FLAGS_STAMP	 = build/flags.stamp
$(FLAGS_STAMP): FORCE
	@mkdir -p build
	@echo '$(CC) $(ALL_CFLAGS) $(HARDEN) $(SAN) $(PKG_LIBS)' | \
	    cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(HARDEN) $(SAN) $(PKG_LIBS)' > $@
FORCE:

build/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(HARDEN) -c -o $@ $<

build/asan/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -c -o $@ $<

build/tests/test_%: tests/unit/test_%.c $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -iquote tests/unit $(LDHARDEN) -o $@ $^ $(PKG_LIBS) -lcmocka

build/asan/tests/test_%: tests/unit/test_%.c $(ASAN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -iquote tests/unit $(SAN) -O1 -o $@ $^ $(PKG_LIBS) -lcmocka

# The fuzz targets built with a plain main() that replays the corpus, so
# that gcc builds exercise every corpus file and past crash.
build/asan/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c \
    tests/fuzz/fuzz_util.c $(ASAN_OBJS) \
    $(DEV_OBJS:build/%=build/asan/%)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN) -O1 -o $@ $^ $(PKG_LIBS)

# The programs themselves under ASan+UBSan, for the end-to-end tests.
build/asan/formdrop.fcgi: build/asan/cgi/main.o build/asan/cgi/selftest.o \
    $(ASAN_OBJS)
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS)

build/asan/formdrop-pop3d: build/asan/pop3d/main.o $(ASAN_OBJS)
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS)

# The intake and POP3 protocol tests again, against the sanitizer builds:
# any ASan or UBSan report kills the worker or session, and the test fails.
E2E_ASAN_TESTS	 = tests/e2e/test_submit.py tests/e2e/test_errors.py \
		   tests/e2e/test_injection.py tests/e2e/test_cgi.py \
		   tests/e2e/test_smime.py tests/e2e/test_pop3_protocol.py \
		   tests/e2e/test_pop3_maildrop.py
e2e-asan: all build/asan/formdrop.fcgi build/asan/formdrop-pop3d
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	FORMDROP_FCGI=$(CURDIR)/build/asan/formdrop.fcgi \
	FORMDROP_POP3D=$(CURDIR)/build/asan/formdrop-pop3d \
	    $(PYTHON) -m pytest -q -rs $(E2E_ASAN_TESTS)

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do echo "== $$t"; \
	    FORMDROP_SRCDIR=$(CURDIR) $$t || exit 1; done

unit-asan: $(ASAN_UNIT_BINS)
	@for t in $(ASAN_UNIT_BINS); do echo "== $$t (ASan+UBSan)"; \
	    FORMDROP_SRCDIR=$(CURDIR) $$t || exit 1; done

replay: $(REPLAY_BINS)
	@for f in $(FUZZ_TARGETS); do echo "== replay $$f corpus"; \
	    build/asan/fuzz/replay_$$f tests/fuzz/corpus/$$f || exit 1; done

e2e: all
	$(PYTHON) -m pytest -q -rs tests/e2e

check: deps all lint unit unit-asan replay e2e e2e-asan bench-quick
	@echo "make check: all tests passed"

# The demo needs only the build packages, not the test tools.
run: run-deps all
	@scripts/run-demo.sh

run-deps:
	@scripts/deps.sh run

# Benchmarks against peers measured in the same run (bench/README.md).
# bench-quick is the smoke run make check uses: the scripts still work.
bench: all
	bench/run.sh

bench-quick: all
	QUICK=1 bench/run.sh --smoke

# libFuzzer builds need clang; FUZZ_SECONDS per target.
FUZZ_SECONDS	?= 60
FUZZ_CC		?= clang
fuzz:
	@mkdir -p build/fuzz
	@for f in $(FUZZ_TARGETS); do \
	    $(FUZZ_CC) -std=c11 -D_GNU_SOURCE -iquote lib -iquote cgi -iquote pop3d -iquote devserver $(PKG_CFLAGS) -g -O1 \
	      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	      -DSYSCONFDIR=\"/etc\" $(SANDBOX_CFLAGS) \
	      -iquote pop3d -iquote devserver \
	      -o build/fuzz/fuzz_$$f tests/fuzz/fuzz_$$f.c \
	      tests/fuzz/fuzz_util.c $(LIB_SRCS) $(CGI_SRCS) \
	      $(POP3_SRCS) devserver/fcgi_client.c devserver/relay.c \
	      devserver/static.c \
	      $(PKG_LIBS) || exit 1; \
	    mkdir -p build/fuzz/corpus_$$f; \
	    build/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) \
	      -artifact_prefix=build/fuzz/$$f- \
	      -dict=tests/fuzz/$$f.dict build/fuzz/corpus_$$f \
	      tests/fuzz/corpus/$$f || exit 1; \
	done

# What the admin edits (formdrop.conf, the forms, their templates,
# error.html) is installed only when missing, so a second install (an
# upgrade) keeps it; the shipped versions go to share/formdrop to compare.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
	    $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/share/formdrop/forms \
	    $(DESTDIR)$(SYSCONFDIR)/formdrop/forms
	install -m 755 cgi/formdrop.fcgi $(DESTDIR)$(PREFIX)/bin/formdrop.fcgi
	install -m 755 pop3d/formdrop-pop3d $(DESTDIR)$(PREFIX)/sbin/
	install -m 755 devserver/formdrop-devserver $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/formdrop.fcgi.8 man/formdrop-pop3d.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 man/formdrop-devserver.1 \
	    $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/formdrop.conf.5 man/formdrop.form.5 \
	    $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 templates/*.form templates/*.txt templates/error.html \
	    $(DESTDIR)$(PREFIX)/share/formdrop/forms/
	install -m 644 contrib/formdrop.conf.example \
	    $(DESTDIR)$(PREFIX)/share/formdrop/
	for f in templates/*.form templates/*.txt templates/error.html; do \
	    t=$(DESTDIR)$(SYSCONFDIR)/formdrop/forms/$${f##*/}; \
	    test -e "$$t" || install -m 644 "$$f" "$$t" || exit 1; \
	done
	test -e $(DESTDIR)$(SYSCONFDIR)/formdrop/formdrop.conf || \
	    install -m 644 contrib/formdrop.conf.example \
	    $(DESTDIR)$(SYSCONFDIR)/formdrop/formdrop.conf

# What install put in bin, sbin and share; never the configuration, the
# forms, the users file, the keys or the state and spool folders.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/formdrop.fcgi \
	    $(DESTDIR)$(PREFIX)/bin/formdrop-devserver \
	    $(DESTDIR)$(PREFIX)/sbin/formdrop-pop3d \
	    $(DESTDIR)$(PREFIX)/share/man/man8/formdrop.fcgi.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man8/formdrop-pop3d.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man1/formdrop-devserver.1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5/formdrop.conf.5 \
	    $(DESTDIR)$(PREFIX)/share/man/man5/formdrop.form.5
	rm -rf $(DESTDIR)$(PREFIX)/share/formdrop
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/formdrop: remove it yourself" \
	    "to delete the configuration, forms, users and keys"

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	    --std=c11 --inline-suppr -I lib -I cgi -I pop3d -I devserver \
	    lib cgi pop3d devserver
	mandoc -Tlint -Wwarning man/*.[158]

clean:
	rm -rf build cgi/formdrop.fcgi pop3d/formdrop-pop3d \
	    devserver/formdrop-devserver
	rm -rf spool

-include $(shell find build -name '*.d' 2>/dev/null)
.SECONDARY:
