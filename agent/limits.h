/*
 * Every limit podid enforces, with its unit, in one place.  Memory is sized
 * once at start from these (and from the flags that override some of them);
 * nothing grows afterwards.  Each limit has a test at N and at N+1.
 */
#ifndef AGENT_LIMITS_H
#define AGENT_LIMITS_H

/* Policy language (passed to dsl/ and policy/ by the caller). */
#define LIM_POLICY_FILE_BYTES  (4u << 20)  /* one policy file */
#define LIM_POLICY_TOKEN_BYTES 4096u       /* one token (string, word) */
#define LIM_POLICY_AST_BYTES   (16u << 20) /* parse tree of one file */
#define LIM_POLICY_BYTES       (8u << 20)  /* one compiled policy */
#define LIM_POLICY_VALUES      1024u       /* values in one statement */
#define LIM_POLICY_DIAGS       200u        /* diagnostics kept per file */
#define LIM_POLICY_FILES       16u         /* files on one command line */

/* Event loop (agent/loop.c): loop_new() refuses larger tables. */
#define LIM_LOOP_FDS    65536u /* fd slots of one loop (fds) */
#define LIM_LOOP_TIMERS 65536u /* pending timers of one loop */
#define LIM_LOOP_EVENTS 64u    /* epoll events taken per wait */

/* HTTP/1.1 client parsers (agent/httpc.c). */
#define LIM_HTTPC_HEAD_BYTES       16384u /* response head, CRLFs included */
#define LIM_HTTPC_HEADERS          64u    /* header fields in one head */
#define LIM_HTTPC_CHUNK_LINE_BYTES 1024u  /* chunk-size line + ext, no CRLF */
#define LIM_HTTPC_CHUNK_BYTES      (16u << 20) /* data of one chunk */
#define LIM_HTTPC_TRAILER_BYTES    4096u /* trailer lines, CRLFs included */

/* HTTP/1.1 server parsers (agent/http.c): requests from pods and probes.
 * IMDS requests are small: the longest real one, a token request with an
 * msi_res_id of maximal length, has a target under 600 bytes. */
#define LIM_HTTP_HEAD_BYTES        8192u /* request head, CRLFs (leading ones too) */
#define LIM_HTTP_HEADERS           32u   /* header fields in one head */
#define LIM_HTTP_METHOD_BYTES      16u   /* request method; longer is 501 */
#define LIM_HTTP_TARGET_BYTES      2048u /* request-target, raw; longer is 414 */
#define LIM_HTTP_QUERY_PARAMS      16u   /* non-empty pairs in one query */
#define LIM_HTTP_PARAM_NAME_BYTES  64u   /* one decoded query name */
#define LIM_HTTP_PARAM_VALUE_BYTES 1024u /* one decoded query value */

/* PEM loading (agent/pem.c): the trust store is sized once at start. */
#define LIM_PEM_FILE_BYTES   (1u << 20)   /* one PEM file read at start */
#define LIM_PEM_ANCHORS      512u         /* trust anchors in the store */
#define LIM_PEM_ANCHOR_BYTES (256u << 10) /* DNs + public keys of all anchors */
#define LIM_PEM_CHAIN_CERTS  8u           /* certificates in one chain */
#define LIM_PEM_CHAIN_BYTES  (64u << 10)  /* DER of one chain */

/* TLS client (agent/tls.c), per connection slot. */
#define LIM_TLS_SERVER_NAME_BYTES 255u /* server name, DNS or IP literal */
#define LIM_TLS_PEER_CERT_BYTES                                                \
	(16u << 10) /* leaf cert kept for an IP SAN check */

/* JSON documents (agent/json.c). */
#define LIM_JSON_BYTES (64u << 20) /* one document (token offsets are int) */
#define LIM_JSON_DEPTH 64u         /* nested objects and arrays */

/* Kubernetes objects (agent/kobj.c): fields of struct kobj_pod, in bytes
 * without the NUL, as Kubernetes validates them; a pod over any is refused.
 * A watch stream's line splitter (agent/lines.c) needs EVENT_BYTES + 1. */
