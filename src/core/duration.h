/* Duration and integer parsing for keepwire's configuration.
 *
 * Pure functions: no I/O, no allocation, no locale. A plain integer means
 * seconds; the suffixes ms, s, m and h select the unit. Results are in
 * milliseconds, the finest resolution any keepwire mode uses. */
#ifndef KW_CORE_DURATION_H
#define KW_CORE_DURATION_H

#include <stdint.h>

enum kw_parse_status {
	KW_PARSE_OK = 0,
	KW_PARSE_EMPTY,        /* "" */
	KW_PARSE_NOT_NUMBER,   /* "abc", "1.5s", " 5" */
	KW_PARSE_NEGATIVE,     /* "-5" */
	KW_PARSE_BAD_UNIT,     /* "10x", "5 s" */
	KW_PARSE_OVERFLOW,     /* more than fits in 64 bits of milliseconds */
	KW_PARSE_RANGE,        /* parsed, but outside the caller's range */
};

/* Parse a duration into milliseconds. Returns KW_PARSE_OK and stores the
 * value, or a status saying what was wrong (nothing is stored then). */
enum kw_parse_status kw_parse_duration_ms(const char *text, uint64_t *out_ms);

/* Parse an unsigned decimal integer with no unit, in [min, max]. */
enum kw_parse_status kw_parse_uint(const char *text, uint64_t min, uint64_t max,
				   uint64_t *out);

/* Human words for a status, e.g. "not a number". */
const char *kw_parse_status_text(enum kw_parse_status status);

/* Round milliseconds up to whole seconds (1500 ms -> 2 s). */
static inline uint64_t kw_ms_round_up_to_s(uint64_t ms)
{
	return ms / 1000 + (ms % 1000 != 0);
}

#endif
