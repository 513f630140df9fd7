#!/bin/sh
# The man pages docs/podid.8 and docs/podid.policy.5: they render with
# `man -l` and groff without a single warning, fit 80 columns, and say what
# podid really does: every subcommand and flag that `$O/podid --help` and
# `$O/podid CMD --help` list, the exit codes of agent/cmd.h, every keyword
# of the grammar in docs/policy.md.  A deliberately broken page must draw a
# warning, so the lint is shown able to fail.  Needs man-db (groff) and
# $O/podid.  Ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
O=${O:-build}
podid=$O/podid
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A fixed, always-present UTF-8 locale: man's output must not depend on
# the caller's.
LC_ALL=C.UTF-8
MANWIDTH=80
MANPAGER="cat"
export LC_ALL MANWIDTH MANPAGER

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
	fail=$((fail + 1))
	echo "FAIL $1"
	[ -s "$tmp/why" ] && sed 's/^/    /' "$tmp/why" | head -20
	: >"$tmp/why"
}
t() { # t NAME COMMAND...: passes when COMMAND succeeds
	name=$1
	shift
	if "$@" >"$tmp/why" 2>&1; then ok "$name"; else bad "$name"; fi
}

# groff -ww: every warning; -t: tbl.  Nothing may be printed.
lint_groff() {
	groff -t -man -ww -z "$1" >"$tmp/g.err" 2>&1 || return 1
	[ ! -s "$tmp/g.err" ] || { cat "$tmp/g.err"; return 1; }
}
# man -l as a reader would run it: no message, some text, <= 80 columns.
lint_man() {
	man -l "$1" >"$tmp/m.out" 2>"$tmp/m.err" || { cat "$tmp/m.err"; return 1; }
	[ ! -s "$tmp/m.err" ] || { cat "$tmp/m.err"; return 1; }
	[ "$(wc -l <"$tmp/m.out")" -gt 20 ] || { echo "too short"; return 1; }
	w=$(wc -L <"$tmp/m.out")
	[ "$w" -le 80 ] || { echo "$w columns wide"; return 1; }
}
# has_all FILE WORD...: the rendered FILE holds each WORD (fixed string).
has_all() {
	f=$1
	shift
	miss=""
	for w in "$@"; do
		grep -qF -e "$w" "$f" || miss="$miss $w"
	done
	[ -z "$miss" ] || { echo "missing:$miss"; return 1; }
}

for cmd in man groff; do
	command -v $cmd >/dev/null || {
		echo "$cmd not installed (sh deploy/deps.sh installs man-db)"
		echo "0 passed, 1 failed"
		exit 1
	}
done

for page in docs/podid.8 docs/podid.policy.5; do
	t "$page: groff -ww prints no warning" lint_groff "$page"
	t "$page: man -l renders, no message, 80 columns" lint_man "$page"
done

# The lint can fail: an unknown macro, a line that cannot be broken, a
# table too wide.
printf '.TH BAD 8\n.SH NAME\nbad \\- bad\n.BOGUS\n%s\n' \
    "$(printf 'x%.0s' $(seq 120))" >"$tmp/bad.8"
if lint_groff "$tmp/bad.8" >/dev/null 2>&1; then
	echo "groff said nothing about a broken page" >"$tmp/why"
	bad "a broken page draws groff warnings"
else
	ok "a broken page draws groff warnings"
fi
if lint_man "$tmp/bad.8" >/dev/null 2>&1; then
	echo "man -l accepted a broken page" >"$tmp/why"
	bad "a broken page fails the man -l check"
else
	ok "a broken page fails the man -l check"
fi

man -l docs/podid.8 >"$tmp/podid.8.txt" 2>/dev/null
man -l docs/podid.policy.5 >"$tmp/policy.5.txt" 2>/dev/null
t "podid.8: its sections" has_all "$tmp/podid.8.txt" NAME SYNOPSIS \
    DESCRIPTION OPTIONS SIGNALS "EXIT STATUS" FILES "SEE ALSO" \
    "podid.policy(5)" SIGHUP SIGTERM
t "podid.policy.5: its sections" has_all "$tmp/policy.5.txt" NAME \
    SYNOPSIS DESCRIPTION STATEMENTS IDENTITIES SELECTORS MATCHING \
    CHECKS EXAMPLES "SEE ALSO" "podid(8)"

# Every subcommand podid has, and every flag its --help lists.
if [ ! -x "$podid" ]; then
	echo "$podid missing: make first" >"$tmp/why"
	bad "podid --help"
else
	cmds=$("$podid" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
	if [ -n "$cmds" ]; then
		ok "podid --help lists commands: $(echo "$cmds" | xargs)"
	else
		bad "podid --help lists commands"
	fi
	sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' "$tmp/podid.8.txt" \
	    >"$tmp/synopsis"
	for c in $cmds; do
		t "podid.8 synopsis: podid $c" grep -q "podid  *$c\\b" \
		    "$tmp/synopsis"
		# shellcheck disable=SC2046
		t "podid.8: every flag of podid $c --help" has_all \
		    "$tmp/podid.8.txt" $("$podid" "$c" --help 2>&1 |
		    grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
	done
fi

# EXIT STATUS lists the codes of agent/cmd.h, and only those.
codes=$(sed -nE 's/^#define CMD_[A-Z]+ +([0-9]+).*/\1/p' agent/cmd.h |
    sort -n | xargs)
listed=$(sed -n '/^EXIT STATUS/,/^[A-Z]/p' "$tmp/podid.8.txt" |
    sed -nE 's/^ +([0-9]+) .*/\1/p' | sort -n | xargs)
if [ -n "$codes" ] && [ "$codes" = "$listed" ]; then
	ok "podid.8: exit codes $codes as in agent/cmd.h"
else
	echo "agent/cmd.h: '$codes', podid.8: '$listed'" >"$tmp/why"
	bad "podid.8: exit codes as in agent/cmd.h"
fi

# Every keyword of the grammar in docs/policy.md is in podid.policy(5).
kw=$(sed -n '/^## Grammar/,/^## Identities/p' docs/policy.md |
    grep -oE '"[a-z][a-z0-9-]*"' | tr -d '"' | sort -u)
if [ -n "$kw" ]; then
	# shellcheck disable=SC2086
	t "podid.policy.5: the $(echo "$kw" | wc -l) grammar keywords" \
	    has_all "$tmp/policy.5.txt" $kw
else
	echo "no keywords found in docs/policy.md's grammar" >"$tmp/why"
	bad "keywords from docs/policy.md"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
