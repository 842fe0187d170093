"""Preflight: check every host of the selected platforms once, before any cell.

For each host: reachable over SSH with the configured key and a known host key,
netperf and netserver present, and the same netperf version on both ends of a
platform. On each server it starts netserver, then proves the data path with a
one-transaction netperf. Every problem is collected, so one run names them all.
"""

from . import load, netperf, netserver
from .errors import VnetbenchError
from .hosts import HostError, open_session, shell
from .model import LOAD_TESTS, Experiment, Host, Platform, concurrent, split_test
from .records import utc_now

# $1: the server's data address. On the server it is local (the interface holding it);
# on the client, the route to it names the interface the data leaves by.
_FACTS = r"""
address=$1; shift
echo "kernel=$(uname -r)"
echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "tcp_congestion_control=$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null)"
echo "rmem_max=$(cat /proc/sys/net/core/rmem_max 2>/dev/null)"
echo "wmem_max=$(cat /proc/sys/net/core/wmem_max 2>/dev/null)"
dev=$(ip -o addr show to "$address" 2>/dev/null | awk '{print $2; exit}')
[ -n "$dev" ] || dev=$(ip -o route get "$address" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p')
if [ -n "$dev" ]; then
  echo "data_interface=$dev"
  echo "mtu=$(cat /sys/class/net/"$dev"/mtu 2>/dev/null)"
  echo "qdisc=$(tc qdisc show dev "$dev" 2>/dev/null | head -n 1)"
fi
echo "local_ports=$(awk '{print $2 - $1 + 1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)"
echo "mem_available_kb=$(sed -n 's/^MemAvailable: *\([0-9]*\).*/\1/p' /proc/meminfo)"
rmem=$(awk '{print $3}' /proc/sys/net/ipv4/tcp_rmem) wmem=$(awk '{print $3}' /proc/sys/net/ipv4/tcp_wmem)
echo "tcp_buffer_max=$((rmem + wmem))"
# A netperf built without demo mode says so at -D (as Flent checks) and goes on without interim
# results.
# RRUL's probes run at real-time priority (probe_priority): it takes root, or CAP_SYS_NICE.
chrt -f 1 true >/dev/null 2>&1 && echo "realtime=yes" || echo "realtime=no"
echo "cpus=$(nproc 2>/dev/null)"
if command -v "$1" >/dev/null 2>&1; then
  demo=yes
  "$1" -D 1 -h 2>&1 | grep -q "Demo Mode not configured" && demo=no
  echo "demo_mode=$demo"
fi
for binary in "$@"; do
  if command -v "$binary" >/dev/null 2>&1; then
    echo "version $binary=$("$binary" -V 2>&1 | head -n 1)"
  else
    echo "missing $binary"
  fi
done
"""


class PreflightFailed(VnetbenchError):
    def __init__(self, problems: list[str]):
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"preflight found {len(problems)} problem(s):\n{lines}")
        self.problems = problems


_FACT_KEYS = (
    "kernel",
    "cpu_model",
    "tcp_congestion_control",
    "rmem_max",
    "wmem_max",
    "data_interface",
    "mtu",
    "qdisc",
    "local_ports",
    "mem_available_kb",
    "tcp_buffer_max",
    "demo_mode",
    "realtime",
    "cpus",
)


def host_facts(session, host: Host, data_address: str) -> tuple[dict, list[str]]:
    """What provenance needs of one host (kernel, CPU, netperf versions, the data interface's
    MTU and qdisc, TCP congestion control, socket buffer limits), and what is wrong with it."""
    argv = shell(_FACTS, data_address, host.netperf, host.netserver)
    result = session.run(argv, timeout=host.connect_timeout + 10)
    facts, problems = {"target": host.target}, []
    for line in result.output.splitlines():
        key, _, value = line.partition("=")
        if key in _FACT_KEYS:
            facts[key] = value
        elif line.startswith("missing "):
            problems.append(f"{host.name} ({host.target}): {line.split(' ', 1)[1]} not found")
        elif line.startswith("version "):
            binary, _, text = line[len("version ") :].partition("=")
            role = "netperf_version" if binary == host.netperf else "netserver_version"
            try:
                facts[role] = netperf.parse_version(text)
            except netperf.NetperfOutputError:
                problems.append(f"{host.name} ({host.target}): {binary} -V printed {text!r}")
    return facts, problems


def check_data_path(session, client: Host, server: Host) -> str | None:
    """One TCP_RR transaction from client to server; a problem text, or None."""
    argv = [client.netperf, "-P", "0", "-H", server.address, "-p", str(server.netserver_port)]
    port = ["-P", f",{server.data_port}"] if server.data_port is not None else []  # published by NAT
    argv += ["-t", "TCP_RR", "-l", "-1", "--", *port, "-k", "TRANSACTION_RATE"]
    result = session.run(["timeout", "-s", "KILL", "10", *argv], timeout=15)
    if result.exit_code != 0 or "TRANSACTION_RATE=" not in result.output:
        return (
            f"{client.name} cannot reach netserver at {server.address}:{server.netserver_port}"
            f" (exit {result.exit_code}): {result.output.strip()[:300]}"
        )
    return None


