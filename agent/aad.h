/*
 * aad: the Azure AD (Entra ID) client, the token cache's fetcher for
 * service-principal identities: POL_SECRET (client_secret), POL_CERTIFICATE
 * (a client-assertion JWT podid signs, agent/jwt.h) and POL_FEDERATED (the
 * pod's own service-account token, agent/ktoken.h, as the assertion).  It POSTs
 * the client-credentials grant to {authority}/{tenant}/oauth2/v2.0/token
 * (scope = resource + "/.default"), or to {authority}/{tenant}/oauth2/token
 * (resource =) for identities marked v1, over TLS (agent/hclient.h) checked
 * against the trust anchors given, and maps the answer onto the IMDS shape.
 *
 * Upstream protection, per authority: at most LIM_AAD_CONCURRENCY requests
 * in flight and LIM_AAD_RATE_PER_S sent in any second; fetches beyond wait
 * in one FIFO of LIM_AAD_QUEUE (past it: 503 at once).  429, 408, 5xx and
 * transport failures are retried with exponential backoff and jitter,
 * honouring Retry-After, within LIM_AAD_ATTEMPTS and LIM_AAD_RETRY_BUDGET_MS;
 * then 429 (when Azure AD throttled last) or 503, with Retry-After.  After
 * LIM_AAD_CIRCUIT_FAILURES consecutive 5xx or transport failures the
 * authority's circuit opens: fetches fail fast (503 + Retry-After, Azure AD
 * not contacted) for LIM_AAD_CIRCUIT_OPEN_MS; then one probe goes, the
 * others waiting for its outcome.  Refusals (4xx) go to the pods as 400
 * with an IMDS-style error and Azure AD's AADSTS code in audit_code.
 *
 * Client secrets, certificates and keys are read from their files by
 * aad_new and aad_repolicy only (a rotated file is used from the next
 * reload), held in fixed storage out of core dumps, wiped when replaced,
 * and never logged.  A certificate identity signs a fresh assertion (new
 * jti, aud = the token URL called) for every request, retries included;
 * one whose files do not load answers 503 (audit "cert_load_failed").  A
 * federated fetch first asks ktoken for the pod's token (audience the
 * identity's, default api://AzureADTokenExchange); its failures answer 503
 * (audit "tokenrequest_403", "tokenrequest_404", "pod_gone", ...).
 * Everything is sized at aad_new; nothing is allocated per request.
 */
#ifndef AGENT_AAD_H
#define AGENT_AAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "agent/limits.h"
#include "agent/loop.h"
#include "agent/metrics.h"
#include "agent/pem.h"
#include "agent/tokcache.h"
#include "policy/policy.h"

/* Errors of the pure functions below; aad_strerror() names them. */
enum aad_err {
	AAD_E_JSON = -1,     /* not a JSON object, or malformed JSON */
	AAD_E_MEMBERS = -2,  /* more than LIM_AAD_JSON_TOKENS tokens */
	AAD_E_DUP = -3,      /* a known member appears twice */
	AAD_E_TYPE = -4,     /* a known member has the wrong JSON type */
	AAD_E_TOOLONG = -5,  /* a string does not fit its field */
	AAD_E_VALUE = -6,    /* empty, or a character a field cannot hold */
	AAD_E_NUMBER = -7,   /* a time is not a non-negative integer */
	AAD_E_NOTOKEN = -8,  /* no access_token */
	AAD_E_NOEXPIRY = -9, /* neither expires_in nor expires_on */
	AAD_E_NOERROR = -10, /* an error body without "error" */
	AAD_E_URL = -11,     /* authority not https://host[:port][/path] */
	AAD_E_SPACE = -12,   /* output does not fit the buffer */
};
#define AAD_E_LAST AAD_E_SPACE

/*
 * An Azure AD error body: "error" (required), the first line of
 * "error_description", the AADSTS number (error_codes[0], else the
 * description's "AADSTSnnn:" prefix; 0 when neither) and correlation_id.
 */