#define LIM_KOBJ_UID_BYTES        36u   /* metadata.uid, a UUID */
#define LIM_KOBJ_NAMESPACE_BYTES  63u   /* DNS-1123 label */
#define LIM_KOBJ_NAME_BYTES       253u  /* DNS-1123 subdomain */
#define LIM_KOBJ_SA_BYTES         253u  /* spec.serviceAccountName */
#define LIM_KOBJ_RV_BYTES         64u   /* metadata.resourceVersion */
#define LIM_KOBJ_CONTINUE_BYTES   1024u /* list metadata.continue */
#define LIM_KOBJ_LABELS           32u   /* labels of one pod */
#define LIM_KOBJ_LABEL_POOL_BYTES 1024u /* sum of key+NUL+value+NUL */
#define LIM_KOBJ_EVENT_BYTES                                                   \
	(2u << 20) /* one watch event line (etcd: 1.5 MiB objects) */
#define LIM_KOBJ_EVENT_TOKENS 65536u /* JSON tokens of one watch event */

/* Pod cache (agent/podcache.c): podcache_new() sizes every table from
 * max_pods; nothing grows.  The quarantine covers watch lag between an old
 * pod letting an IP go and a new pod showing it: a request from a recycled
 * IP within it resolves to nobody (clients retry). */
#define LIM_PODCACHE_PODS_DEFAULT                                              \
	512u /* pod slots (--max-pods): 250-pod node x2 */
#define LIM_PODCACHE_PODS_MAX 8192u /* largest --max-pods accepted */
#define LIM_PODCACHE_QUARANTINE_MS                                             \
	5000u /* ms a released IP resolves to nobody */
#define LIM_PODCACHE_QUARANTINE_MAX_MS                                         \
	600000u /* largest quarantine accepted (ms) */
#define LIM_PODCACHE_QUARANTINE_PER_POD                                        \
	2u                         /* quarantine entries per pod slot (IPs) */
#define LIM_PODCACHE_LOG_MS 10000u /* ms between "table full" log lines */

/* The pods' listener (agent/server.c) and its routes (agent/imds.c). */
#define LIM_SRV_CONNS_DEFAULT 256u   /* connection slots (--max-connections) */
#define LIM_SRV_CONNS_MAX     65536u /* largest --max-connections */
#define LIM_SRV_READ_BYTES    LIM_HTTP_HEAD_BYTES /* a slot's receive buffer */
#define LIM_SRV_WRITE_BYTES   (12u << 10)         /* a slot's response buffer */
#define LIM_SRV_BACKLOG       512                 /* listen(2) backlog */
#define LIM_SRV_HEADER_MS     5000u  /* a request head must arrive in */
#define LIM_SRV_IDLE_MS       60000u /* keep-alive idle before close */
#define LIM_SRV_WRITE_MS      10000u /* a response must be taken in */
#define LIM_SRV_LOCAL_ADDRS   16u    /* node addresses for /host/token/ */
#define LIM_IMDS_PARK_MS      2000u  /* unknown pod: wait for its event */
#define LIM_IMDS_TOKEN_WAIT_MS                                                 \
	20000u /* wait for an upstream token (> retry budget + one attempt) */
#define LIM_IMDS_PROXY_SLOTS   8u /* requests proxied to IMDS at once */
#define LIM_IMDS_RETRY_AFTER_S 1u /* Retry-After on 503 for parking */

/* ---- server (agent/server.c) ---- */
#define LIM_SRV_LINGER_MS                                                      \
	1000u /* ms a closing connection drains input before close */
#define LIM_SRV_ACCEPT_PAUSE_MS                                                \
	100u /* ms accept(2) rests after EMFILE, ENOBUFS and the like */
#define LIM_SRV_LOG_MS 10000u /* ms between two accept failure warnings */
#define LIM_SRV_WRITE_MIN_BYTES                                                \
	512u /* smallest write_bytes: a 500 "too large" fits (bytes) */
