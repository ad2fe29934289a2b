#!/bin/bash
# A one-node SLURM cluster in one directory, for tests and for trying the
# SLURM executor out on one machine (docs/cluster.md).
#   tools/slurm-local.sh start  DIR   start munged, slurmctld, slurmd; wait until the node is idle
#   tools/slurm-local.sh stop   DIR   cancel its jobs, stop the daemons (idempotent)
#   tools/slurm-local.sh status DIR   daemons and sinfo; exit 0 if all run, 3 if not
#   tools/slurm-local.sh env    DIR   print the export lines that point sbatch & co. at it
#
# Design: everything the cluster owns lives under DIR: slurm.conf, its own
# munged (socket, key, seed, pid, log), slurmctld's state, slurmd's spool,
# logs and pid files. Nothing is written to /etc, /run or /var, no systemd,
# no cgroups (proctrack/linuxproc, task/none), and the ports are picked free
# outside the defaults (6817/6818) and the ephemeral range, so it never
# meets a real cluster or another instance of itself. Clients find the
# cluster through SLURM_CONF (the `env` command); slurm.conf names the
# munge socket (AuthInfo=socket=...), so nothing else must be exported.
# Daemons are stopped by their pid files, checked against /proc so a reused
# pid is never signalled; a batch step whose slurmd is gone (slurmstepd
# survives its slurmd) is found by the log file it holds open.
# Environment: SLURM_LOCAL_TIMEOUT (seconds start waits, default 30).
set -euo pipefail

usage() {
	echo "usage: $0 start|stop|status|env DIR" >&2
	exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
[ -n "$2" ] || usage
dir=$(realpath -m -- "$2")
conf="$dir/slurm.conf"
timeout=${SLURM_LOCAL_TIMEOUT:-30}
node=localhost

die() {
	echo "slurm-local: $*" >&2
	exit 1
}

# alive PID NAME: PID is a running (not zombie) process whose command is NAME
alive() {
	local pid=$1 name=$2 stat comm
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	read -r stat 2> /dev/null < "/proc/$pid/stat" || return 1
	comm=${stat#*(}
	comm=${comm%%)*}
	# field 3 (after "comm) ") is the state; Z and X are exited
	case "${stat##*) }" in Z* | X*) return 1 ;; esac
	[ "$comm" = "$name" ]
}

# pidof_file FILE: the pid in FILE, or nothing
pidof_file() {
	if [ -r "$1" ]; then head -c 32 "$1" | tr -dc 0-9; fi
}

# daemon_alive NAME: the daemon NAME of this cluster runs
daemon_alive() {
	alive "$(pidof_file "$dir/$1.pid")" "$1"
}

# started_and_died NAME: NAME's pid file exists but its process is gone
started_and_died() {
	local pid
	pid=$(pidof_file "$dir/$1.pid")
	[ -n "$pid" ] && ! alive "$pid" "$1"
}

# stop_pid PID NAME: SIGTERM, wait up to 10 s, then SIGKILL (and wait 5 s)
stop_pid() {
	local pid=$1 name=$2 i
	alive "$pid" "$name" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$pid" "$name" || return 0
		sleep 0.1
	done
	echo "slurm-local: $name ($pid) ignored SIGTERM for 10 s; SIGKILL" >&2
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" "$name" || return 0
		sleep 0.1
	done
	echo "slurm-local: $name ($pid) did not exit" >&2
	return 1
}