struct aad_error {
	char error[LIM_AAD_ERROR_BYTES + 1];
	char desc[LIM_AAD_ERROR_DESC_BYTES + 1];
	char correlation[LIM_AAD_CORRELATION_BYTES + 1];
	uint32_t code;
};

/*
 * The client's credential for one form: a secret, or (later kinds) a
 * signed assertion sent as client_assertion with the jwt-bearer type.
 * Exactly one of the two is non-NULL.  The bytes are the caller's.
 */
struct aad_cred {
	const char *secret;
	size_t secret_len;
	const char *assertion;
	size_t assertion_len;
};

/* An authority URL taken apart (aad_authority_parse). */
struct aad_url {
	char host[LIM_TLS_SERVER_NAME_BYTES + 1]; /* DNS name or IP literal */
	char hostport[LIM_TLS_SERVER_NAME_BYTES + 8]; /* the Host header */
	char path[128]; /* "" or "/prefix", no trailing slash */
	uint16_t port;  /* 443 when absent */
	bool literal;   /* host is an IP literal: addr is set */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

/* Retry and circuit timing; aad_opts_default() gives the LIM_AAD_* values. */
struct aad_opts {
	unsigned attempts;         /* requests per fetch: 1..LIM_AAD_ATTEMPTS */
	uint32_t backoff_ms;       /* first retry delay, doubled per retry */
	uint32_t budget_ms;        /* no retry starts later after the start */
	uint32_t attempt_ms;       /* idle timeout of one request (>= 1) */
	unsigned circuit_failures; /* consecutive failures that open (>= 1) */
	uint32_t circuit_open_ms;  /* fail-fast time of an open circuit */
};

/* Counters since aad_new, and the current queue and flight. */
struct aad_stats {
	uint64_t fetches;  /* started by the cache */
	uint64_t requests; /* sent to Azure AD, retries included */
	uint64_t ok, failed, retries;
	uint64_t refused;       /* 4xx answers passed on as 400 */
	uint64_t throttled;     /* 429 answers */
	uint64_t server;        /* 5xx answers */
	uint64_t transport;     /* connect, TLS, timeout, reset */
	uint64_t bad_answer;    /* unusable 200s and odd statuses */
	uint64_t rejected;      /* queue full */
	uint64_t fast_fails;    /* answered 503 by an open circuit */
	uint64_t circuit_opens; /* closed or half-open -> open */
	uint64_t rate_waits;    /* the rate limit held a request back */
	uint64_t secret_loads;  /* secret files read */
	uint64_t secret_errors; /* secret files unreadable or too long */
	uint64_t cert_loads;    /* certificate identities (re)loaded */
	uint64_t cert_errors;   /* certificate or key files that did not load */
	uint64_t assertions;    /* client assertions signed */
	uint64_t sa_tokens;     /* service-account tokens from ktoken */
	uint64_t sa_errors;     /* ktoken failures answered 503 */
	struct metrics_hist dur_ok, dur_error; /* request latency, by outcome */
	unsigned running, queued, max_running, max_queued;
	unsigned circuits_open; /* authorities with an open circuit now */
};

struct aad;
struct resolv;
struct ktoken;

/*
 * Makes the client: results go to tc, servers are checked against anchors
 * (which must outlive the client), DNS authority hosts are looked up with
 * resolver (may be NULL: then only IP-literal authorities work), whose
 * first IPv4 address is used for LIM_AAD_ADDR_MS before a new lookup; a
 * failed lookup answers the fetches waiting for it 503.
 * default_authority (--aad-authority; NULL or "" for none) replaces the
 * policy's default https://login.microsoftonline.com.  pol (may be NULL)
 * gives the first secrets, as aad_repolicy.  The one allocation, at
 * start-up.  Returns NULL with errno EINVAL or ENOMEM.
 */
struct aad *aad_new(struct loop *, struct tokcache *tc,
    const struct pem_anchors *anchors, struct resolv *resolver,
    const char *default_authority, const struct pol *pol);

/* Closes connections, cancels lookups and stops timers without calling
 * the cache; wipes every secret and buffer.  NULL is fine.  Call it
 * before resolv_free (it cancels through the resolver). */
void aad_free(struct aad *);

/* The fetcher to give tokcache_set_fetcher(tc, kind, ...) for POL_SECRET,
 * POL_CERTIFICATE and POL_FEDERATED (one client serves the three). */
struct tok_fetcher aad_fetcher(struct aad *);

/*
 * The TokenRequest client federated fetches use (NULL: they answer 503,
 * audit "no_api_server").  kt must outlive the client, or be replaced
 * first; call aad_free before ktoken_free.  Set it before the first fetch.
 */
void aad_set_ktoken(struct aad *, struct ktoken *kt);

/*
 * After a policy swap: re-reads the secret file of every POL_SECRET
 * identity of pol and the certificate and key files of every
 * POL_CERTIFICATE one (blocking, small files), replacing (and wiping) the
 * old bytes and signers; identities gone are wiped.  An unreadable secret
 * file keeps the secret held before; a certificate that does not load
 * leaves its identity without a signer (503 until a reload fixes it).
 * Returns the number of identities whose files could not be used (0: all
 * fine); logs each by its error name, never a secret.
 */
int aad_repolicy(struct aad *, const struct pol *pol);

/* Fills *o with the defaults (LIM_AAD_ATTEMPTS, ...). */
void aad_opts_default(struct aad_opts *o);

/* Replaces the timing (tests shorten it).  0, or -1 when out of range. */
int aad_set_opts(struct aad *, const struct aad_opts *);

/* Fills *st with the counters. */
void aad_stats(const struct aad *, struct aad_stats *st);

/*
 * Decodes a 200 body (len bytes, need not be NUL-terminated) into *out:
 * access_token (1..LIM_TOK_TOKEN_BYTES of 0x21-0x7e but '"' and '\') and
 * expires_in or expires_on are required; times are integer numbers or
 * strings of digits (v2 sends numbers, v1 strings).  expires_on = now +
 * expires_in when expires_in is there (our clock), else Azure AD's;
 * not_before defaults to now; token_type defaults to "Bearer".  resource
 * and client_id are left "" for the caller to echo.  ext_expires_in and
 * resource are checked when present; unknown members are ignored.  Pure.
 * Returns 0 or an enum aad_err; *out is wiped on error.
 */
int aad_decode(
    const char *body, size_t len, int64_t now, struct tok_token *out);

/*
 * Decodes an error body: "error" (1..LIM_AAD_ERROR_BYTES of [A-Za-z0-9_.-]) is
 * required; error_description (first line, cut to fit, controls to
 * spaces), error_codes (an array of integers), correlation_id are
 * optional.  Pure.  Returns 0 or an enum aad_err; *out zeroed on error.
 */
int aad_decode_error(const char *body, size_t len, struct aad_error *out);

/*
 * Writes the form body for req into dst (NUL-terminated):
 * grant_type=client_credentials&client_id=C then client_secret=S, or
 * client_assertion_type=urn...jwt-bearer&client_assertion=A, then
 * scope=R/.default (v2) or resource=R (v1); every value form-url-encoded
 * (all but unreserved characters as %XX).  Returns the length or
 * AAD_E_SPACE (dst then "").
 */
int aad_form(char *dst, size_t len, const struct tok_req *req, bool v1,
    const struct aad_cred *cred);

/*
 * Parses an authority: https://host[:port][/path], host a DNS name, an
 * IPv4 literal or [IPv6]; an optional trailing "/"; no query, fragment or
 * user info.  Fills *out.  Returns 0 or AAD_E_URL.
 */
int aad_authority_parse(const char *url, struct aad_url *out);

/* Static name of an aad_err ("unknown aad error" for others). */
const char *aad_strerror(int err);

#endif
