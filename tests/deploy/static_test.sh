#!/bin/sh
# `make static`, as deploy/image/Containerfile runs it: podid compiled with
# musl-gcc and linked statically with musl and Debian's libbearssl.a and
# libcap-ng.a.  Checks that the link is clean, that no glibc header went
# into the musl objects, that deploy/static/glibc_compat.c defines exactly
# the glibc-only symbols those archives need (no more, no fewer) and keeps
# glibc's bounds checks, that the binary is static, stripped and within
# 1 MiB, and that it works with nothing else on the file system (an empty
# root, as root): --help, policy check, and `podid run` under its seccomp
# allowlist (listening, answering, reloading on SIGHUP, exit 0 on SIGTERM).
#
# Built in its own folder (build/static, or $PODID_STATIC_O): $O may hold
# sanitizer objects, which do not link statically.  Incremental, so a
# second run only relinks.  Ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
SO=${PODID_STATIC_O:-build/static}
bin=$SO/podid-static
budget=$((1024 * 1024)) # issue 7: the shipped binary within 1 MiB
pass=0 fail=0
tmp=$(mktemp -d)
root=""
cleanup() {
	[ -n "${pid:-}" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
	[ -n "$root" ] && rm -rf "$root"
}
trap cleanup EXIT
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
	fail=$((fail + 1))
	echo "FAIL $1"
	[ -s "$tmp/why" ] && sed 's/^/    /' "$tmp/why" | head -20
	: >"$tmp/why"
}
: >"$tmp/why"

command -v musl-gcc >/dev/null || {
	echo "musl-gcc missing: sh deploy/deps.sh installs musl-tools"
	echo "0 passed, 1 failed"
	exit 1
}
mkdir -p "$SO" || exit 1
log=$SO/static-test.log
# OPT, EXTRA and CFLAGS set here: a caller's (say a sanitizer build's,
# through MAKEFLAGS) would not link statically.
if make -s O="$SO" OPT="-O2 -g" EXTRA= CFLAGS= static >"$log" 2>&1; then
	ok "make static links"
else
	sed 's/^/    /' "$log" | tail -20
	bad "make static links"
	echo "$pass passed, $fail failed"
	exit 1
fi
# musl needs no NSS: the link may print nothing but make's own notes and
# the closing ls line.
if grep -v -e 'jobserver unavailable' -e 'podid-static$' "$log" |
    grep . >"$tmp/why"; then
	bad "the link prints nothing unexpected"
else
	ok "the link prints nothing unexpected"
fi

# Every header the musl objects include is musl's or one of the links
# deploy/static/include.sh makes: never glibc's /usr/include.  (-M, not
# the build's -MMD, which leaves system headers out.)
for f in $(make -s -n -p O="$SO/musl" 2>/dev/null |
    sed -n 's/^LIB_SRC := //p') agent/main.c deploy/static/glibc_compat.c; do
	musl-gcc -std=c11 -D_GNU_SOURCE -I. -isystem "$SO/musl/include" \
	    -include deploy/static/musl_compat.h -M "$f" || echo "/-M failed: $f"
done 2>&1 | tr -s ' \\\t' '\n' | grep -E '(\.h|failed:.*)$' | sort -u \
    >"$tmp/hdrs"
