/* Minimal TAP producer for keepwire's C tests: plan, ok, is, diagnostics. */
#ifndef KW_TESTS_TAP_H
#define KW_TESTS_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed;

static inline void tap_plan(int n) { printf("1..%d\n", n); fflush(stdout); }

static inline void tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

static inline int tap_ok(int cond, const char *desc)
{
	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_count, desc);
	fflush(stdout);
	return cond;
}

#define tap_diag(...) (printf("# " __VA_ARGS__), printf("\n"))

static inline int tap_is_u64(uint64_t got, uint64_t want, const char *desc)
{
	int r = tap_ok(got == want, desc);
	if (!r)
		tap_diag("  got %" PRIu64 ", want %" PRIu64, got, want);
	return r;
}

static inline int tap_is_str(const char *got, const char *want, const char *desc)
{
	int r = tap_ok(got != NULL && want != NULL && strcmp(got, want) == 0, desc);
	if (!r)
		tap_diag("  got \"%s\"\n#   want \"%s\"", got ? got : "(null)", want ? want : "(null)");
	return r;
}

/* Ends a test run without a fixed plan. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
