#!/bin/sh
# tablerace.sh - issue 17 finding 3: the partner table's permission check
# and the read must see the same file.
#
# A preloaded shim plays the attacker who can write a directory on the
# table's path: right after the first stat() or open() of the table's path
# it renames a world-readable table (mode 0644) over the good one (mode
# 0600). Code that checks the path with stat() and then opens it again
# reads the swapped file and loads its partner as active (the code before
# the fix); code that opens once and checks the descriptor with fstat()
# checks and reads the good file. Also: a table that is a symlink
# is refused (O_NOFOLLOW). Needs a C compiler, else exit 77.
#
# Environment: PRM_MILTER (the binary), CC. TAP output.
set -u
M=${PRM_MILTER:-../../src/partner-relay-milter}
command -v "${CC:-cc}" > /dev/null || { echo "SKIP: tablerace.sh: no C compiler for the shim"; exit 77; }
ldd "$M" 2>/dev/null | grep -q libasan && { echo "SKIP: tablerace.sh: a preload shim cannot go before ASan"; exit 77; }

n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
contains() { if grep -qF -- "$3" "$2"; then ok "$1"; else notok "$1: '$3' not in output:"; sed 's/^/#   /' "$2"; fi; }
lacks() { if grep -qF -- "$3" "$2"; then notok "$1: '$3' found:"; sed 's/^/#   /' "$2"; else ok "$1"; fi; }

d=$(mktemp -d "${TMPDIR:-/tmp}/prm-tablerace.XXXXXX") || exit 1
trap 'rm -rf "$d"' EXIT
cat > "$d/swap.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
/* After the first stat() or open() of $SWAP_PATH, rename $SWAP_PATH.evil
   over it: the attacker wins every race there is. */
static void swap(const char* p) {
    const char* target = getenv("SWAP_PATH");
    if (!target || strcmp(p, target) != 0) return;
    char evil[4096];
    snprintf(evil, sizeof evil, "%s.evil", target);
    rename(evil, target);
}
int stat(const char* p, struct stat* st) {
    int rc = ((int (*)(const char*, struct stat*))dlsym(RTLD_NEXT, "stat"))(p, st);
    swap(p);
    return rc;
}
static int open_any(const char* name, const char* p, int flags, va_list ap) {
    mode_t mode = (flags & O_CREAT) ? va_arg(ap, mode_t) : 0;
    int fd = ((int (*)(const char*, int, ...))dlsym(RTLD_NEXT, name))(p, flags, mode);
    swap(p);
    return fd;
}
int open(const char* p, int flags, ...) {
    va_list ap; va_start(ap, flags);
    int fd = open_any("open", p, flags, ap);
    va_end(ap);
    return fd;
}
int open64(const char* p, int flags, ...) {
    va_list ap; va_start(ap, flags);
    int fd = open_any("open64", p, flags, ap);
    va_end(ap);
    return fd;
}
C
"${CC:-cc}" -O2 -shared -fPIC -o "$d/swap.so" "$d/swap.c" -ldl ||
    { echo "SKIP: tablerace.sh: the shim does not compile"; exit 77; }

printf '[milter]\nfallback_sender = noreply@platform.example\npartners = %s/partners.conf\ntables_dir =\nallowed_private_relays = 127.0.0.0/8\n' "$d" > "$d/m.conf"
printf '[good]\nhost = 127.0.0.1\nport = 587\nusername = u\npassword = S3cret-Canary-good\nsender = n@good.example\ntls = encrypt\n' > "$d/partners.conf"
printf '[evil]\nhost = 127.0.0.1\nport = 587\nusername = u\npassword = S3cret-Canary-evil\nsender = n@evil.example\ntls = encrypt\n' > "$d/partners.conf.evil"
chmod 600 "$d/partners.conf"; chmod 644 "$d/partners.conf.evil"
SWAP_PATH=$d/partners.conf LD_PRELOAD=$d/swap.so "$M" -c "$d/m.conf" -n > "$d/out" 2>&1
lacks "the swapped-in 0644 table is not loaded" "$d/out" "evil: active"
contains "the table checked is the table read" "$d/out" "good: active"

printf '[good]\nhost = 127.0.0.1\nport = 587\nusername = u\npassword = S3cret-Canary-good\nsender = n@good.example\ntls = encrypt\n' > "$d/real.conf"
chmod 600 "$d/real.conf"; rm -f "$d/partners.conf"; ln -s "$d/real.conf" "$d/partners.conf"
"$M" -c "$d/m.conf" -n > "$d/out" 2>&1
lacks "a symlinked table is not loaded" "$d/out" "good: active"
contains "a symlinked table is refused" "$d/out" "is a symbolic link (not followed)"
echo "1..$n"
[ $failed -eq 0 ]