# descendants PID: every process below PID (from /proc/*/stat's ppid)
descendants() {
	local parent=$1 f s pid ppid kids=()
	for f in /proc/[0-9]*/stat; do
		read -r s 2> /dev/null < "$f" || continue
		pid=${f#/proc/}
		pid=${pid%/stat}
		ppid=${s##*) }
		ppid=${ppid#* }
		ppid=${ppid%% *}
		[ "$ppid" = "$parent" ] && kids+=("$pid")
	done
	for pid in "${kids[@]}"; do
		echo "$pid"
		descendants "$pid"
	done
}

# stray_steps: slurmstepd processes of this cluster (they hold its slurmd.log)
stray_steps() {
	local c comm pid fd
	for c in /proc/[0-9]*/comm; do
		read -r comm 2> /dev/null < "$c" || continue
		[ "$comm" = slurmstepd ] || continue
		pid=${c#/proc/}
		pid=${pid%/comm}
		alive "$pid" slurmstepd || continue
		for fd in "/proc/$pid/fd/"*; do
			if [ "$(readlink "$fd" 2> /dev/null)" = "$dir/slurmd.log" ]; then
				echo "$pid"
				break
			fi
		done
	done
}

log_tails() {
	local f
	for f in munged.log slurmctld.log slurmd.log; do
		[ -s "$dir/$f" ] || continue
		echo "--- $dir/$f (last 15 lines)" >&2
		tail -n 15 "$dir/$f" >&2
	done
}

# port_free PORT: no TCP socket of this machine uses PORT locally
port_free() {
	local hex
	hex=$(printf ':%04X ' "$1")
	! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '{print $2 " "}' | grep -qF "$hex"
}

# pick_ports: two free adjacent ports in 20000-32599 (below Linux's
# ephemeral range, away from SLURM's defaults)
pick_ports() {
	local i p
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + (RANDOM % 6300) * 2))
		if port_free "$p" && port_free $((p + 1)); then
			echo "$p"
			return 0
		fi
	done
	die "no two free TCP ports found in 20000-32599"
}

write_conf() {
	local port=$1 cpus mem_kb mem user
	cpus=$(nproc)
	mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
	# slurmd drains a node whose RealMemory exceeds what it measures:
	# leave 10% (at least 256 MiB) of margin
	mem=$((mem_kb * 9 / 10240))
	[ $((mem_kb / 1024 - mem)) -ge 256 ] || mem=$((mem_kb / 1024 - 256))
	[ "$mem" -ge 1 ] || mem=1
	user=$(id -un)
	cat > "$conf.tmp" <<EOF
# written by tools/slurm-local.sh; rewritten at every start
ClusterName=brownoutlocal
SlurmctldHost=$node
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# schedule a batch job when it is submitted, not up to 3 s later
SchedulerParameters=batch_sched_delay=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=brownout Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
	mv "$conf.tmp" "$conf"
}

start_munged() {
	daemon_alive munged && return 0
	if [ ! -s "$dir/munge.key" ]; then
		if command -v mungekey > /dev/null; then
			mungekey --create --keyfile="$dir/munge.key.tmp" --force
		else
			dd if=/dev/urandom of="$dir/munge.key.tmp" bs=1024 count=1 2> /dev/null
		fi
		chmod 0600 "$dir/munge.key.tmp"
		mv "$dir/munge.key.tmp" "$dir/munge.key"
	fi
	chmod 0600 "$dir/munge.key"
	rm -f "$dir/munge.sock" "$dir/munge.sock.lock"
	munged --socket="$dir/munge.sock" --key-file="$dir/munge.key" \
		--pid-file="$dir/munged.pid" --log-file="$dir/munged.log" \
		--seed-file="$dir/munged.seed" ||
		{ log_tails; die "munged did not start"; }
}

# wait_ready: the controller answers and the node is idle (bounded)
wait_ready() {
	local deadline state=""
	deadline=$((SECONDS + timeout))
	while [ $SECONDS -lt $deadline ]; do
		# a daemon that wrote its pid file and exited has failed; one
		# that has not written it yet (it does after forking) may be starting
		started_and_died slurmctld && return 1
		started_and_died slurmd && return 1
		state=$(SLURM_CONF=$conf sinfo -h -n "$node" -o %t 2> /dev/null || true)
		[ "$state" = idle ] && return 0
		sleep 0.2
	done
	echo "slurm-local: node state after ${timeout}s: ${state:-no answer}" >&2
	return 1
}

do_start() {
	local c
	for c in slurmctld slurmd munged sinfo squeue scancel; do
		command -v "$c" > /dev/null ||
			die "$c not found: slurmctld, slurmd, slurm-client and munge are needed (Debian: apt-get install slurmctld slurmd slurm-client munge)"
	done
	# munged's socket and slurmstepd's sockets (spool/NODE_JOB.STEP) must
	# fit in sun_path (108 bytes)
	[ ${#dir} -le 70 ] || die "DIR must be at most 70 characters (unix socket paths): $dir"
	if daemon_alive munged && daemon_alive slurmctld && daemon_alive slurmd; then
		echo "slurm-local: already running in $dir"
		return 0
	fi
	mkdir -p "$dir"
	# munged refuses a socket below a directory that others cannot search
	local up=$dir
	while up=$(dirname "$up") && [ "$up" != / ]; do
		[ "$(($(stat -c 0%a "$up") & 1))" -eq 1 ] ||
			die "munged needs every directory above DIR searchable by all (chmod o+x): $up is $(stat -c %a "$up")"
	done
	# munged wants its socket's directory searchable by all and nothing
	# writable by others on the way to its key
	chmod 0755 "$dir"
	mkdir -p "$dir/state" "$dir/spool"
	chmod 0700 "$dir/state" "$dir/spool"
	start_munged
	local port t0=$SECONDS
	for _ in 1 2 3; do
		daemon_alive slurmd && stop_pid "$(pidof_file "$dir/slurmd.pid")" slurmd
		daemon_alive slurmctld && stop_pid "$(pidof_file "$dir/slurmctld.pid")" slurmctld
		port=$(pick_ports)
		write_conf "$port"
		rm -f "$dir/slurmctld.pid" "$dir/slurmd.pid"
		: > "$dir/slurmctld.log"
		: > "$dir/slurmd.log"
		# both exit non-zero on a configuration error (before they fork)
		SLURM_CONF=$conf slurmctld || break
		SLURM_CONF=$conf slurmd -N "$node" || break
		if wait_ready; then
			# jobs recovered from a controller that was killed would run
			# again (requeued): a fresh start runs nothing it was not given
			cancel_all
			echo "slurm-local: running in $dir (ports $port/$((port + 1)), node idle after $((SECONDS - t0)) s)"
			echo "slurm-local: use it with:  eval \"\$($0 env $dir)\""
			return 0
		fi
		# another process may have taken a port between the check and the bind
		grep -qs "Address already in use" "$dir/slurmctld.log" "$dir/slurmd.log" || break
	done
	log_tails
	do_stop > /dev/null 2>&1 || true
	die "the cluster in $dir did not come up (logs above)"
}

# cancel_all: cancel every job of the cluster and wait (10 s at most)
# until their batch steps are gone
cancel_all() {
	local ids i
	ids=$(SLURM_CONF=$conf squeue -h -o %A 2> /dev/null | sort -u | tr '\n' ' ' || true)
	[ -n "${ids// /}" ] || return 0
	# shellcheck disable=SC2086
	SLURM_CONF=$conf scancel $ids 2> /dev/null || true
	for ((i = 0; i < 100; i++)); do
		[ -z "$(stray_steps)" ] && return 0
		sleep 0.1
	done
}

do_stop() {
	local pid i
	# cancel every job so that no batch step outlives its slurmd
	daemon_alive slurmctld && cancel_all
	stop_pid "$(pidof_file "$dir/slurmd.pid")" slurmd
	stop_pid "$(pidof_file "$dir/slurmctld.pid")" slurmctld
	# batch steps left behind (a job cancel that did not finish in 10 s):
	# their scripts first, then the step daemons
	for pid in $(stray_steps); do
		for i in $(descendants "$pid"); do kill -KILL "$i" 2> /dev/null || true; done
		kill -KILL "$pid" 2> /dev/null || true
	done
	stop_pid "$(pidof_file "$dir/munged.pid")" munged
	rm -f "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munged.pid"
	echo "slurm-local: stopped ($dir)"
}

do_status() {
	local d rc=0
	for d in munged slurmctld slurmd; do
		if daemon_alive "$d"; then
			echo "$d: running (pid $(pidof_file "$dir/$d.pid"))"
		else
			echo "$d: stopped"
			rc=3
		fi
	done
	[ $rc -eq 0 ] && SLURM_CONF=$conf sinfo
	return $rc
}

do_env() {
	[ -f "$conf" ] || die "no cluster in $dir (run: $0 start $dir)"
	printf 'export SLURM_CONF=%q\n' "$conf"
	# the submitting shell's defaults for a real cluster would apply here too
	local v
	for v in $(compgen -e | grep -E '^(SBATCH|SALLOC|SRUN|SQUEUE|SINFO|SCANCEL|SACCT|SCONTROL)_' || true); do
		echo "unset $v"
	done
}

case "$cmd" in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
env) do_env ;;
*) usage ;;
esac
