/* Wrap-safe sequence arithmetic, in particular across 2^32. */
#include "core/seq.h"
#include "tests/tap.h"

int main(void)
{
	tap_ok(seq_lt(1, 2) && !seq_lt(2, 1) && !seq_lt(5, 5), "lt on small numbers");
	tap_ok(seq_lt(0xfffffff0u, 0x10u), "0xfffffff0 is before 0x10 (across the wrap)");
	tap_ok(seq_gt(0x10u, 0xfffffff0u), "0x10 is after 0xfffffff0");
	tap_ok(seq_leq(0xffffffffu, 0xffffffffu) && seq_geq(0, 0), "leq/geq are reflexive");
	tap_ok(seq_lt(0xffffffffu, 0) && seq_succ(0xffffffffu) == 0, "succ wraps to 0 and stays after");
	tap_ok(seq_pred(0) == 0xffffffffu && seq_lt(seq_pred(0), 0), "pred wraps to 0xffffffff");
	tap_ok(seq_add(0xfffffffeu, 5) == 3, "add wraps");
	tap_ok(seq_diff(3, 0xfffffffeu) == 5 && seq_diff(0xfffffffeu, 3) == -5,
	       "signed distance across the wrap");
	tap_ok(seq_in_range(0, 0xfffffff0u, 0x10u) && seq_in_range(0xfffffff0u, 0xfffffff0u, 0x10u) &&
	       !seq_in_range(0x10u, 0xfffffff0u, 0x10u), "range across the wrap is half-open");
	tap_ok(!seq_in_range(7, 7, 7), "an empty range contains nothing");
	tap_ok(seq_max(0xfffffff0u, 0x10u) == 0x10u && seq_min(0xfffffff0u, 0x10u) == 0xfffffff0u,
	       "max/min across the wrap");
	tap_ok(seq_lt(0x7ffffffeu, 0xfffffffdu) && seq_gt(0, 0x80000001u),
	       "comparisons hold up to 2^31 - 1 apart");
	/* A raw '<' would get this wrong: the wrap-safe one must not. */
	{
		seq_t una = 0xffffff00u, ack = 0x00000100u;
		tap_ok(seq_gt(ack, una) && !(ack > una), "an ACK after the wrap is newer (raw > is wrong)");
	}
	return tap_done();
}
