/* The one-line reasons the parsers give back ("out of range; expected
 * ..."), written into a caller's buffer. */
#ifndef KW_CORE_WHY_H
#define KW_CORE_WHY_H

/* printf into why[len]; nothing when why is NULL or len is 0. */
void kw_set_why(char *why, unsigned len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