#define LIM_SRV_WRITE_MAX_BYTES (1u << 20) /* largest write_bytes (bytes) */
/* ---- end server ---- */

/* Token cache (agent/tokcache.c). */
#define LIM_TOK_SLOTS_DEFAULT    256u  /* cached (identity, resource) tokens */
#define LIM_TOK_TOKEN_BYTES      8192u /* one access token */
#define LIM_TOK_RESOURCE_BYTES   512u  /* one resource (audience) */
#define LIM_TOK_REFRESH_BEFORE_S 300u  /* refresh this long before expiry */
#define LIM_TOK_MIN_VALID_S      60u /* never hand out a token closer to expiry */

/* ---- tokcache and imdsc (agent/tokcache.c, agent/imdsc.c) ---- */
#define LIM_TOK_SLOTS_MAX 4096u /* largest token cache accepted (slots) */
#define LIM_TOK_REFRESH_RETRY_S                                                \
	30u /* s before a failed or fruitless refresh is tried again */
/* The node's IMDS, identity category: 20 requests/s and 5 concurrent. */
#define LIM_IMDS_CONCURRENCY     5u   /* requests in flight (connections) */
#define LIM_IMDS_RATE_PER_S      20u  /* requests sent in any 1000 ms */
#define LIM_IMDSC_RATE_MARGIN_MS 150u /* window slack for connect delays (ms) */
#define LIM_IMDS_QUEUE                                                         \
	128u /* fetches waiting: a connection, the rate, a retry */
#define LIM_IMDSC_ATTEMPTS 4u /* requests per fetch, the first included */
#define LIM_IMDSC_BACKOFF_MS                                                   \
	1000u /* first retry delay (ms), doubled per retry */
#define LIM_IMDS_RETRY_BUDGET_MS                                               \
	10000u /* ms after a fetch began: no retry past it */
#define LIM_IMDSC_ATTEMPT_MS                                                   \
	5000u /* ms without progress before a request fails */
#define LIM_IMDSC_RETRY_AFTER_S                                                \
	5u /* Retry-After (s) of our 503 when IMDS gave none */
#define LIM_IMDSC_RETRY_AFTER_MAX_S                                            \
	3600u /* larger Retry-After values are cut to this (s) */
#define LIM_IMDSC_REQUEST_BYTES                                                \
	4096u /* one request head (two 512-byte fields encoded) */
#define LIM_IMDSC_RECV_BYTES                                                   \
	8192u /* receive buffer per connection: head, one read */
#define LIM_IMDSC_BODY_BYTES                                                   \
	16384u /* one response body (a LIM_TOK_TOKEN_BYTES token) */
#define LIM_IMDSC_JSON_TOKENS 64u /* JSON tokens of one response body */
#define LIM_IMDSC_ERROR_BYTES 63u /* IMDS "error" code kept for the pod */
#define LIM_IMDSC_ERROR_DESC_BYTES                                             \
	511u /* IMDS "error_description" kept for the pod */
/* ---- end tokcache and imdsc ---- */

/* The rules keeper (agent/keeper.c). */
#define LIM_RULES_KEEP_MS                                                      \
	2000u /* ms between two checks of the ruleset by the keeper */

/* Command-line tools' own loops (podid pods, selftest). */
#define LIM_LOOP_FDS_CMD    256u /* fd slots */
#define LIM_LOOP_TIMERS_CMD 64u  /* pending timers */

