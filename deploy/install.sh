#!/bin/sh
# Install brownout system-wide (run as root after `make`):
#   deploy/install.sh [BUILD]
# binaries to /usr/local/bin, the dashboard to /usr/local/share/brownout/web,
# the SLURM worker template to /usr/local/share/brownout/slurm,
# the configuration to /etc/brownout (kept if present), a system user
# "brownout" owning /var/lib/brownout, and the systemd unit.
set -eu
build=${1:-build}
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
install -m 0755 "$build/brownout" "$build/brownoutd" /usr/local/bin/
mkdir -p /usr/local/share/brownout
rm -rf /usr/local/share/brownout/web
cp -r web /usr/local/share/brownout/web
# the SLURM executor's default batch script (slurm-template; docs/cluster.md)
install -d -m 0755 /usr/local/share/brownout/slurm
install -m 0644 deploy/slurm/brownout-worker.sbatch /usr/local/share/brownout/slurm/
install -d -m 0755 /etc/brownout
[ -e /etc/brownout/brownoutd.conf ] || install -m 0644 deploy/brownoutd.conf /etc/brownout/
id brownout >/dev/null 2>&1 || useradd --system --home-dir /var/lib/brownout --shell /usr/sbin/nologin brownout
install -d -m 0750 -o brownout -g brownout /var/lib/brownout
install -m 0644 deploy/brownoutd.service /etc/systemd/system/
echo "installed. Next:"
echo "  sudo -u brownout brownoutd user add NAME --admin --data /var/lib/brownout"
echo "  systemctl daemon-reload && systemctl enable --now brownoutd"
