"""Serve a test app from a process of its own, for tests that stop or restart the server.

Run as ``python -m tests.app_process`` with LMS_TEST_APP (JSON: ``database_url``, ``tmp_dir`` and
config overrides, as for ``make_test_app``) and LMS_TEST_APP_PORT in the environment; or under
gunicorn as ``tests.app_process:served_app()``, each worker building the app from LMS_TEST_APP.
"""

import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import ROOT, make_test_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(size: int = 100) -> int:
    """The first of ``size`` loopback ports none of which is bound now, for a set of servers that bind
    them later (the loopback cluster). The block lies below the kernel's ephemeral range, from which
    every client connection and every ``free_port()`` takes its port: a port there may be taken
    between this choice and the server's bind (a cluster at 58100 once failed so: PostgreSQL could
    not start). And above 10080, a port browsers refuse to load."""
    rng = random.Random()
    top = (_ephemeral_low() - size) // 100
    for _ in range(200):
        base = rng.randrange(111, top) * 100
        if all(_unbound(base + n) for n in range(size)):
            return base
    raise RuntimeError(f"no block of {size} free ports below {_ephemeral_low()}")


def _unbound(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(settings: dict, port: int, log: Path) -> subprocess.Popen:
    """Start the server process and wait until it answers; its output goes to ``log``."""
    env = {**os.environ, "LMS_TEST_APP": json.dumps(settings), "LMS_TEST_APP_PORT": str(port),
           "PYTHONPATH": str(ROOT)}
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "tests.app_process"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app process exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the app process did not answer within 60 s")


def stop(process: subprocess.Popen) -> None:
    """Stop it as a restart would: at once, whatever it was doing."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


GUNICORN = Path(sys.executable).with_name("gunicorn")


@dataclass
class Served:
    """A gunicorn server answering at ``base``; its output goes to ``log``."""

    base: str
    log: Path
    process: subprocess.Popen


def wait_until_up(base: str, process: subprocess.Popen, log: Path, *, path: str = "/healthz",
                  within: float = 60) -> None:
    """Wait until ``path`` answers 200; fail with the log's tail if the server exits or never does."""
    deadline = time.monotonic() + within
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer {path} within {within} s: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}{path}", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)


@contextmanager
def served_by_gunicorn(settings: dict, tmp_path: Path, *, port: int | None = None, args: tuple = (),
                       env: dict | None = None, wait: str | None = "/healthz",
                       within: float = 60) -> Iterator[Served]:
    """gunicorn serving the test app of ``settings`` (``database_url``, config overrides; ``tmp_dir``
    defaults to ``tmp_path``) with two workers of eight threads unless ``args`` say otherwise, its
    prometheus folder ``tmp_path`` unless ``env`` names another; waits until ``wait`` answers (None:
    not at all), and stops it (terminate, then kill after 30 s) however the block ends."""
    port = port or free_port()
    log = tmp_path / "gunicorn.log"
    settings = {"tmp_dir": str(tmp_path), **settings}
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
                   "LMS_TEST_APP": json.dumps(settings), **(env or {})}
    options = list(args)
    if "-w" not in options:
        options += ["-w", "2"]
    if "--threads" not in options and "-c" not in options:
        options += ["--threads", "8"]
    with open(log, "ab") as out:
        process = subprocess.Popen([str(GUNICORN), *options, "-b", f"127.0.0.1:{port}",
                                    "tests.app_process:served_app()"],
                                   cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        if wait is not None:
            wait_until_up(base, process, log, path=wait, within=within)
        yield Served(base, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def served_app():
    """The test app for a WSGI server (gunicorn's app factory), from LMS_TEST_APP."""
    settings = json.loads(os.environ["LMS_TEST_APP"])
    return make_test_app(settings.pop("database_url"), Path(settings.pop("tmp_dir")), **settings)


def main() -> None:
    from werkzeug.serving import make_server

    settings = json.loads(os.environ["LMS_TEST_APP"])
    app = make_test_app(settings.pop("database_url"), Path(settings.pop("tmp_dir")), **settings)
    make_server("127.0.0.1", int(os.environ["LMS_TEST_APP_PORT"]), app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