# gcc names most system headers by their real paths: the links' targets.
{
	echo '^/usr/include/x86_64-linux-musl/'
	echo "^$SO/musl/include/"
	echo '^\(agent\|dsl\|policy\|selftest\|deploy/static\)/'
	for l in "$SO"/musl/include/*; do
		t=$(readlink -f "$l")
		if [ -d "$t" ]; then echo "^$t/"; else echo "^$t\$"; fi
	done
} >"$tmp/allowed"
grep -v -f "$tmp/allowed" "$tmp/hdrs" >"$tmp/why"
if [ ! -s "$tmp/why" ] && grep -q '/linux/netlink\.h$' "$tmp/hdrs"; then
	ok "musl objects: no glibc header; kernel's through the links" \
	    "($(wc -l <"$tmp/hdrs") headers)"
else
	echo "(or no linux/netlink.h: the links unused?)" >>"$tmp/why"
	bad "musl objects: no glibc header; kernel's through the links"
fi

# The shim is exactly what the archives need beyond musl: their undefined
# symbols, less what they define and what musl's libc.a defines.
libs="$(gcc -print-file-name=libbearssl.a) $(gcc -print-file-name=libcap-ng.a)"
# (musl-gcc -print-file-name names glibc's: Debian's musl lives here.)
musl_libc=/usr/lib/$(gcc -dumpmachine | sed 's/-gnu$/-musl/')/libc.a
defined() { nm -g --defined-only "$@" 2>/dev/null | awk 'NF==3{print $3}'; }
# shellcheck disable=SC2086
nm -u $libs 2>/dev/null | awk 'NF==2{print $2}' | sort -u >"$tmp/undef"
# shellcheck disable=SC2086
{ defined $libs; defined "$musl_libc"; } | sort -u >"$tmp/have"
comm -23 "$tmp/undef" "$tmp/have" | grep -v '^_GLOBAL_OFFSET_TABLE_$' \
    >"$tmp/need"
defined "$SO/musl/deploy/static/glibc_compat.o" |
    grep -v '^close_range$' | sort -u >"$tmp/shim"
if [ -s "$tmp/need" ] && cmp -s "$tmp/need" "$tmp/shim"; then
	ok "glibc_compat.c defines what the archives need: $(xargs <"$tmp/shim")"
else
	diff "$tmp/need" "$tmp/shim" | sed 's/^</needed, missing:/;
	    s/^>/defined, not needed:/' >"$tmp/why"
	bad "glibc_compat.c defines what the archives need"
fi

# The shims keep glibc's checks: in bounds they act as glibc's, one byte
# past the object they abort.  -fno-builtin: gcc would fold the calls.
if musl-gcc -std=c11 -D_GNU_SOURCE -I. -O1 -fno-builtin -Wall -Wextra \
    -Werror -o "$tmp/compat" tests/deploy/static_compat.c \
    "$SO/musl/deploy/static/glibc_compat.o" >"$tmp/why" 2>&1 &&
    "$tmp/compat" ok >"$tmp/why" 2>&1; then
	ok "shims in bounds: $(tail -1 "$tmp/why")"
else
	bad "shims in bounds"
fi
for c in memcpy memmove memset snprintf sprintf; do
	"$tmp/compat" "$c" >"$tmp/out" 2>&1
	rc=$?
	if [ "$rc" -eq 134 ] && grep -q 'buffer overflow detected' "$tmp/out"
	then
		ok "__${c}_chk one byte past the object aborts"
	else
		echo "exit $rc: $(cat "$tmp/out")" >"$tmp/why"
		bad "__${c}_chk one byte past the object aborts"
	fi
done

# A static PIE: no interpreter and no library to load, but a dynamic
# section (its own relative relocations, applied by rcrt1.o), a type of
# DYN so the kernel places it at a random address, and RELRO with BIND_NOW.
readelf -lW "$bin" >"$tmp/phdr" 2>&1
readelf -dW "$bin" >"$tmp/dyn" 2>&1
if grep -q INTERP "$tmp/phdr" || grep -q NEEDED "$tmp/dyn"; then
	grep -e INTERP -e NEEDED "$tmp/phdr" "$tmp/dyn" >"$tmp/why"
	bad "static: no interpreter, no shared library needed"
else
	ok "static: no interpreter, no shared library needed"
fi
if readelf -hW "$bin" | grep -q 'Type:.*DYN' && grep -q GNU_RELRO "$tmp/phdr" &&
    grep -q 'FLAGS.*BIND_NOW' "$tmp/dyn"; then
	ok "position-independent (ASLR), RELRO, bind now"
else
	readelf -hW "$bin" | grep Type: >"$tmp/why"
	grep -e RELRO -e FLAGS "$tmp/phdr" "$tmp/dyn" >>"$tmp/why"
	bad "position-independent (ASLR), RELRO, bind now"
fi
# And the kernel does place it anew each time: two runs, each held in
# open() of a FIFO while its first mapping is read.
mkfifo "$tmp/hold"
for i in 1 2; do
	"$bin" policy check "$tmp/hold" >/dev/null 2>&1 &
	hp=$!
	n=0
	until grep -q 'podid-static$' "/proc/$hp/maps" 2>/dev/null ||
	    [ $n -ge 400 ]; do
		sleep 0.05
		n=$((n + 1))
	done
	grep -m1 'podid-static$' "/proc/$hp/maps" | cut -d- -f1 >>"$tmp/bases"
	: >"$tmp/hold"
	wait "$hp"
done
if [ "$(sort -u "$tmp/bases" | grep -c .)" -eq 2 ]; then
	ok "loaded at a different address each run"
else
	cp "$tmp/bases" "$tmp/why"
	bad "loaded at a different address each run"
fi
if readelf -SW "$bin" | grep -q -e '\.symtab' -e '\.debug_'; then
	bad "stripped: no symbol table, no debug sections"
else
	ok "stripped: no symbol table, no debug sections"
fi
size=$(wc -c <"$bin")
echo "podid-static: $size bytes ($((size / 1024)) KiB; goal and budget" \
    "$((budget / 1024)) KiB)"
if [ "$size" -le "$budget" ]; then
	ok "size within 1 MiB"
else
	bad "size within 1 MiB"
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "skip empty-root runs: need root (chroot, mount, unshare)"
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
fi

# An empty root: the binary and its input files, as in the image.
root=$(mktemp -d)
chmod 755 "$root"
cp "$bin" "$root/podid"
printf 'identity x {\n kind managed\n client-id "%s"\n}\n' \
    "5f0c1a52-3a8e-4a55-9d1f-2e7a1b4c9d01" >"$root/p.pol"
out=$(chroot "$root" /podid --help 2>&1)
rc=$?
cp policy/examples/*.pol "$root/"
# shellcheck disable=SC2046 # the examples' names have no spaces
chk=$(chroot "$root" /podid policy check /p.pol $(cd policy/examples &&
    printf '/%s ' *.pol) 2>&1)
rc2=$?
if [ "$rc" -eq 0 ] && echo "$out" | grep -q '^usage: podid' &&
    [ "$rc2" -eq 0 ]; then
	ok "runs in an empty root (--help, policy check of the examples)"
else
	echo "$out $chk" >"$tmp/why"
	bad "runs in an empty root (--help, policy check of the examples)"
fi

# podid run in that root, in its own mount and network namespaces, with
# /proc (priv_drop verifies /proc/self/status), /dev/urandom, a token and
# a CA file, and an API server that is not there.  It must drop to 65534
# under seccomp (which kills on any syscall musl makes that glibc did not),
# answer on its port, survive a reload and leave with 0 on SIGTERM.
mkdir -p "$root/proc" "$root/dev"
mknod -m 444 "$root/dev/urandom" c 1 9
echo "not-a-real-token" >"$root/token"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=podid-static-test -days 1 -keyout "$tmp/ca.key" \
    -out "$root/ca.pem" >/dev/null 2>&1
chmod 644 "$root/p.pol" "$root/token" "$root/ca.pem"
# shellcheck disable=SC2016 # $1 is the inner shell's
unshare -mn sh -c 'ip link set lo up && mount -t proc proc "$1/proc" &&
    exec chroot "$1" /podid run --policy /p.pol --listen 127.0.0.1:2579 \
    --kube-api https://127.0.0.1:1 --kube-token-file /token \
    --kube-ca-file /ca.pem --node n1 --rules off --log-format text' sh "$root" >"$tmp/run.log" 2>&1 &
pid=$!
get() { # get: the HTTP status of a token request without Metadata: true
	nsenter -t "$pid" -n curl -s -o /dev/null -w '%{http_code}' -m 2 \
	    'http://127.0.0.1:2579/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x' 2>/dev/null
}
code=""
for _ in $(seq 50); do
	kill -0 "$pid" 2>/dev/null || break
	code=$(get)
	[ -n "$code" ] && [ "$code" != 000 ] && break
	sleep 0.1
done
sc=$(awk '/^Seccomp:/{print $2}' "/proc/$pid/status" 2>/dev/null)
uid=$(awk '/^Uid:/{print $2}' "/proc/$pid/status" 2>/dev/null)
if [ "$code" = 400 ] && [ "$sc" = 2 ] && [ "$uid" = 65534 ]; then
	ok "podid run in an empty root: uid 65534, seccomp on, answers 400"
else
	{ echo "status '$code', Seccomp '$sc', Uid '$uid'"; cat "$tmp/run.log"; } \
	    >"$tmp/why"
	bad "podid run in an empty root: uid 65534, seccomp on, answers 400"
fi
kill -HUP "$pid" 2>/dev/null
# The reload is logged when the loop has read the signal: waited for (10 s
# at most), since a loaded machine may take longer than any fixed sleep.
for _ in $(seq 100); do
	[ "$(grep -c 'policy: /p.pol loaded' "$tmp/run.log")" -ge 2 ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$pid" 2>/dev/null &&
    [ "$(grep -c 'policy: /p.pol loaded' "$tmp/run.log")" -eq 2 ] &&
    [ "$(get)" = 400 ]; then
	ok "podid run: SIGHUP reloads the policy under seccomp"
else
	cat "$tmp/run.log" >"$tmp/why"
	bad "podid run: SIGHUP reloads the policy under seccomp"
fi
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
pid=""
if [ "$rc" -eq 0 ]; then
	ok "podid run: exit 0 on SIGTERM"
else
	{ echo "exit $rc"; cat "$tmp/run.log"; } >"$tmp/why"
	bad "podid run: exit 0 on SIGTERM"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
