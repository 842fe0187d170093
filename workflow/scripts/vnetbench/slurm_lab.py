"""A real one-node SLURM cluster (Debian's munge and slurm-wlm), started and stopped by pid:
the SLURM profile's embedded lab, as the namespaces are the testbed's, so that profiles/slurm is
tried on one machine (tests/test_slurm.py, bench/slurm_overhead.py).

No accounting database: the executor plugin is told to poll with squeue, and
MinJobAge keeps finished jobs visible long enough for it. The config must live at
/etc/slurm/slurm.conf (the plugin's job step clears SLURM_CONF); an existing one is
put back at stop.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")

_CONF = """\
ClusterName=vnetbench
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=300
ReturnToService=2
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
SlurmctldDebug=info
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class SlurmError(Exception):
    pass


def available() -> bool:
    return all(shutil.which(tool) for tool in ("munged", "slurmctld", "slurmd", "sbatch", "squeue"))


class OneNodeSlurm:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.host = socket.gethostname().split(".")[0]
        self.processes: list[subprocess.Popen] = []
        self._saved_conf: bytes | None = None

    @property
    def ctld_log(self) -> Path:
        return self.directory / "slurmctld.log"

    def start(self) -> None:
        for sub in ("state", "spool"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        if SLURM_CONF.exists():
            self._saved_conf = SLURM_CONF.read_bytes()
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(
            _CONF.format(
                host=self.host,
                dir=self.directory,
                cpus=os.cpu_count(),
                memory_mb=_memory_mb(),
                ctld_port=6817,
                d_port=6818,
            )
        )
        try:
            run_dir = Path("/run/munge")
            run_dir.mkdir(exist_ok=True)
            shutil.chown(run_dir, "munge", "munge")
            self._spawn(["runuser", "-u", "munge", "--", "munged", "-F"], "munged")
            self._wait("munge", lambda: _ok(["sh", "-c", "munge -n | unmunge"]))
            self._spawn(["slurmctld", "-D", "-i"], "slurmctld")
            self._wait("slurmctld", lambda: "UP" in _out(["scontrol", "ping"]))
            self._spawn(["slurmd", "-D"], "slurmd")
            self._wait("slurmd", lambda: _out(["sinfo", "-h", "-N", "-o", "%t"]).strip() == "idle")
        except BaseException:
            self.stop()
            raise

    def _spawn(self, argv: list[str], name: str) -> None:
        log = open(self.directory / f"{name}.out", "ab")  # noqa: SIM115 (lives as long as the process)
        self.processes.append(
            subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        log.close()

    def _wait(self, what: str, ready, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise SlurmError(f"{what} not ready after {timeout} s; see {self.directory}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop every daemon we started, newest first, by pid; put back the old slurm.conf."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()
        if self._saved_conf is not None:
            SLURM_CONF.write_bytes(self._saved_conf)
        else:
            SLURM_CONF.unlink(missing_ok=True)

    def jobs_completed(self) -> list[str]:
        """Job ids slurmctld reports as done, read from its own log."""
        text = self.ctld_log.read_text(errors="replace") if self.ctld_log.exists() else ""
        return [
            line.split("JobId=")[1].split()[0]
            for line in text.splitlines()
            if "_job_complete: JobId=" in line and "done" in line
        ]


def _memory_mb() -> int:
    """What slurmd will find, less a margin (it refuses a node claiming more than it has)."""
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kb = int(next(line for line in meminfo if line.startswith("MemTotal:")).split()[1])
    return max(1024, total_kb // 1024 - 1024)


def _ok(argv: list[str]) -> bool:
    return subprocess.run(argv, capture_output=True).returncode == 0


def _out(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True).stdout
