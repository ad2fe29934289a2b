#!/bin/bash
# A real one-node SLURM cluster (tools/slurm-local.sh) in a temp dir:
# array jobs run and write their outputs, a job runs the brownout CLI, a
# failing job reports its exit code, scancel stops a running array,
# brownoutd with executor = slurm runs a sweep on sbatch workers to the CLI's
# numbers and cancels them (tests/slurm/test_executor.py), stop
# leaves no daemon and no job process behind. Waits poll squeue (bounded),
# never sleep blindly. Skips (exit 0, "SKIP" line with the reason) only
# where SLURM cannot run for a reason outside the project: the Debian
# packages are missing or slurmd cannot read this machine's configuration.
#   tests/slurm/test_slurm.sh BUILD
set -u
build=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
bo="$root/$build/brownout"
sl="$root/tools/slurm-local.sh"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/     /' <<<"$2"; }
skip() {
	echo "SKIP slurm: $1"
	echo "slurm: 0 passed, 0 failed (skipped)"
	exit 0
}

for c in munged slurmctld slurmd sbatch squeue scancel sinfo scontrol; do
	command -v "$c" > /dev/null ||
		skip "$c is not installed (Debian: apt-get install slurmctld slurmd slurm-client munge)"
done
if ! out=$(slurmd -C 2>&1); then
	skip "slurmd cannot read this machine's configuration (slurmd -C): $out"
fi

