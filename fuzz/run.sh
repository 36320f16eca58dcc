#!/bin/sh
# `make fuzz`: build the libFuzzer targets with clang straight from the
# sources (not the libtool libraries, which are built without coverage
# instrumentation) and run each for FUZZ_SECONDS on a copy of its seed
# corpus. Fails, naming the crash files, if a target finds anything.
#
# From the Makefile: FUZZ_CC, FUZZ_CFLAGS, FUZZ_CPPFLAGS, FUZZ_SECONDS,
# FUZZ_TARGETS (names: config stack listener), FUZZ_SRCDIR, FUZZ_WORKDIR, and
# FUZZ_SOURCES_<name>: the sources of each target, relative to FUZZ_SRCDIR
# (headers may be among them: only the .c files are compiled).
set -u

cc=${FUZZ_CC:-clang}
seconds=${FUZZ_SECONDS:-60}
srcdir=${FUZZ_SRCDIR:-.}
work=${FUZZ_WORKDIR:-fuzz-work}
targets=${FUZZ_TARGETS:-config stack listener}

mkdir -p "$work" || exit 1

# Can this compiler build and link a libFuzzer target at all?
probe="$work/probe"
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
	>"$probe.c"
if ! command -v "$cc" >/dev/null 2>&1 ||
   ! $cc $FUZZ_CFLAGS "$probe.c" -o "$probe" >"$probe.log" 2>&1 ||
   ! "$probe" -runs=1 >>"$probe.log" 2>&1; then
	echo "fuzz: clang with libFuzzer not found, skipping"
	exit 0
fi

status=0
for t in $targets; do
	eval "sources=\${FUZZ_SOURCES_$t:-}"
	if test -z "$sources" || ! test -d "$srcdir/fuzz/corpus/$t"; then
		echo "fuzz: unknown target $t" >&2
		exit 1
	fi
	dir="$work/$t"
	rm -rf "$dir"
	mkdir -p "$dir/corpus" "$dir/artifacts" || exit 1
	paths=
	for s in $sources; do
		case $s in *.c) paths="$paths $srcdir/$s";; esac
	done
	echo "fuzz: building fuzz-$t"
	# shellcheck disable=SC2086
	if ! $cc $FUZZ_CPPFLAGS $FUZZ_CFLAGS $paths -o "$dir/fuzz-$t"; then
		echo "fuzz: fuzz-$t does not build" >&2
		exit 1
	fi
	# A copy: the source tree's corpus is never written.
	cp "$srcdir/fuzz/corpus/$t/"* "$dir/corpus/" || exit 1
	echo "fuzz: running fuzz-$t for ${seconds}s (log: $dir/fuzz.log)"
	"$dir/fuzz-$t" -seed=1 -max_total_time="$seconds" -timeout=60 \
		-print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
		"$dir/corpus" >"$dir/fuzz.log" 2>&1
	rc=$?
	grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$dir/fuzz.log" | sed "s/^/fuzz-$t: /"
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
		"$dir/fuzz.log" | sed "s/^/fuzz-$t: /"
	found=$(ls "$dir/artifacts" 2>/dev/null)
	if test $rc -ne 0 || test -n "$found"; then
		status=1
		echo "fuzz: fuzz-$t FAILED (exit $rc)" >&2
		grep -E 'ERROR|invariant failed|SUMMARY' "$dir/fuzz.log" | head -n 20 >&2
		for f in $found; do
			echo "fuzz: crash file: $dir/artifacts/$f" >&2
		done
		echo "fuzz: reproduce with: $dir/fuzz-$t <crash file>" >&2
	else
		echo "fuzz: fuzz-$t: no crash"
	fi
done
exit $status
