"""Heartbeats through haproxy with one app node and with two, in the same run, side by side.

A loopback cluster of its own (scripts/cluster.sh up: haproxy, two app nodes of --workers gunicorn
sync workers each, pgbouncer in transaction pooling, PostgreSQL primary + streaming replica, Redis,
the job workers); --learners learners, each enrolled with a play session and signed in; wrk drives
their real heartbeats (bench/heartbeat.lua: every beat a new (session, seq), answered "ok" or
counted as not ok) through haproxy's URL. Rounds alternate between two nodes and one (the second
taken out with ``cluster.sh stop node2`` and put back with ``start``; a run starts once the balancer
sees the change, after a short warm-up), so that load from other processes on the machine falls on
both alike. Prints, per setting: the median round's beats/s, p50 and p99; CPU time per beat of the
app nodes, the PostgreSQL primary, the replica, the rest of the cluster (haproxy, pgbouncer, Redis,
job workers) and the load generator, read from /proc over every round; the machine's busy cores
(and how many of them went to processes outside the cluster); and what bounds the figure.

Not part of the test suite: figures are printed, never asserted.

    .venv/bin/pip install -e '.[bench]'   # gunicorn
    .venv/bin/python -m bench.cluster [--learners 200] [--seconds 10] [--connections 32] [--rounds 3]
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.heartbeat import ensure_wrk, run_wrk
from tests.app_process import free_port_block

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "cluster.sh"
HZ = os.sysconf("SC_CLK_TCK")
W = 50  # the width of the report's labels
# ARCHITECTURE §10: ≈ 13,000 beats/s nationally on average, about ten times that in the weeks before the
# deadline; a province is about a thirtieth.
NATIONAL_PEAK = 13_000 * 10
PROVINCE_PEAK = NATIONAL_PEAK / 30


# ---------------------------------------------------------------- CPU time from /proc

def _processes() -> dict[int, tuple[int, float]]:
    """Every process: pid → (parent pid, CPU seconds of itself and of its children it has reaped)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        found[int(entry.name)] = (int(fields[1]), (utime + stime + cutime + cstime) / HZ)
    return found


def tree_cpu(roots: list[int], processes: dict[int, tuple[int, float]]) -> float:
    """CPU seconds of the processes ``roots`` and all their descendants (living ones, and through
    ``cutime`` those reaped already, so a backend that exits between two readings still counts)."""
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [pid for pid in roots if pid in processes]
    while todo:
        pid = todo.pop()
        total += processes[pid][1]
        todo.extend(children.get(pid, ()))
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot (/proc/stat; idle and iowait are not busy)."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / HZ, sum(values) / HZ


