"""/metrics under real gunicorn with two workers (deploy/gunicorn.conf.py: prometheus-client's
multiprocess mode): requests that land on both workers add up exactly, whichever worker answers the
scrape, and still do after a worker is killed and replaced; the app's JSON log lines name each
request's id."""

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.app_process import served_by_gunicorn
from tests.conftest import ROOT, build_database, fresh_database, make_test_app


@pytest.fixture(scope="module")
def gunicorn_site(tmp_path_factory):
    """(base URL, the multiprocess folder, the server's log file, the process) of gunicorn -w 2 on a
    committed database, started once for this module's tests."""
    from lms.extensions import db

    tmp_path = tmp_path_factory.mktemp("gunicorn")
    instance = os.environ.get("LMS_INSTANCE_PATH")
    with fresh_database(tmp_path, "gunicorn") as url:
        built = make_test_app(url, tmp_path)
        build_database(built)
        with built.app_context():
            db.engine.dispose()
        folder = tmp_path / "prometheus"
        folder.mkdir()
        (folder / "counter_99999999.db").write_bytes(b"")  # a stale file of an earlier run: removed at start
        try:
            with served_by_gunicorn(
                    {"database_url": url}, tmp_path,
                    args=("-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "-w", "2"),
                    env={"PROMETHEUS_MULTIPROC_DIR": str(folder), "LMS_METRICS_ALLOW": "127.0.0.1",
                         "LMS_LOG_FORMAT": "json"},
                    wait="/metrics", within=90) as served:
                yield served.base, folder, served.log, served.process
        finally:
            if instance is not None:
                os.environ["LMS_INSTANCE_PATH"] = instance  # make_test_app moved it


def _scrape(base: str) -> dict:
    text = httpx.get(f"{base}/metrics", timeout=30).raise_for_status().text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _worker_pids(folder: Path) -> set[int]:
    """The workers that have answered a request: each keeps its latency histogram in its own file."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in folder.glob("histogram_*.db")}


def _burst(base: str, n: int) -> tuple[int, int]:
    """n health checks and n anonymous heartbeats, eight at a time; returns how many of each were sent."""
    def one(i):
        with httpx.Client(timeout=30) as http:  # a connection each: any worker may take it
            ok = http.get(f"{base}/healthz").status_code
            refused = http.post(f"{base}/api/v1/learning/heartbeat", json={"session_id": "x", "seq": i}).status_code
        return ok, refused

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(n)))
    assert all(answer == (200, 403) for answer in answers), answers
    return n, n


HEALTHZ = ("lms_http_request_duration_seconds_count",
           (("endpoint", "core.healthz"), ("method", "GET"), ("status", "200")))
SIGNED_OUT = ("lms_heartbeats_refused_total", (("reason", "signed_out"),))


def test_two_workers_add_up_exactly_across_a_worker_restart(gunicorn_site):
    base, folder, log, server = gunicorn_site
    assert not (folder / "counter_99999999.db").exists()
    before = _scrape(base)
    checks = beats = 0
    for _attempt in range(10):  # until both workers have answered some
        sent = _burst(base, 40)
        checks, beats = checks + sent[0], beats + sent[1]
        if len(_worker_pids(folder)) == 2:
            break
    workers = _worker_pids(folder)
    assert len(workers) == 2, f"all requests went to one worker: {workers}"

    for _scrape_again in range(4):  # whichever worker answers the scrape, the totals are everyone's
        after = _scrape(base)
        assert after[HEALTHZ] - before.get(HEALTHZ, 0) == checks
        assert after[SIGNED_OUT] - before.get(SIGNED_OUT, 0) == beats

    # A worker dies; gunicorn replaces it; what it counted still counts.
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{victim}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    more = _burst(base, 24)
    final = _scrape(base)
    assert final[HEALTHZ] - before.get(HEALTHZ, 0) == checks + more[0]
    assert final[SIGNED_OUT] - before.get(SIGNED_OUT, 0) == beats + more[1]


def test_json_log_lines_name_the_request(gunicorn_site):
    base, _folder, log, server = gunicorn_site
    given = httpx.get(f"{base}/help", headers={"X-Request-ID": "edge-7f3a9c21"}, timeout=30)
    assert given.headers["X-Request-ID"] == "edge-7f3a9c21"
    made = httpx.get(f"{base}/help", headers={"X-Request-ID": '"}, {"forged": "line'}, timeout=30)
    made_id = made.headers["X-Request-ID"]
    assert len(made_id) == 32 and made_id.isalnum()  # not sane: a new one
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in log.read_text(errors="replace").splitlines() if line.startswith("{")]
        access = {line["request_id"]: line for line in lines if line["logger"] == "lms.access"}
        if "edge-7f3a9c21" in access and made_id in access:
            break
        time.sleep(0.1)
    line = access["edge-7f3a9c21"]
    assert line["http"] == {**line["http"], "method": "GET", "path": "/help", "endpoint": "core.help_page",
                            "status": 200}
    assert line["level"] == "INFO" and line["time"].endswith("+00:00")
    assert access[made_id]["http"]["path"] == "/help"
    assert "forged" not in log.read_text(errors="replace")
