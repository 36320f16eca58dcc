#include "core/duration.h"

#include <stddef.h>
#include <string.h>

/* Reads the leading decimal digits of *p into *value, advancing *p.
 * Returns KW_PARSE_OVERFLOW when they do not fit in 64 bits. */
static enum kw_parse_status read_digits(const char **p, uint64_t *value)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return KW_PARSE_NOT_NUMBER;
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t digit = (uint64_t)(*s - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return KW_PARSE_OVERFLOW;
		v = v * 10 + digit;
	}
	*p = s;
	*value = v;
	return KW_PARSE_OK;
}

static enum kw_parse_status classify_start(const char *text)
{
	if (text == NULL || text[0] == '\0')
		return KW_PARSE_EMPTY;
	if (text[0] == '-' && text[1] >= '0' && text[1] <= '9')
		return KW_PARSE_NEGATIVE;
	if (text[0] < '0' || text[0] > '9')
		return KW_PARSE_NOT_NUMBER;
	return KW_PARSE_OK;
}

enum kw_parse_status kw_parse_duration_ms(const char *text, uint64_t *out_ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 },
		{ "m", 60 * 1000 }, { "h", 3600 * 1000 },
	};
	enum kw_parse_status st = classify_start(text);
	uint64_t number;
	const char *p = text;

	if (st != KW_PARSE_OK)
		return st;
	st = read_digits(&p, &number);
	if (st != KW_PARSE_OK)
		return st;
	if (*p == '.' || *p == ',')
		return KW_PARSE_NOT_NUMBER;	/* fractions are written in ms */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (number > UINT64_MAX / units[i].ms)
			return KW_PARSE_OVERFLOW;
		*out_ms = number * units[i].ms;
		return KW_PARSE_OK;
	}
	return KW_PARSE_BAD_UNIT;
}

enum kw_parse_status kw_parse_uint(const char *text, uint64_t min, uint64_t max,
				   uint64_t *out)
{
	enum kw_parse_status st = classify_start(text);
	uint64_t v;
	const char *p = text;

	if (st != KW_PARSE_OK)
		return st;
	st = read_digits(&p, &v);
	if (st == KW_PARSE_OVERFLOW)
		return KW_PARSE_RANGE;
	if (st != KW_PARSE_OK)
		return st;
	if (*p != '\0')
		return KW_PARSE_NOT_NUMBER;
	if (v < min || v > max)
		return KW_PARSE_RANGE;
	*out = v;
	return KW_PARSE_OK;
}

const char *kw_parse_status_text(enum kw_parse_status status)
{
	switch (status) {
	case KW_PARSE_OK: return "ok";
	case KW_PARSE_EMPTY: return "empty value";
	case KW_PARSE_NOT_NUMBER: return "not a number";
	case KW_PARSE_NEGATIVE: return "negative";
	case KW_PARSE_BAD_UNIT: return "unknown unit";
	case KW_PARSE_OVERFLOW: return "out of range";
	case KW_PARSE_RANGE: return "out of range";
	}
	return "invalid";
}
