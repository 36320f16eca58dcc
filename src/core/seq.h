/* TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).
 *
 * Sequence numbers wrap, so they are never compared with raw < or >: a
 * is "before" b when the signed 32-bit distance from b to a is negative,
 * which holds for any two numbers less than 2^31 apart (TCP windows are
 * far smaller). Every comparison and advance in the stack goes through
 * these helpers. */
#ifndef KW_CORE_SEQ_H
#define KW_CORE_SEQ_H

#include <stdbool.h>
#include <stdint.h>

typedef uint32_t seq_t;

/* Signed distance from b to a: > 0 when a is after b. */
static inline int32_t seq_diff(seq_t a, seq_t b)
{
	return (int32_t)(a - b);
}

static inline bool seq_lt(seq_t a, seq_t b) { return seq_diff(a, b) < 0; }
static inline bool seq_leq(seq_t a, seq_t b) { return seq_diff(a, b) <= 0; }
static inline bool seq_gt(seq_t a, seq_t b) { return seq_diff(a, b) > 0; }
static inline bool seq_geq(seq_t a, seq_t b) { return seq_diff(a, b) >= 0; }

/* a advanced by n octets. */
static inline seq_t seq_add(seq_t a, uint32_t n) { return a + n; }
static inline seq_t seq_succ(seq_t a) { return a + 1; }
static inline seq_t seq_pred(seq_t a) { return a - 1; }

/* lo <= s < hi, in sequence space (an empty range contains nothing). */
static inline bool seq_in_range(seq_t s, seq_t lo, seq_t hi)
{
	return seq_leq(lo, s) && seq_lt(s, hi);
}

static inline seq_t seq_max(seq_t a, seq_t b) { return seq_gt(a, b) ? a : b; }
static inline seq_t seq_min(seq_t a, seq_t b) { return seq_lt(a, b) ? a : b; }

#endif