def run(experiment: Experiment, platforms: list[Platform] | None = None) -> dict:
    """Check every host of `platforms` (default: all) and return the report;
    PreflightFailed lists every problem."""
    report = {"checked_at": utc_now(), "hosts": {}, "platforms": {}, "problems": []}
    problems = report["problems"]
    for platform in experiment.platforms.values() if platforms is None else platforms:
        sessions = {}
        try:
            for host in (platform.client, platform.server):
                sessions[host.name] = session = open_session(host)
                try:
                    facts, host_problems = host_facts(session, host, platform.server.address)
                except HostError as error:
                    problems.append(str(error))
                    continue
                report["hosts"][host.name] = facts
                problems.extend(host_problems)
            client_facts = report["hosts"].get(platform.client.name, {})
            server_facts = report["hosts"].get(platform.server.name, {})
            ends = (client_facts.get("netperf_version"), server_facts.get("netserver_version"))
            if None in ends:
                continue  # a host is unreachable or lacks a binary: already a problem
            if ends[0] != ends[1]:
                problems.append(
                    f"platform {platform.name}: netperf {ends[0]} on the client but netserver"
                    f" {ends[1]} on the server; both ends must run the same version"
                )
                continue
            problems.extend(concurrency_problems(experiment, platform, client_facts, server_facts))
            probes = experiment.probe_priority if experiment.realtime_probes else None
            status = _prepare_server(sessions, platform, probes)
            report["platforms"][platform.name] = status
            if status.get("problem"):
                problems.append(status["problem"])
        finally:
            for session in sessions.values():
                session.close()
    if problems:
        raise PreflightFailed(problems)
    return report


def concurrency_problems(experiment: Experiment, platform: Platform, client: dict, server: dict) -> list[str]:
    """Whether the hosts can serve the experiment's most concurrent cell (vnetbench.load): demo
    mode in the client's netperf, a local port for each netperf's control and data connection,
    and memory for every connection's largest socket buffers at both ends (tcp_rmem and tcp_wmem
    maxima, the most autotuning may take)."""
    tests = [f.test for f in experiment.figures.values() if concurrent(f.test)]
    if not tests:
        return []
    test = max(tests, key=load.concurrent_netperfs)
    netperfs = load.concurrent_netperfs(test)
    problems = []
    if client.get("demo_mode") == "no":
        problems.append(
            f"platform {platform.name}: {test} needs netperf's interim results, but the client's netperf"
            " has no demo mode (-D): build it with --enable-demo (Debian's netperf has it)"
        )
    if experiment.realtime_probes:
        for role, facts in (("client", client), ("server", server)):
            if facts.get("realtime") == "no":
                problems.append(
                    f"platform {platform.name}: RRUL's probes run at real-time priority"
                    f" (probe_priority: {experiment.probe_priority}), which the {role} refuses"
                    " (chrt -f needs root or CAP_SYS_NICE): run there as root, or probe_priority: null"
                )
    cpus = experiment.probe_cpus
    if cpus is not None and any(split_test(t)[0] in LOAD_TESTS for t in tests):
        for role, facts in (("client", client), ("server", server)):
            have = int(facts.get("cpus") or 0)
            if have and max(cpus) >= have:
                problems.append(
                    f"platform {platform.name}: RRUL's probes are bound to CPUs {cpus[0]} and {cpus[1]}"
                    f" (probe_cpus), but the {role} has {have} (0 to {have - 1}): other probe_cpus, or null"
                )
    ports = int(client.get("local_ports") or 0)
    if ports and 2 * netperfs > ports:
        problems.append(
            f"platform {platform.name}: {test} opens {2 * netperfs} connections at once, but the client has"
            f" {ports} local ports (net.ipv4.ip_local_port_range)"
        )
    for role, facts in (("client", client), ("server", server)):
        buffers, available = int(facts.get("tcp_buffer_max") or 0), int(facts.get("mem_available_kb") or 0)
        needed_kb = netperfs * buffers // 1024
        if available and needed_kb > available:
            problems.append(
                f"platform {platform.name}: {test}'s {netperfs} connections may take {needed_kb // 1024} MB"
                f" of socket buffers on the {role} (tcp_rmem + tcp_wmem maxima), which has"
                f" {available // 1024} MB available: fewer flows, or smaller net.ipv4.tcp_rmem/tcp_wmem"
                " maxima"
            )
    return problems


def _prepare_server(sessions: dict, platform, probe_priority: int | None) -> dict:
    client, server = platform.client, platform.server
    try:
        status = {"netserver": netserver.ensure(sessions[server.name], server)}
        if probe_priority is not None:
            status["probes_netserver"] = netserver.ensure(
                sessions[server.name], server.probes_netserver(), priority=probe_priority
            )
        problem = check_data_path(sessions[client.name], client, server)
    except HostError as error:
        return {"problem": f"platform {platform.name}: {error}"}
    if problem:
        status["problem"] = f"platform {platform.name}: {problem}"
    return status


def stop_netservers(experiment: Experiment) -> list[str]:
    """Stop every netserver the run started; returns what was done, problems included."""
    done, seen = [], set()
    for platform in experiment.platforms.values():
        servers = [platform.server]
        if experiment.realtime_probes:
            servers.append(platform.server.probes_netserver())
        for server in servers:
            if netserver.pidfile(server) in seen:  # the pid file names host and port: one stop each
                continue
            seen.add(netserver.pidfile(server))
            session = open_session(server)
            try:
                done.append(f"{server.name}: {netserver.stop(session, server) or 'nothing to stop'}")
            except HostError as error:
                done.append(f"{server.name}: could not stop netserver: {error}")
            finally:
                session.close()
    return done
