#!/bin/sh
# `make static`, as deploy/image/Containerfile runs it: the binary links
# from Debian's static libraries, is static (no ELF interpreter, no
# dynamic section) and stripped, runs with nothing else on the file
# system (an empty chroot, as root), and stays within its size budget.
#
# Built in its own folder (build/static, or $PODID_STATIC_O): $O may hold
# sanitizer objects, which do not link statically.  Incremental, so a
# second run only relinks.  Ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
SO=${PODID_STATIC_O:-build/static}
bin=$SO/podid-static
# The goal is 1 MiB; glibc's static libc.a alone puts about 670 KiB into
# an empty program, so podid with glibc is about 1.3 MiB.  This budget
# catches growth, not that floor.
budget=$((1536 * 1024))
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

mkdir -p "$SO" || exit 1
log=$SO/static-test.log
# OPT and EXTRA set here: a caller's (say a sanitizer build's, through
# MAKEFLAGS) would not link statically.
if make -s O="$SO" OPT="-O2 -g" EXTRA= static >"$log" 2>&1; then
	ok "make static links"
else
	sed 's/^/    /' "$log" | tail -20
	bad "make static links"
	echo "$pass passed, $fail failed"
	exit 1
fi
# The only messages the link may print: glibc's notes on getaddrinfo (its
# built-in files and dns lookups serve a static binary; see the
# Containerfile), and on initgroups and getpwuid, which libcap-ng's
# capng_change_id calls only with CAPNG_INIT_SUPP_GRP (podid passes
# CAPNG_DROP_SUPP_GRP: agent/priv.c, agent/keeper.c).
if grep -v -e "getaddrinfo' in statically linked" \
    -e "initgroups' in statically linked" \
    -e "getpwuid' in statically linked" -e 'in function' \
    -e 'jobserver unavailable' -e 'podid-static$' "$log" | grep -q .; then
	sed 's/^/    /' "$log" | tail -20
	bad "the link prints nothing unexpected"
else
	ok "the link prints nothing unexpected"
fi

if readelf -lW "$bin" | grep -q 'INTERP\|DYNAMIC'; then
	bad "static: no interpreter, no dynamic section"
else
	ok "static: no interpreter, no dynamic section"
fi
if readelf -SW "$bin" | grep -q -e '\.symtab' -e '\.debug_'; then
	bad "stripped: no symbol table, no debug sections"
else
	ok "stripped: no symbol table, no debug sections"
fi

size=$(wc -c <"$bin")
echo "podid-static: $size bytes ($((size / 1024)) KiB; goal 1024 KiB," \
    "budget $((budget / 1024)) KiB)"
if [ "$size" -le "$budget" ]; then
	ok "size within the budget"
else
	bad "size within the budget"
fi

# Nothing but the binary: no libc, no /etc, no /dev.
if [ "$(id -u)" -eq 0 ]; then
	root=$(mktemp -d)
	cp "$bin" "$root/podid"
	out=$(chroot "$root" /podid --help 2>&1)
	rc=$?
	printf 'identity x {\n kind managed\n client-id "%s"\n}\n' \
	    "5f0c1a52-3a8e-4a55-9d1f-2e7a1b4c9d01" >"$root/p.pol"
	chk=$(chroot "$root" /podid policy check /p.pol 2>&1)
	rc2=$?
	rm -rf "$root"
	if [ "$rc" -eq 0 ] && echo "$out" | grep -q '^usage: podid' &&
	    [ "$rc2" -eq 0 ]; then
		ok "runs in an empty root (--help, policy check)"
	else
		echo "$out $chk" | sed 's/^/    /' | head -10
		bad "runs in an empty root (--help, policy check)"
	fi
else
	echo "skip empty-root run: needs root for chroot"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
