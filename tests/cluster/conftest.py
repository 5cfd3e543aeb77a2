"""The loopback cluster (scripts/cluster.sh: haproxy, two app nodes, the workers, PostgreSQL primary
and replica, pgbouncer, Redis), started once per module from the repository alone and stopped at
its end, and what the cluster proofs share to drive it."""

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.app_process import free_port, free_port_block
from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "cluster.sh"
PYTHON = ROOT / ".venv" / "bin" / "python"


# Every cluster module: ``pytestmark = CLUSTER``.
CLUSTER = [pytest.mark.cluster,
           pytest.mark.skipif(os.environ.get("LMS_TEST_DATABASE", "sqlite") != "postgresql",
                              reason="runs in the PostgreSQL pass (the cluster has PostgreSQL of its own)")]


@pytest.fixture(autouse=True)
def db_session():
    """Nothing of the session's test database: the cluster has its own."""
    return None


@pytest.fixture(scope="module")
def cluster(request):
    """The cluster, up for the module. A module's ``CLUSTER_SETTINGS`` (a dict of environment settings,
    e.g. a shorter heartbeat, or ``LMS_CLUSTER_STORAGE``) reach every part of it, restarted parts included."""
    folder = Path(f"/tmp/lms-cluster-{os.getpid()}-{free_port()}")
    base = free_port_block()
    env = {**os.environ, **getattr(request.module, "CLUSTER_SETTINGS", {}), "LMS_CLUSTER_DIR": str(folder),
           "LMS_CLUSTER_BASE_PORT": str(base)}
    started = subprocess.run([str(SCRIPT), "up"], env=env, capture_output=True, text=True, timeout=900)
    try:
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        yield {"url": f"http://127.0.0.1:{base + 80}", "env": env, "folder": folder,
               "node": lambda n: f"http://127.0.0.1:{base + n}", "port": lambda n: base + n}
    finally:
        stopped = subprocess.run([str(SCRIPT), "down"], env=env, capture_output=True, text=True, timeout=300)
        assert stopped.returncode == 0, stopped.stderr
        assert not folder.exists()


def pid_of(cluster, name: str) -> int:
    return int((cluster["folder"] / "pids" / f"{name}.pid").read_text())


def cluster_env(cluster) -> dict:
    """The environment of the cluster's nodes (its settings from `cluster.sh env`), for scripts run
    against it as an operator would."""
    shown = subprocess.run([str(SCRIPT), "env"], env=cluster["env"], capture_output=True, text=True, check=True)
    settings = dict(line.split("=", 1) for line in shown.stdout.splitlines() if "=" in line)
    return {**cluster["env"], **settings, "LMS_INSTANCE_PATH": str(cluster["folder"] / "admin"),
            "PYTHONPATH": str(ROOT)}


def ready(cluster) -> dict:
    token = cluster_env(cluster)["LMS_METRICS_TOKEN"]
    answer = httpx.get(f"{cluster['url']}/readyz", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text  # degraded, never out of rotation
    return answer.json()


def until(condition, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.5)


def run_python(cluster, script: str, *args: str) -> str:
    """``script`` run with the cluster's settings; the last word it printed."""
    done = subprocess.run([str(PYTHON), "-c", script, *args], env=cluster_env(cluster), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()[-1]


def part(cluster, action: str, name: str) -> None:
    """``cluster.sh stop|start NAME``."""
    done = subprocess.run([str(SCRIPT), action, name], env=cluster["env"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
