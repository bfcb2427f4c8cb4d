#!/usr/bin/env bash
# Start an sshd for the virtops test bed, so the integration tests can reach
# the local libvirtd the way a remote hypervisor is reached:
#   qemu+ssh://root@127.0.0.1:PORT/system?keyfile=DIR/id_ed25519&no_verify=1
#
# It listens on 127.0.0.1 only, in the root network namespace, with its own
# config, host key and client key pair under DIR (made once, then reused);
# root may log in with that key only (no password, no PAM, no forwarding, no
# tty). The remote side of libvirt's ssh transport is virt-ssh-helper (package
# libvirt-daemon), which forwards to the local libvirtd's unix socket.
# The Debian service scripts are never used (no systemd here): this runs
# /usr/sbin/sshd -f DIR/sshd_config itself.
#
# Idempotent: exits at once when our sshd already answers with the current
# config. Writes DIR/libvirt-uri (the URI above) for the tests.
# Options: --stop  stop the sshd started here (pid file DIR/sshd.pid).
# Env: VIRTOPS_SSH_PORT (default 2222), VIRTOPS_SSH_DIR (default /var/lib/virtops/ssh),
#      VIRTOPS_NETNS (default virtops; this script refuses to run inside it).
set -euo pipefail

PORT=${VIRTOPS_SSH_PORT:-2222}
DIR=${VIRTOPS_SSH_DIR:-/var/lib/virtops/ssh}
NETNS=${VIRTOPS_NETNS:-virtops}
ADDR=127.0.0.1
CONFIG=$DIR/sshd_config
PIDFILE=$DIR/sshd.pid
LOG=$DIR/sshd.log
HOST_KEY=$DIR/ssh_host_ed25519_key
CLIENT_KEY=$DIR/id_ed25519
URI="qemu+ssh://root@$ADDR:$PORT/system?keyfile=$CLIENT_KEY&no_verify=1"
me=start_sshd.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "$me: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
case $PORT in
  ''|*[!0-9]*) die "VIRTOPS_SSH_PORT must be a port number, not '$PORT'" ;;
esac
if [ "$PORT" -lt 1024 ] || [ "$PORT" -gt 65535 ]; then
  die "VIRTOPS_SSH_PORT must be between 1024 and 65535"
fi
for cmd in ssh ssh-keygen ss virsh virt-ssh-helper; do
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found; run tests/testbed/install_system.sh first"
done
[ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd not found; run tests/testbed/install_system.sh first"

# shellcheck source=tests/testbed/daemon_lib.sh
. "$here/daemon_lib.sh"

stop_ours() {
  local pid
  pid=$(live_pid "$PIDFILE" sshd)
  if [ -n "$pid" ]; then
    kill -TERM "$pid"
    for _ in $(seq 1 50); do
      [ -n "$(live_pid "$PIDFILE" sshd)" ] || break
      sleep 0.1
    done
  fi
  rm -f "$PIDFILE"
  [ -z "$pid" ] || echo "$me: stopped sshd (pid $pid)"
}

if [ "${1:-}" = --stop ]; then
  stop_ours
  exit 0
fi
[ $# -eq 0 ] || die "unknown option '$1' (only --stop)"

# The client (virsh, Ansible) runs in the root namespace; an sshd inside the
# libvirt namespace would be unreachable from there.
self_ns=$( (readlink /proc/self/ns/net || true) | tr -dc '0-9')
netns_ino=$(stat -L -c %i "/run/netns/$NETNS" 2>/dev/null || true)
if [ -n "$netns_ino" ] && [ "$self_ns" = "$netns_ino" ]; then
  die "running inside netns '$NETNS'; run this in the root network namespace"
fi

start=$(date +%s%N)
install -d -m 0700 "$DIR"

# keys: made once, reused (a stable host key keeps known_hosts entries valid)
[ -s "$HOST_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C virtops-testbed-host -f "$HOST_KEY"
[ -s "$CLIENT_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C virtops-testbed-client -f "$CLIENT_KEY"

config="# virtops test bed sshd (tests/testbed/start_sshd.sh); loopback only
Port $PORT
ListenAddress $ADDR
HostKey $HOST_KEY
PidFile $PIDFILE
AuthorizedKeysFile $DIR/authorized_keys
AllowUsers root
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
PermitTTY no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PermitUserEnvironment no
PrintMotd no
MaxStartups 20:30:100
LogLevel INFO"
authorized="restrict $(cat "$CLIENT_KEY.pub")"

same() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
write() {
  printf '%s\n' "$2" >"$1.tmp"
  chmod 0600 "$1.tmp"
  mv -f "$1.tmp" "$1"
}
probe() {
  ssh -F /dev/null -i "$CLIENT_KEY" -p "$PORT" -o BatchMode=yes -o IdentitiesOnly=yes \
      -o UserKnownHostsFile="$DIR/known_hosts" -o StrictHostKeyChecking=yes \
      -o ConnectTimeout=5 "root@$ADDR" true </dev/null >/dev/null 2>&1
}

write "$DIR/known_hosts" "[$ADDR]:$PORT $(cut -d' ' -f1,2 "$HOST_KEY.pub")"
pid=$(live_pid "$PIDFILE" sshd)
if [ -n "$pid" ] && same "$CONFIG" "$config" && same "$DIR/authorized_keys" "$authorized" && probe; then
  write "$DIR/libvirt-uri" "$URI"
  echo "$me: sshd already answering on $ADDR:$PORT (pid $pid); URI: $URI"
  exit 0
fi

# the port must be free, or held by our own sshd (about to be restarted)
if ss -ltnH "sport = :$PORT" | grep -q .; then
  if [ -z "$pid" ] || ! ss -ltnpH "sport = :$PORT" | grep -q "pid=$pid,"; then
    die "port $PORT is in use by another program; set VIRTOPS_SSH_PORT to a free port"
  fi
fi
[ -z "$pid" ] || stop_ours
write "$CONFIG" "$config"
write "$DIR/authorized_keys" "$authorized"
write "$DIR/libvirt-uri" "$URI"

# sshd's privilege separation directory (normally made by the service script)
install -d -m 0755 /run/sshd
/usr/sbin/sshd -t -f "$CONFIG" || die "sshd rejects $CONFIG"
/usr/sbin/sshd -f "$CONFIG" -E "$LOG" || die "sshd failed to start; see $LOG"

for _ in $(seq 1 50); do
  probe && break
  sleep 0.1
done
if ! probe; then
  tail -n 5 "$LOG" >&2 2>/dev/null || true
  if grep -q '^root:!' /etc/shadow 2>/dev/null; then
    die "root's password is locked ('!' in /etc/shadow), and sshd without PAM refuses locked accounts even for key logins"
  fi
  die "cannot log in to root@$ADDR:$PORT with $CLIENT_KEY; see $LOG"
fi
# libvirt over ssh (virt-ssh-helper on the remote side) must answer too
virsh -q -c "$URI" version >/dev/null 2>&1 \
  || die "sshd answers but 'virsh -c $URI version' fails (is libvirtd running? start_daemons.sh)"

ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "$me: sshd started on $ADDR:$PORT (pid $(live_pid "$PIDFILE" sshd)) in ${ms} ms; URI: $URI"
