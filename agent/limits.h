/*
 * Every limit podid enforces, with its unit, in one place.  Memory is sized
 * once at start from these (and from the flags that override some of them);
 * nothing grows afterwards.  Each limit has a test at N and at N+1.
 */
#ifndef AGENT_LIMITS_H
#define AGENT_LIMITS_H

/* Policy language (passed to dsl/ and policy/ by the caller). */
#define LIM_POLICY_FILE_BYTES	(4u << 20)  /* one policy file */
#define LIM_POLICY_TOKEN_BYTES	4096u	    /* one token (string, word) */
#define LIM_POLICY_AST_BYTES	(16u << 20) /* parse tree of one file */
#define LIM_POLICY_BYTES	(8u << 20)  /* one compiled policy */
#define LIM_POLICY_DIAGS	200u	    /* diagnostics kept per file */
#define LIM_POLICY_FILES	16u	    /* files on one command line */

/* Event loop (agent/loop.c): loop_new() refuses larger tables. */
#define LIM_LOOP_FDS		65536u /* fd slots of one loop (fds) */
#define LIM_LOOP_TIMERS		65536u /* pending timers of one loop */
#define LIM_LOOP_EVENTS		64u    /* epoll events taken per wait */

/* HTTP/1.1 client parsers (agent/httpc.c). */
#define LIM_HTTPC_HEAD_BYTES	   16384u      /* response head, CRLFs included */
#define LIM_HTTPC_HEADERS	   64u	       /* header fields in one head */
#define LIM_HTTPC_CHUNK_LINE_BYTES 1024u       /* chunk-size line + ext, no CRLF */
#define LIM_HTTPC_CHUNK_BYTES	   (16u << 20) /* data of one chunk */
#define LIM_HTTPC_TRAILER_BYTES	   4096u       /* trailer lines, CRLFs included */

/* PEM loading (agent/pem.c): the trust store is sized once at start. */
#define LIM_PEM_FILE_BYTES	(1u << 20)   /* one PEM file read at start */
#define LIM_PEM_ANCHORS		512u	     /* trust anchors in the store */
#define LIM_PEM_ANCHOR_BYTES	(256u << 10) /* DNs + public keys of all anchors */
#define LIM_PEM_CHAIN_CERTS	8u	     /* certificates in one chain */
#define LIM_PEM_CHAIN_BYTES	(64u << 10)  /* DER of one chain */

/* TLS client (agent/tls.c), per connection slot. */
#define LIM_TLS_SERVER_NAME_BYTES 255u	      /* server name, DNS or IP literal */
#define LIM_TLS_PEER_CERT_BYTES	  (16u << 10) /* leaf cert kept for an IP SAN check */

#endif
