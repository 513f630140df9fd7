/*
 * HTTP request parser benchmark (issue 4): the work agent/http.c does for
 * one token request, repeated, beside its anchor measured in the same run
 * on the same bytes: "floor", memchr for the head's end and the query's
 * '%' and '&', which is less than any parser that checks every byte can
 * do.  (The parser before issue 4 took 1,427 and 2,383 ns for the two
 * heads on this machine; git history has it.)  The whole request beside
 * nginx is bench/token_bench.sh's.
 * Two heads: what Python's http.client sends in bench/token_bench.sh, and
 * what @azure/identity sends (eight fields).  One "request" is the head
 * parsed, the route classified, the query checked, and api-version,
 * resource and client_id looked up, as agent/imds.c does.  Prints
 * ns/request; run under valgrind --tool=callgrind for instructions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/http.h"

int main(int argc, char **argv);

static const char py_req[] =
    "GET /metadata/identity/oauth2/token?api-version=2018-02-01"
    "&resource=https://vault.azure.net HTTP/1.1\r\n"
    "Host: 10.0.0.1:2579\r\n"
    "Accept-Encoding: identity\r\n"
    "Metadata: true\r\n"
    "\r\n";

static const char sdk_req[] =
    "GET /metadata/identity/oauth2/token?api-version=2018-02-01"
    "&resource=https%3A%2F%2Fvault.azure.net HTTP/1.1\r\n"
    "Host: 169.254.169.254\r\n"
    "Metadata: true\r\n"
    "x-client-SKU: msal.js.node\r\n"
    "x-client-VER: 5.6.0\r\n"
    "x-ms-client-request-id: 9a3b1c2d-0000-4000-8000-000000000000\r\n"
    "Content-Type: application/x-www-form-urlencoded;charset=utf-8\r\n"
    "User-Agent: azsdk-js-identity/4.13.1 core-rest-pipeline/1.24.0\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

static struct http_req req;
static volatile size_t sink;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request through the current code: 0, or -1 if it did not parse. */
static int
run_now(const char *buf, size_t len)
{
	static const char *const names[] = {
	    "api-version", "resource", "client_id"};
	char v[LIM_HTTP_PARAM_VALUE_BYTES + 1];
	size_t i;

	http_req_init(&req);
	if (http_req_feed(&req, buf, len) != (int)len)
		return -1;
	sink += (size_t)http_route(req.path);
	if (http_query_check(req.query) != 0)
		return -1;
	for (i = 0; i < sizeof(names) / sizeof(*names); i++)
		sink +=
		    (size_t)http_query_get(req.query, names[i], v, sizeof(v));
	sink += http_header(&req, "metadata").len;
	return 0;
}

/* The floor: find the blank line, then the query's '%' and '&'. */
static int
run_floor(const char *buf, size_t len)
{
	const char *q = memchr(buf, '?', len);

	sink += (size_t)((const char *)memmem(buf, len, "\r\n\r\n", 4) - buf);
	if (q == NULL)
		return -1;
	sink += (size_t)memchr(q, '%', len - (size_t)(q - buf));
	sink += (size_t)memchr(q, '&', len - (size_t)(q - buf));
	return 0;
}

static double
ns_per(int (*fn)(const char *, size_t), const char *buf, size_t len, long n)
{
	double t0 = now();
	long i;

	for (i = 0; i < n; i++)
		if (fn(buf, len) != 0) {
			fprintf(stderr, "http_bench: request did not parse\n");
			exit(1);
		}
	return (now() - t0) * 1e9 / (double)n;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name, *buf;
		size_t len;
	} heads[] = {
	    {"http.client", py_req, sizeof(py_req) - 1},
	    {"azure-identity", sdk_req, sizeof(sdk_req) - 1},
	};
	long n = argc > 1 ? atol(argv[1]) : 200000;
	size_t i;

	if (n <= 0)
		n = 1;
	printf("http: one token request (head, route, query check, three "
	       "lookups), ns/request, %ld runs\n",
	    n);
	for (i = 0; i < sizeof(heads) / sizeof(*heads); i++) {
		const char *b = heads[i].buf;
		size_t l = heads[i].len;

		printf("  %-15s %3zu bytes: podid %7.1f   floor %6.1f\n",
		    heads[i].name, l, ns_per(run_now, b, l, n),
		    ns_per(run_floor, b, l, n));
	}
	return 0;
}
