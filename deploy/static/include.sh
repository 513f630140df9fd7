#!/bin/sh
# include.sh DIR: makes DIR the one extra header folder of podid's musl
# build (make static): links to the system's headers that musl lacks and
# podid needs, and to nothing else, so no glibc header can slip in.
#   linux/ asm/ asm-generic/   the kernel's UAPI (netlink, nf_tables,
#                              seccomp, capability), libc-independent
#   bearssl.h bearssl/         BearSSL
#   jsmn.h                     jsmn (header only)
#   cap-ng.h                   libcap-ng
# The libraries themselves are Debian's glibc builds (libbearssl.a,
# libcap-ng.a); deploy/static/glibc_compat.c covers their glibc-only calls.
set -eu
dir=$1
inc=${PODID_SYSTEM_INCLUDE:-/usr/include}
multi=$(${HOSTCC:-gcc} -print-multiarch)
mkdir -p "$dir"
link() { # link TARGET NAME: DIR/NAME -> TARGET, which must exist
	[ -e "$1" ] || { echo "include.sh: $1 missing" >&2; exit 1; }
	ln -sfn "$1" "$dir/$2"
}
link "$inc/linux" linux
link "$inc/$multi/asm" asm
link "$inc/asm-generic" asm-generic
link "$inc/bearssl.h" bearssl.h
link "$inc/bearssl" bearssl
link "$inc/jsmn.h" jsmn.h
link "$inc/cap-ng.h" cap-ng.h