/* Kubernetes list and watch (agent/kube.c). */
#define LIM_KUBE_PAGE_PODS       50u  /* pods asked per list page (limit=) */
#define LIM_KUBE_WATCH_S         300u /* timeoutSeconds of a watch, max */
#define LIM_KUBE_WATCH_GRACE_S   30u /* s past it before a silent watch is cut */
#define LIM_KUBE_LIST_IDLE_MS    30000u /* ms without bytes before a list fails */
#define LIM_KUBE_BACKOFF_MIN_MS  250u   /* first retry delay, ms */
#define LIM_KUBE_BACKOFF_MAX_MS  30000u /* retry delay cap, ms */
#define LIM_KUBE_TOKEN_BYTES     16384u /* service-account token */
#define LIM_KUBE_TOKEN_REREAD_MS 60000u /* ms between token file reads */
#define LIM_KUBE_REQUEST_BYTES                                                 \
	(24u << 10)                     /* one request head, token included */
#define LIM_KUBE_RECV_BYTES (64u << 10) /* receive buffer: a head, one read */

/* ---- rules (agent/rules.c): nf_tables and conntrack over netlink ---- */
#define LIM_RULES_MSG_BYTES                                                    \
	1024u /* one request or batch sent (bytes; install: 680) */
#define LIM_RULES_RECV_BYTES                                                   \
	32768u /* one datagram from the kernel (bytes; dumps stop at 32 KiB) */
#define LIM_RULES_RULES                                                        \
	8u /* rules of table podid kept by status (more are counted) */
#define LIM_RULES_EXPRS 16u /* expressions kept per rule (more are counted) */
#define LIM_RULES_TIMEOUT_MS                                                   \
	5000u /* ms to wait for each answer of the kernel */
#define LIM_RULES_STATUS_TRIES                                                 \
	3u /* status reads while the ruleset changes mid-dump */
/* ---- end rules ---- */

/* ---- priv (agent/priv.c) ---- */
#define LIM_PRIV_EXTRA_SYSCALLS                                                \
	16u /* syscalls a priv_spec may add to the allowlist */
#define LIM_PRIV_FILTER_INSNS                                                  \
	512u /* seccomp BPF instructions (kernel max 4096) */
#define LIM_PRIV_STATUS_LINE_BYTES                                             \
	512u                /* a needed /proc/self/status line, no newline */
#define LIM_PRIV_GROUPS 32u /* supplementary groups read from it */
/* ---- end priv ---- */

/* ---- jwt (agent/jwt.c) ---- */
#define LIM_JWT_RSA_BYTES       512u /* largest RSA modulus signed with: 4096 bits */
#define LIM_JWT_LIFETIME_S      600u  /* an assertion's exp - iat (msal: 600) */
#define LIM_JWT_ASSERTION_BYTES 4096u /* one signed assertion, NUL included */
/* ---- end jwt ---- */

/* ---- metrics (agent/metrics.c) ---- */
#define LIM_METRICS_BYTES                                                      \
	(32u << 10) /* one /metrics exposition, NUL included (bytes) */
#define LIM_METRICS_BUCKETS                                                    \
	12u /* latency histogram buckets, 1 ms..5 s, +Inf apart */
/* ---- end metrics ---- */

/* ---- aad (agent/aad.c): the Azure AD client ---- */
#define LIM_AAD_AUTHORITIES 8u   /* distinct authority hosts served at once */
#define LIM_AAD_IDENTITIES  256u /* secret identities whose secret is held */
#define LIM_AAD_SECRET_BYTES                                                   \
	1024u /* one client secret, trailing newline stripped (bytes) */
#define LIM_AAD_CONNS       8u  /* TLS connections to Azure AD, in all */
#define LIM_AAD_CONCURRENCY 4u  /* requests in flight per authority */
#define LIM_AAD_RATE_PER_S  10u /* requests sent per authority in any 1000 ms */
#define LIM_AAD_QUEUE                                                          \
	128u /* fetches waiting: a connection, the rate, a retry */
#define LIM_AAD_ATTEMPTS 4u /* requests per fetch, the first included */
#define LIM_AAD_BACKOFF_MS                                                     \
	500u /* first retry delay (ms), doubled per retry, jittered */
#define LIM_AAD_RETRY_BUDGET_MS                                                \
	10000u /* ms after a fetch began: no retry past it */
