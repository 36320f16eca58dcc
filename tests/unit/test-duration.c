/* Durations and integers: every accepted form and every class of bad
 * input, with the exact millisecond values. */
#include "core/duration.h"
#include "tests/tap.h"

static void accepts(const char *text, uint64_t want_ms)
{
	char desc[128];
	uint64_t ms = 0;
	enum kw_parse_status st = kw_parse_duration_ms(text, &ms);

	snprintf(desc, sizeof(desc), "duration \"%s\" = %llu ms", text,
		 (unsigned long long)want_ms);
	tap_ok(st == KW_PARSE_OK && ms == want_ms, desc);
	if (st != KW_PARSE_OK)
		tap_diag("  status: %s", kw_parse_status_text(st));
}

static void rejects(const char *text, enum kw_parse_status want)
{
	char desc[128];
	uint64_t ms = 4242;
	enum kw_parse_status st = kw_parse_duration_ms(text, &ms);

	snprintf(desc, sizeof(desc), "duration \"%s\" rejected: %s", text ? text : "(null)",
		 kw_parse_status_text(want));
	tap_ok(st == want && ms == 4242, desc);
	if (st != want)
		tap_diag("  got status %d (%s)", st, kw_parse_status_text(st));
}

static void uint_case(const char *text, uint64_t min, uint64_t max,
		      enum kw_parse_status want, uint64_t want_value)
{
	char desc[128];
	uint64_t v = 0;
	enum kw_parse_status st = kw_parse_uint(text, min, max, &v);

	snprintf(desc, sizeof(desc), "uint \"%s\" in [%llu,%llu]: %s", text,
		 (unsigned long long)min, (unsigned long long)max,
		 want == KW_PARSE_OK ? "accepted" : kw_parse_status_text(want));
	tap_ok(st == want && (want != KW_PARSE_OK || v == want_value), desc);
}

int main(void)
{
	accepts("0", 0);
	accepts("1", 1000);
	accepts("60", 60000);
	accepts("1500ms", 1500);
	accepts("90s", 90000);
	accepts("5m", 300000);
	accepts("2h", 7200000);
	accepts("0ms", 0);
	accepts("007", 7000);
	accepts("32767", 32767000);
	accepts("18446744073709551615ms", UINT64_MAX);

	rejects("", KW_PARSE_EMPTY);
	rejects(NULL, KW_PARSE_EMPTY);
	rejects("abc", KW_PARSE_NOT_NUMBER);
	rejects(" 5", KW_PARSE_NOT_NUMBER);
	rejects("+5", KW_PARSE_NOT_NUMBER);
	rejects("1.5s", KW_PARSE_NOT_NUMBER);
	rejects("-5", KW_PARSE_NEGATIVE);
	rejects("10x", KW_PARSE_BAD_UNIT);
	rejects("5 s", KW_PARSE_BAD_UNIT);
	rejects("5S", KW_PARSE_BAD_UNIT);
	rejects("5sec", KW_PARSE_BAD_UNIT);
	rejects("10s ", KW_PARSE_BAD_UNIT);
	rejects("18446744073709551616ms", KW_PARSE_OVERFLOW);
	rejects("99999999999999999999", KW_PARSE_OVERFLOW);
	rejects("18446744073709551615", KW_PARSE_OVERFLOW);	/* fits, but not x1000 */
	rejects("5124095576030432h", KW_PARSE_OVERFLOW);

	uint_case("6", 1, 127, KW_PARSE_OK, 6);
	uint_case("127", 1, 127, KW_PARSE_OK, 127);
	uint_case("1", 1, 127, KW_PARSE_OK, 1);
	uint_case("0", 1, 127, KW_PARSE_RANGE, 0);
	uint_case("128", 1, 127, KW_PARSE_RANGE, 0);
	uint_case("-1", 1, 127, KW_PARSE_NEGATIVE, 0);
	uint_case("6s", 1, 127, KW_PARSE_NOT_NUMBER, 0);
	uint_case("", 1, 127, KW_PARSE_EMPTY, 0);
	uint_case("x", 1, 127, KW_PARSE_NOT_NUMBER, 0);
	uint_case("99999999999999999999999", 1, 127, KW_PARSE_RANGE, 0);

	tap_is_u64(kw_ms_round_up_to_s(1500), 2, "1500 ms rounds up to 2 s");
	tap_is_u64(kw_ms_round_up_to_s(1000), 1, "1000 ms is 1 s");
	tap_is_u64(kw_ms_round_up_to_s(1), 1, "1 ms rounds up to 1 s");
	tap_is_u64(kw_ms_round_up_to_s(0), 0, "0 ms is 0 s");
	tap_is_u64(kw_ms_round_up_to_s(59001), 60, "59001 ms rounds up to 60 s");
	return tap_done();
}
