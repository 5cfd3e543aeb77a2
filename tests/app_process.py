"""Serve a test app from a process of its own, for tests that stop or restart the server.

Run as ``python -m tests.app_process`` with LMS_TEST_APP (JSON: ``database_url``, ``tmp_dir`` and
config overrides, as for ``make_test_app``) and LMS_TEST_APP_PORT in the environment; or under
gunicorn as ``tests.app_process:served_app()``, each worker building the app from LMS_TEST_APP.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT, make_test_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