#define LIM_AAD_ATTEMPT_MS                                                     \
	5000u /* ms without progress before a request fails */
#define LIM_AAD_RETRY_AFTER_S                                                  \
	5u /* Retry-After (s) of our 503 when Azure AD gave none */
#define LIM_AAD_RETRY_AFTER_MAX_S                                              \
	3600u /* larger Retry-After values are cut to this (s) */
#define LIM_AAD_CIRCUIT_FAILURES                                               \
	5u /* consecutive 5xx/transport failures that open the circuit */
#define LIM_AAD_CIRCUIT_OPEN_MS                                                \
	30000u /* ms an open circuit fails fast before one probe */
#define LIM_AAD_ADDR_MS                                                        \
	60000u /* ms a resolved authority address is used before a lookup */
#define LIM_AAD_REQUEST_BYTES                                                  \
	16384u /* one request: head and form (an assertion of a few KiB) */
#define LIM_AAD_RECV_BYTES 8192u /* receive buffer per connection */
#define LIM_AAD_BODY_BYTES                                                     \
	16384u /* one response body (a LIM_TOK_TOKEN_BYTES token) */
#define LIM_AAD_JSON_TOKENS 64u /* JSON tokens of one response body */
#define LIM_AAD_ERROR_BYTES 63u /* Azure AD "error" code kept */
#define LIM_AAD_ERROR_DESC_BYTES                                               \
	255u /* first line of "error_description" kept for the pod */
#define LIM_AAD_CORRELATION_BYTES 63u /* "correlation_id" kept for logs */
#define LIM_AAD_PEM_BYTES                                                      \
	(32u << 10) /* one certificate or key PEM file read at a reload */
/* ---- end aad ---- */

/* ---- ops and selftest (agent/ops.c, selftest/) ---- */
#define LIM_OPS_CONNS 8u /* connection slots of the ops listener */
#define LIM_OPS_WRITE_BYTES                                                    \
	(40u << 10) /* an ops slot's response buffer: /metrics (bytes) */
#define LIM_SELFTEST_IO_MS 2000u /* selftest: a connect or an answer (ms) */
#define LIM_SELFTEST_TOKEN_MS                                                  \
	25000u /* selftest: --pod with --resource (> LIM_IMDS_TOKEN_WAIT_MS) */
#define LIM_SELFTEST_RESP_BYTES                                                \
	(64u << 10) /* selftest: one ops answer, head included (bytes) */
#define LIM_SELFTEST_JSON_TOKENS 1024u /* selftest: tokens of one answer */
#define LIM_SELFTEST_CHECKS      16u   /* selftest: result lines kept */
#define LIM_SELFTEST_REASON_BYTES                                              \
	512u /* selftest: one reason, NUL included (bytes) */
/* ---- end ops and selftest ---- */

/* ---- pwatch (agent/pwatch.c): noticing policy file changes ---- */
#define LIM_PWATCH_SETTLE_MS                                                   \
	50u /* ms from a directory event to the fingerprint compare */
#define LIM_PWATCH_CHECK_MS                                                    \
	60000u /* ms between periodic checks (safety net for inotify) */
#define LIM_PWATCH_PATH_BYTES                                                  \
	4096u /* the policy path, NUL included (PATH_MAX) */
#define LIM_PWATCH_READ_BYTES 4096u /* one read(2) of inotify events */
#define LIM_PWATCH_READS      16u /* reads per wake-up; the rest next iteration */
/* ---- end pwatch ---- */

/* ---- dns and resolv (agent/dns.c, agent/resolv.c) ---- */
#define LIM_DNS_POINTER_JUMPS 32u  /* compression pointers in one name */
#define LIM_DNS_CNAME_HOPS    8u   /* CNAMEs followed inside one answer */
#define LIM_DNS_QUERY_BYTES   288u /* one query: 12 + 255 + 4 fits */
#define LIM_RESOLV_NAME_BYTES 253u /* a name, text, no trailing dot */
#define LIM_RESOLV_CACHE_SLOTS                                                 \
	64u /* cached names (resolv_config.cache_slots default) */
