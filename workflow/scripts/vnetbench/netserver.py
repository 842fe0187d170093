"""Starting and stopping netserver on a server host, by pid.

netserver has no pid-file option, so it runs in the foreground (-D) under
setsid and we keep its pid in a file on that host. A pid is only ever killed
after checking that it still belongs to a netserver.
"""

from .hosts import HostError, shell
from .model import Host

# Seconds a new netserver may take to listen: an emulated (TCG) guest on a busy machine is slow.
LISTEN_TIMEOUT = 30

# A pid counts only while it is a live netserver: a killed one lingers as a
# zombie, with its name, until init reaps it.
_ALIVE = r"""
alive() {
  [ "$(cat /proc/"$1"/comm 2>/dev/null)" = netserver ] &&
    [ "$(awk '/^State:/ {print $2}' /proc/"$1"/status 2>/dev/null)" != Z ]
}
"""

_START = (
    _ALIVE
    + r"""
wait=$1; pidfile=$2; priority=$3; shift 3
if [ -s "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if alive "$pid"; then echo "running $pid"; exit 0; fi
fi
command -v "$1" >/dev/null 2>&1 || { echo "$1: not found"; exit 127; }
# A real-time one (RRUL's probes): chrt, then netserver, in the same process.
if [ -n "$priority" ]; then
  setsid chrt -f "$priority" "$@" </dev/null >/dev/null 2>&1 &
else
  setsid "$@" </dev/null >/dev/null 2>&1 &
fi
pid=$!
echo "$pid" >"$pidfile"
# Started is not listening: a slow host (an emulated guest) takes a while. Ready means that
# a socket of this very process is in LISTEN state (0A) on the port (another program's
# listener on a busy port must not count).
port=$(printf '%04X' "$4")
listening() {
  for inode in $(awk -v p=":$port" 'toupper($2) ~ p"$" && $4 == "0A" {print $10}' \
      /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
    for fd in /proc/"$pid"/fd/*; do
      [ "$(readlink "$fd" 2>/dev/null)" = "socket:[$inode]" ] && return 0
    done
  done
  return 1
}
# Not yet `alive`: until it has exec'd, the child is a copy of this shell.
running() {
  state=$(awk '/^State:/ {print $2}' /proc/"$pid"/status 2>/dev/null)
  [ -n "$state" ] && [ "$state" != Z ]
}
tries=0
while [ "$tries" -lt $((wait * 10)) ]; do
  running || break
  if listening; then echo "started $pid"; exit 0; fi
  sleep 0.1
  tries=$((tries + 1))
done
if running; then
  kill -9 "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null  # its group: setsid made it a leader
  rm -f "$pidfile"
  echo "netserver $pid started but was not listening on port $4 after $wait s; stopped it"
  exit 1
fi
rm -f "$pidfile"
echo "netserver exited at once: is port $4 in use on this host?"
exit 1
"""
)

_STOP = (
    _ALIVE
    + r"""
pidfile=$1
[ -s "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
if alive "$pid"; then
  kill "$pid" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do alive "$pid" || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  echo "stopped $pid"
fi
rm -f "$pidfile"
"""
)


class NetserverError(HostError):
    """netserver could not be started."""


def pidfile(host: Host) -> str:
    # Testbed hosts share one filesystem, and two testbeds use the same data
    # addresses: the SSH address (unique per testbed) is part of the name too.
    return f"/tmp/vnetbench-netserver-{host.ssh_host}-{host.bind_address}-{host.netserver_port}.pid"


def ensure(session, host: Host, listen_timeout: int = LISTEN_TIMEOUT, priority: int | None = None) -> str:
    """Start netserver on `host` unless ours is already running, and wait until it listens;
    returns what happened. `priority`: run it, and so every test it serves, at this SCHED_FIFO
    priority (RRUL's probes). NetserverError when it cannot start or never listens."""
    argv = shell(
        _START,
        str(listen_timeout),
        pidfile(host),
        "" if priority is None else str(priority),
        host.netserver,
        "-D",
        "-p",
        str(host.netserver_port),
        "-L",
        host.bind_address,
    )
    result = session.run(argv, listen_timeout + 10)
    if result.exit_code != 0:
        raise NetserverError(
            host, f"could not start netserver (exit {result.exit_code})", result.command, result.output
        )
    return result.output.strip()


def stop(session, host: Host, timeout: float = 10.0) -> str:
    """Stop the netserver we started on `host`, if any."""
    return session.run(shell(_STOP, pidfile(host)), timeout).output.strip()
