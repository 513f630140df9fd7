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

#endif