#define LIM_RESOLV_CACHE_SLOTS_MAX 4096u /* largest cache accepted */
#define LIM_RESOLV_PENDING                                                     \
	16u /* lookups at once (resolv_config.max_pending default) */
#define LIM_RESOLV_PENDING_MAX 1024u /* largest max_pending accepted */
#define LIM_RESOLV_ADDRS       8u    /* addresses kept per name */
#define LIM_RESOLV_SERVERS     3u    /* nameserver lines used (glibc MAXNS) */
#define LIM_RESOLV_SEARCH      6u    /* search domains used */
#define LIM_RESOLV_HOSTS       256u  /* IPv4 (address, name) pairs of hosts */
#define LIM_RESOLV_FILE_BYTES  (64u << 10) /* hosts or resolv.conf read */
#define LIM_RESOLV_TIMEOUT_MS  5000u       /* ms per try (glibc's default) */
#define LIM_RESOLV_TIMEOUT_MAX_MS                                              \
	30000u /* largest per-try timeout (glibc RES_MAXRETRANS) */
#define LIM_RESOLV_ATTEMPTS      2u  /* rounds over the servers (glibc) */
#define LIM_RESOLV_ATTEMPTS_MAX  5u  /* largest attempts (glibc RES_MAXRETRY) */
#define LIM_RESOLV_NDOTS         1u  /* ndots default (glibc) */
#define LIM_RESOLV_NDOTS_MAX     15u /* largest ndots (glibc RES_MAXNDOTS) */
#define LIM_RESOLV_TTL_MIN_S     1u  /* s an answer is kept at least */
#define LIM_RESOLV_TTL_MAX_S     300u /* s an answer is kept at most */
#define LIM_RESOLV_NEG_TTL_S     5u /* s a negative answer without SOA is kept */
#define LIM_RESOLV_NEG_TTL_MAX_S 60u /* s a negative answer is kept at most */
#define LIM_RESOLV_RECHECK_MS                                                  \
	5000u /* ms between mtime checks of hosts and resolv.conf */
#define LIM_RESOLV_TCP_BYTES 8192u /* one answer over TCP, per lookup slot */
/* ---- end dns and resolv ---- */

/* ---- ktoken (agent/ktoken.c): TokenRequest for federated identities ---- */
#define LIM_KTOKEN_QUEUE          64u   /* gets waiting or in flight */
#define LIM_KTOKEN_SLOTS          64u   /* minted tokens kept */
#define LIM_KTOKEN_BYTES          8192u /* one minted token (bytes) */
#define LIM_KTOKEN_AUDIENCE_BYTES 256u  /* one audience (bytes) */
#define LIM_KTOKEN_EXPIRATION_S   3600u /* expirationSeconds asked for */
#define LIM_KTOKEN_EARLY_S        600u  /* s before expiry a token is dropped */
#define LIM_KTOKEN_TIMEOUT_MS     10000u      /* ms without progress: failed */
#define LIM_KTOKEN_RECV_BYTES     (16u << 10) /* receive buffer: one head */
#define LIM_KTOKEN_BODY_BYTES     (16u << 10) /* one TokenRequest answer */
#define LIM_KTOKEN_REQUEST_BYTES                                               \
	(LIM_KUBE_TOKEN_BYTES + 2048u) /* one request, our bearer included */
#define LIM_KTOKEN_JSON_TOKENS 128u    /* JSON tokens of one answer */
/* ---- end ktoken ---- */

/* ---- oauth, upstream (agent/oauth.c, agent/upstream.c) ---- */
#define LIM_OAUTH_TIME_DIGITS                                                  \
	18u /* digits of a time given as a string (cannot overflow int64_t) */
#define LIM_UP_RATE_SLOTS                                                      \
	20u /* send times an upstream rate window keeps (LIM_IMDS_RATE_PER_S) */
/* ---- end oauth, upstream ---- */

#endif