class Cluster:
    """A loopback cluster in a folder of its own; ``down`` in any case."""

    def __init__(self, workers: int):
        self.dir = Path(f"/tmp/lms-cluster-bench-{os.getpid()}")
        self.base = free_port_block()
        self.env = {**os.environ, "LMS_CLUSTER_DIR": str(self.dir), "LMS_CLUSTER_BASE_PORT": str(self.base),
                    "LMS_CLUSTER_WORKERS": str(workers)}
        self.url = f"http://127.0.0.1:{self.base + 80}"

    def run(self, *args: str, timeout: float = 900) -> str:
        done = subprocess.run([str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"cluster.sh {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done.stdout

    def settings(self) -> dict:
        """The nodes' environment, for a program run against the cluster as an operator would."""
        shown = dict(line.split("=", 1) for line in self.run("env").splitlines() if "=" in line)
        return {**shown, "LMS_INSTANCE_PATH": str(self.dir / "admin")}

    def balancer_has(self, node: str) -> bool:
        return f"balancer {node} UP" in self.run("status", timeout=60)

    def nodes(self, wanted: int) -> None:
        """Two nodes in rotation, or one (node2 stopped); returns once the balancer sees it so."""
        if wanted == 1:
            self.run("stop", "node2")
            until = lambda: not self.balancer_has("node2")  # noqa: E731
        else:
            self.run("start", "node2")
            until = lambda: self.balancer_has("node2")  # noqa: E731
        deadline = time.monotonic() + 60
        while not until():
            if time.monotonic() > deadline:
                raise RuntimeError("the balancer did not follow")
            time.sleep(0.5)

    def parts(self) -> dict[str, list[int]]:
        """The cluster's processes by role: pids whose process trees make up each part."""

        def pid(path: Path) -> list[int]:
            try:
                return [int(path.read_text().split()[0])]
            except (OSError, ValueError, IndexError):
                return []

        pids = self.dir / "pids"
        return {
            "app": pid(pids / "node1.pid") + pid(pids / "node2.pid"),
            "primary": pid(self.dir / "pg" / "primary" / "postmaster.pid"),
            "replica": pid(self.dir / "pg" / "replica" / "postmaster.pid"),
            "rest": (pid(pids / "haproxy.pid") + pid(self.dir / "pgbouncer" / "pgbouncer.pid") + pid(pids / "redis.pid")
                     + pid(pids / "worker-default.pid") + pid(pids / "worker-media.pid")),
        }

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each part, of the load generator (this process's reaped children) and
        of the whole machine, with the wall clock."""
        processes = _processes()
        figures = {name: tree_cpu(roots, processes) for name, roots in self.parts().items()}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        figures["wrk"] = children.ru_utime + children.ru_stime
        figures["machine"], _ = machine_busy()
        figures["wall"] = time.monotonic()
        return figures


def measure(cluster: Cluster, wrk: str, learners: Path, seconds: int, connections: int, seq_base: int) -> dict:
    """One wrk run of heartbeats through haproxy, with the CPU each part spent meanwhile."""
    env = {"BENCH_LEARNERS": str(learners), "BENCH_SEQ_BASE": str(seq_base)}
    # A stopped node's CPU is gone from the sums: read the parts as they are during the run.
    before = cluster.cpu()
    result = run_wrk(wrk, cluster.url, seconds, connections, ROOT / "bench" / "heartbeat.lua", env)
    after = cluster.cpu()
    result["cpu"] = {name: after[name] - before[name] for name in after}
    result["beats"] = result["rps"] * seconds
    return result


def prepare_learners(cluster: Cluster, count: int, out: Path) -> None:
    """``count`` learners on the cluster's database, each with a play session and a signed-in cookie
    (bench/heartbeat.py's prepare, run with the cluster's settings: migrations and reference data are
    already there, the course is imported)."""
    env = {**cluster.settings(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", f"from bench.heartbeat import prepare; from pathlib import Path; "
                           f"prepare({env!r}, {count}, Path({str(out)!r}))"], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True)  # the production settings' warnings: shown on failure only
    if done.returncode != 0:
        raise RuntimeError(f"preparing the learners failed:\n{done.stderr[-3000:]}")


def summary(runs: list[dict]) -> dict:
    """The median round's rates and latencies; CPU per beat over every round."""
    median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
    beats = sum(r["beats"] for r in runs)
    cpu = {name: sum(r["cpu"][name] for r in runs) for name in runs[0]["cpu"]}
    wall = cpu.pop("wall")
    ours = sum(cpu[name] for name in ("app", "primary", "replica", "rest", "wrk"))
    return {"rps": median["rps"], "p50": median["p50"], "p99": median["p99"],
            "failed": sum(r["non2xx"] + r["not_ok"] for r in runs), "beats": beats,
            "ms_per_beat": {name: 1000 * cpu[name] / beats for name in ("app", "primary", "replica", "rest", "wrk")},
            "busy": cpu["machine"] / wall, "others": max(0.0, cpu["machine"] - ours) / wall,
            "app_cores": cpu["app"] / wall, "rounds": [r["rps"] for r in runs]}


def report(one: dict, two: dict, args) -> None:
    cores = os.cpu_count() or 1
    rows = [
        ("beats/s (median round)", "rps", "{:>11.0f}"),
        ("p50 ms", "p50", "{:>11.1f}"),
        ("p99 ms", "p99", "{:>11.1f}"),
        ("beats not ok / failed", "failed", "{:>11d}"),
    ]
    print(f"{'':<{W}} {'one node':>11} {'two nodes':>11} {'two/one':>8}")
    for label, key, fmt in rows:
        ratio = f"{two[key] / one[key]:>8.2f}" if key in ("rps", "p50", "p99") and one[key] else ""
        print(f"{label:<{W}} {fmt.format(one[key])} {fmt.format(two[key])} {ratio}")
    print(f"{'rounds (beats/s)':<{W}} {' '.join(f'{r:.0f}' for r in one['rounds']):>11} "
          f"{' '.join(f'{r:.0f}' for r in two['rounds']):>11}")
    for label, key in (("CPU ms per beat: app nodes", "app"), ("CPU ms per beat: PostgreSQL primary", "primary"),
                       ("CPU ms per beat: replica", "replica"),
                       ("CPU ms per beat: haproxy, pgbouncer, Redis, jobs", "rest"),
                       ("CPU ms per beat: load generator", "wrk")):
        print(f"{label:<{W}} {one['ms_per_beat'][key]:>11.2f} {two['ms_per_beat'][key]:>11.2f}")
    print(f"{'cores busy: whole machine':<{W}} {one['busy']:>11.2f} {two['busy']:>11.2f}   (of {cores})")
    print(f"{'cores busy: outside this cluster':<{W}} {one['others']:>11.2f} {two['others']:>11.2f}")
    print(f"{'cores busy: app nodes':<{W}} {one['app_cores']:>11.2f} {two['app_cores']:>11.2f}")
    app_ms = (one["ms_per_beat"]["app"] + two["ms_per_beat"]["app"]) / 2
    db_ms = (one["ms_per_beat"]["primary"] + two["ms_per_beat"]["primary"]) / 2
    print(f"\nper core: an app core serves ≈ {1000 / app_ms:.0f} beats/s ({app_ms:.2f} ms of CPU a beat); the primary "
          f"spends ≈ {db_ms:.2f} ms of CPU a beat (≈ {1000 / db_ms:.0f} beats/s per database core)")
    for label, rate in (("a province at the December peak", PROVINCE_PEAK), ("the national peak", NATIONAL_PEAK)):
        print(f"sizing, {label} (≈ {rate:,.0f} beats/s, ARCHITECTURE §10): ≈ {rate * app_ms / 1000:,.0f} app cores, "
              f"≈ {rate * db_ms / 1000:,.0f} cores of database CPU on the primary (before headroom)")
    saturated = max(one["busy"], two["busy"]) >= 0.85 * cores
    if saturated:
        others = (one["others"] + two["others"]) / 2
        print(f"bound: the machine's {cores} cores, busy in both settings ({others:.1f} of them, on average, by "
              "processes outside this cluster; the load generator, nodes, pgbouncer and PostgreSQL share the "
              "rest): a second node adds workers, not cores (and, against those other processes, a larger share of the "
              "scheduler's time, so the two/one ratio says as much about the neighbours as about the nodes), so the "
              "figure is what the shared CPU allows, not what one node can serve. On separate hosts the "
              "per-core figures above are the ones to size with.")
    else:
        print(f"bound: the machine's cores were not all busy ({max(one['busy'], two['busy']):.2f} of {cores}): "
              f"the limit is the workers ({args.workers} sync workers per node, one beat each at a time) and the "
              "database's round trips, not the CPU.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers per app node")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wrk = ensure_wrk()
    cluster = Cluster(args.workers)
    print(f"cluster: haproxy → one or two app nodes × {args.workers} gunicorn sync workers, pgbouncer (transaction "
          f"pooling) → PostgreSQL primary (+ streaming replica), Redis; wrk 2 threads × {args.connections} "
          f"connections through haproxy, {args.rounds} rounds of {args.seconds} s per setting (alternating), "
          f"{args.learners} learners with one play session each; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    try:
        cluster.run("up")
        learners = cluster.dir / "learners.tsv"
        prepare_learners(cluster, args.learners, learners)
        runs: dict[int, list[dict]] = {1: [], 2: []}
        nodes, seq = 2, 0
        for n in range(args.rounds):
            for wanted in ((2, 1) if n % 2 == 0 else (1, 2)):
                if wanted != nodes:
                    cluster.nodes(wanted)
                    nodes = wanted
                seq += 1
                run_wrk(wrk, cluster.url, 2, args.connections, ROOT / "bench" / "heartbeat.lua",  # warm-up
                        {"BENCH_LEARNERS": str(learners), "BENCH_SEQ_BASE": str(seq * 1_000_000)})
                seq += 1
                runs[wanted].append(measure(cluster, wrk, learners, args.seconds, args.connections, seq * 1_000_000))
        print(f"load average {os.getloadavg()[0]:.1f} at the end\n")
        report(summary(runs[1]), summary(runs[2]), args)
    finally:
        subprocess.run([str(SCRIPT), "down"], env=cluster.env, capture_output=True, text=True, timeout=300)
    return 0


if __name__ == "__main__":
    sys.exit(main())