# short: munged's and slurmstepd's unix socket paths must fit in 108 bytes
# and munged wants every directory above its socket searchable by all
dir=$(mktemp -d /tmp/bo-slurm.XXXXXX)
chmod 0711 "$dir"
out="$dir/out"
cleanup() {
	"$sl" stop "$dir/cluster" > /dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$out"

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds
wait_for() {
	local limit=$1 deadline
	shift
	deadline=$((SECONDS + limit))
	while ! "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}
# job_done ID: no task of job ID is pending, running or completing
job_done() { [ -z "$(squeue -h -j "$1" -t PD,R,CG,CF,S 2> /dev/null)" ]; }
# states ID: the sorted distinct states of all tasks of job ID
states() { squeue -h -j "$1" -t all -o %T | sort -u | tr '\n' ' '; }
# pid_running PID: PID exists and is not a zombie
pid_running() {
	local s
	s=$(sed -n 's/^State:[[:space:]]*//p' "/proc/$1/status" 2> /dev/null)
	[ -n "$s" ] && [ "${s:0:1}" != Z ]
}
now_ms() { date +%s%3N; }

# --- start
t0=$(now_ms)
if log=$("$sl" start "$dir/cluster" 2>&1); then
	ok "cluster starts, node idle in $(($(now_ms) - t0)) ms"
else
	bad "cluster starts" "$log"
	echo "slurm: $pass passed, $fail failed"
	exit 1
fi
envout=$("$sl" env "$dir/cluster")
eval "$envout"
if [ "${SLURM_CONF:-}" = "$dir/cluster/slurm.conf" ]; then
	ok "env exports SLURM_CONF of this cluster"
else
	bad "env exports SLURM_CONF of this cluster" "$envout"
fi
if st=$("$sl" status "$dir/cluster" 2>&1) && grep -q 'brownout\*.*idle' <<<"$st"; then
	ok "status: three daemons, partition brownout idle"
else
	bad "status: three daemons, partition brownout idle" "$st"
fi
port=$(sed -n 's/^SlurmctldPort=//p' "$SLURM_CONF")
if [ -n "$port" ] && [ "$port" != 6817 ]; then
	ok "controller on its own port ($port)"
else
	bad "controller on its own port" "$(cat "$SLURM_CONF")"
fi

# --- an array job writes one file per task
t0=$(now_ms)
id=$(sbatch --parsable --array=1-3 -o "$out/array-%a.log" \
	--wrap "echo task \$SLURM_ARRAY_TASK_ID > $out/\$SLURM_ARRAY_TASK_ID" 2>&1)
if [[ "$id" =~ ^[0-9]+$ ]] && wait_for 60 job_done "$id"; then
	ms=$(($(now_ms) - t0))
	got=$(cd "$out" && for f in [0-9]*; do echo "$f: $(cat "$f")"; done)
	want=$(printf '1: task 1\n2: task 2\n3: task 3')
	if [ "$got" = "$want" ] && [ "$(states "$id")" = "COMPLETED " ]; then
		ok "array 1-3 ran each task once, all COMPLETED ($ms ms)"
	else
		bad "array 1-3 ran each task once, all COMPLETED" "$got / $(states "$id")"
	fi
else
	bad "array 1-3 finishes within 60 s" "$id $(squeue 2>&1)"
fi

# --- a job runs the CLI of this build
t0=$(now_ms)
id=$(sbatch --parsable -o "$out/version.out" -e "$out/version.err" --wrap "$bo version" 2>&1)
if [[ "$id" =~ ^[0-9]+$ ]] && wait_for 60 job_done "$id"; then
	want=$("$bo" version 2>&1)
	got=$(cat "$out/version.out" 2> /dev/null)
	if [ -n "$want" ] && [ "$got" = "$want" ] && [ "$(states "$id")" = "COMPLETED " ]; then
		ok "a job runs '$build/brownout version' ($(($(now_ms) - t0)) ms)"
	else
		bad "a job runs '$build/brownout version'" "got '$got' want '$want' $(cat "$out/version.err" 2> /dev/null)"
	fi
else
	bad "the brownout job finishes within 60 s" "$id $(squeue 2>&1)"
fi

# --- a failing job: FAILED with its exit code
id=$(sbatch --parsable -o /dev/null --wrap 'exit 3' 2>&1)
if [[ "$id" =~ ^[0-9]+$ ]] && wait_for 60 job_done "$id"; then
	ec=$(scontrol show job "$id" | grep -o ' ExitCode=[0-9:]*' | head -1)
	if [ "$(states "$id")" = "FAILED " ] && [ "$ec" = " ExitCode=3:0" ]; then
		ok "a failing job is FAILED with ExitCode=3:0"
	else
		bad "a failing job is FAILED with ExitCode=3:0" "$(states "$id") $ec"
	fi
else
	bad "the failing job finishes within 60 s" "$id"
fi

# --- scancel stops a running array job and its processes
id=$(sbatch --parsable --array=1-3 -o /dev/null \
	--wrap "echo \$\$ > $out/sleep.\$SLURM_ARRAY_TASK_ID; exec sleep 300" 2>&1)
running() { compgen -G "$out/sleep.*" > /dev/null && [ -n "$(squeue -h -j "$id" -t R)" ]; }
if [[ "$id" =~ ^[0-9]+$ ]] && wait_for 30 running; then
	pids=$(cat "$out"/sleep.* 2> /dev/null)
	t0=$(now_ms)
	scancel "$id"
	if wait_for 30 job_done "$id"; then
		ms=$(($(now_ms) - t0))
		left=""
		for p in $pids; do pid_running "$p" && left="$left $p"; done
		gone() {
			local p
			for p in $pids; do pid_running "$p" && return 1; done
			return 0
		}
		wait_for 10 gone || left="still running:$left"
		if [ "$(states "$id")" = "CANCELLED " ] && gone && [ -n "$pids" ]; then
			ok "scancel stops a running array ($ms ms; task pids ${pids//$'\n'/ } gone)"
		else
			bad "scancel stops a running array" "$(states "$id") $left"
		fi
	else
		bad "scancel ends the array within 30 s" "$(squeue 2>&1)"
	fi
else
	bad "the sleep array starts within 30 s" "$id $(squeue 2>&1)"
fi

# --- brownoutd's SLURM executor on this cluster (its own pass/fail lines)
t0=$(now_ms)
if exlog=$(/usr/bin/python3 "$root/tests/slurm/test_executor.py" "$root/$build" 2>&1); then
	if grep -q '^SKIP' <<<"$exlog"; then
		echo "$exlog"
	else
		ok "brownoutd executor = slurm ($(($(now_ms) - t0)) ms):"$'\n'"$(sed 's/^/     /' <<<"$exlog")"
	fi
else
	bad "brownoutd executor = slurm (tests/slurm/test_executor.py)" "$exlog"
fi

# --- stop with a job still running: nothing stays behind; stop twice is fine
id=$(sbatch --parsable -o /dev/null --wrap "echo \$\$ > $out/last; exec sleep 300" 2>&1)
wait_for 30 test -s "$out/last"
jobpid=$(cat "$out/last" 2> /dev/null)
daemons=$(cat "$dir"/cluster/*.pid 2> /dev/null)
"$sl" stop "$dir/cluster" > "$dir/stop1" 2>&1
rc1=$?
"$sl" stop "$dir/cluster" > "$dir/stop2" 2>&1
rc2=$?
left=""
for p in $daemons $jobpid; do pid_running "$p" && left="$left $p"; done
if [ -n "$jobpid" ] && [ "$(wc -w <<<"$daemons")" -eq 3 ] && [ -z "$left" ] &&
	[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && ! compgen -G "$dir/cluster/*.pid" > /dev/null; then
	ok "stop (twice) ends 3 daemons and the running job"
else
	bad "stop (twice) ends 3 daemons and the running job" \
		"rc $rc1 $rc2, job pid '$jobpid', daemons '${daemons//$'\n'/ }', still running '$left'"
fi
"$sl" status "$dir/cluster" > /dev/null 2>&1
rc=$?
if [ $rc -eq 3 ]; then
	ok "status after stop exits 3"
else
	bad "status after stop exits 3 (got $rc)"
fi

echo "slurm: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
