#!/bin/bash
# Run each libFuzzer target for a set time, one after the other.
#   tests/fuzz/run.sh BUILD SECONDS TARGET...
# BUILD/fuzz/fuzz_T is fuzzed from the seeds in tests/fuzz/corpus/T plus
# what earlier runs found (BUILD/corpus/T, where new inputs go: the
# committed corpus stays small). A crash, leak, timeout or out-of-memory
# input is saved as tests/fuzz/corpus/T/{crash,leak,timeout,oom}-SHA1,
# where `make test` replays it from then on. Prints one line per target
# and fails if any target found something.
set -u
build=$1
seconds=$2
shift 2
cd "$(dirname "$0")/../.."
# the longest input worth trying, per target (a table, not a rule)
max_len() {
	case $1 in
	onnx) echo 65536 ;;
	http) echo 32768 ;;
	idx | npy) echo 16384 ;;
	cifar) echo 16384 ;; # five records of 3,073 bytes
	jobspec) echo 4096 ;;
	*) echo 4096 ;;
	esac
}
failed=""
for t in "$@"; do
	bin=$build/fuzz/fuzz_$t
	mkdir -p "$build/corpus/$t" "$build/fuzz-logs"
	log=$build/fuzz-logs/$t.log
	dict=()
	[ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
	echo "=== fuzz $t for ${seconds}s (log: $log)"
	"$bin" "$build/corpus/$t" "tests/fuzz/corpus/$t" "${dict[@]}" \
		-max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=2048 \
		-timeout=60 -artifact_prefix="tests/fuzz/corpus/$t/" -print_final_stats=1 \
		>"$log" 2>&1
	rc=$?
	grep -E '^#[0-9]+[[:space:]]+(DONE|pulse)' "$log" | tail -1
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" |
		tr '\n' ' '
	echo
	if [ $rc -ne 0 ]; then
		grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
		failed="$failed $t"
	fi
done
[ -n "$failed" ] && echo "fuzz: found problems in:$failed (inputs saved in tests/fuzz/corpus/)"
[ -z "$failed" ]
