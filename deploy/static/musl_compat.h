/*
 * Included before every source file of the musl build (make static:
 * -include deploy/static/musl_compat.h), never in the glibc build.
 * It declares the few glibc interfaces podid uses that musl 1.2.3 lacks or
 * declares elsewhere; deploy/static/glibc_compat.c defines them.
 */
#ifndef DEPLOY_STATIC_MUSL_COMPAT_H
#define DEPLOY_STATIC_MUSL_COMPAT_H

/*
 * glibc's <arpa/inet.h>, <getopt.h> and <signal.h> pull in <unistd.h>;
 * musl's do not.  agent/cmd_run.c calls geteuid() and close() without
 * including it: included here until it does.
 */
#include <unistd.h>

/*
 * close_range(2), as glibc 2.34 declares it in <unistd.h> (agent/keeper.c).
 * Closes fds first..last; flags 0 or CLOSE_RANGE_CLOEXEC.  Returns 0, or -1
 * with errno set (ENOSYS on kernels before 5.9, as with glibc).
 */
int close_range(unsigned int first, unsigned int last, int flags);

#endif
