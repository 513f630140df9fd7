/*
 * What every harness shares: fuzz_assert(c), which names the failed
 * invariant (file, line, expression) on stderr and aborts, so libFuzzer
 * keeps the input as a crasher and the replay in `make check` fails.
 */
#ifndef PODID_FUZZ_H
#define PODID_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define fuzz_assert(c)                                                         \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(                                               \
			    stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);    \
			abort();                                               \
		}                                                              \
	} while (0)

#endif
