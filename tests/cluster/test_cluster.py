"""Failure proofs against the loopback cluster (scripts/cluster.sh: haproxy, two app nodes, the
workers, PostgreSQL primary and replica, pgbouncer, Redis), started once for this module from the
repository alone and stopped at the end; run in the PostgreSQL pass."""

import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.cluster.conftest import CLUSTER, PYTHON, SCRIPT, cluster_env, part, pid_of, ready, run_python, until
from tests.conftest import ROOT, credit_code, id_number

pytestmark = CLUSTER


def test_status_names_every_part(cluster):
    status = subprocess.run([str(SCRIPT), "status"], env=cluster["env"], capture_output=True, text=True,
                            timeout=60).stdout
    for name in ("haproxy", "node1", "node2", "redis", "worker-default", "worker-media", "worker-media2", "pgbouncer",
                 "postgresql-primary", "postgresql-replica"):
        assert f"up    {name}" in status, status
    assert "balancer node1 UP" in status and "balancer node2 UP" in status


def test_a_killed_node_fails_no_request_through_the_balancer(cluster):
    """SIGKILL one app node under steady requests: haproxy retries on the other node (redispatch),
    then takes the dead one out after its failed health checks; no request fails."""
    statuses = []
    with httpx.Client(base_url=cluster["url"], timeout=10) as client:
        for n in range(60):
            if n == 20:
                os.killpg(os.getpgid(pid_of(cluster, "node1")), signal.SIGKILL)  # the master and its workers
            statuses.append(client.get("/courses").status_code)
    assert set(statuses) == {200}, statuses
    with pytest.raises(httpx.TransportError):
        httpx.get(cluster["node"](1) + "/healthz", timeout=2)


PAGES = ("/", "/courses", "/search?q=网络安全", "/verify", "/login", "/help")


def _replica_transactions(cluster) -> int:
    """Transactions the replica has served to the platform's database (its own statistics, which each
    server process flushes at most once a second, and when idle within ten: read them until they have)."""
    import psycopg

    # From another database: this reading's own transactions must not count toward the platform's.
    with psycopg.connect(host="127.0.0.1", port=cluster["port"](33), dbname="postgres", user="postgres",
                         connect_timeout=5) as connection:
        return connection.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                                  "WHERE datname = 'lms'").fetchone()[0]


def test_a_stopped_replica_fails_no_page_and_reads_return_to_it_when_it_is_back(cluster):
    """The replica stopped: every page still answers from the primary, the nodes say degraded (and
    stay in rotation); the replica started again: the nodes see it and the catalog's reads go back to it."""
    pair = ["scripts/pg-pair.sh"]
    with httpx.Client(base_url=cluster["url"], timeout=30) as client:
        before = _replica_transactions(cluster)
        assert {client.get("/courses").status_code for _ in range(10)} == {200}
        until(lambda: _replica_transactions(cluster) - before >= 10, seconds=30)  # the catalog reads there

        subprocess.run([*pair, "stop-replica", str(cluster["folder"] / "pg")], cwd=ROOT, check=True, timeout=120)
        try:
            statuses = [client.get(path).status_code for _ in range(5) for path in PAGES]
            assert set(statuses) == {200}, statuses
            assert client.get("/healthz").status_code == 200
            until(lambda: ready(cluster)["status"] == "degraded")
            assert ready(cluster)["checks"]["replica"]["status"] == "degraded"
        finally:
            subprocess.run([*pair, "start-replica", str(cluster["folder"] / "pg")], cwd=ROOT, check=True,
                           timeout=120)
        until(lambda: ready(cluster)["checks"]["replica"]["status"] == "ok")

        def back() -> bool:
            before = _replica_transactions(cluster)
            for _ in range(10):
                assert client.get("/courses").status_code == 200
            time.sleep(11)  # the replica's statistics are flushed within ten seconds of idling
            return _replica_transactions(cluster) - before >= 10  # every node has seen it again

        until(back, seconds=120)


EXPORT = """
import sys
from wsgi import app
from lms.accounts import services as accounts
from lms.accounts.models import Role
from lms.exports import records, services, tasks
from lms.exports.models import ExportJob
from lms.extensions import db
with app.test_request_context():
    if sys.argv[1] == "start":
        user = accounts.create_person(None, accounts.PersonData(
            real_name="孙审核", id_number="{id_number}", password="Study2026-cluster", mobile="13655500029",
            region_code="110000"))
        accounts.grant_role(None, user, Role.HR_AUDITOR, region_code="110000")
        job = services.start_export_job(user, records.scope_for(user, region="110000"), year=2026, fmt="csv")
        db.session.commit()
        tasks.export_job(job.id)
        print(job.id)
    else:
        print(db.session.get(ExportJob, int(sys.argv[2])).status)
"""


def test_a_job_queued_before_redis_restarts_is_done_after_and_no_page_fails_meanwhile(cluster):
    """Redis restarted (its append-only file kept): a job queued while no worker was there is still in
    the queue afterwards and is done; while Redis is down, pages, sign-in (its rate limit counted in
    Redis) and the readiness view answer without a server error."""
    part(cluster, "stop", "worker-media")
    job = run_python(cluster, EXPORT.format(id_number=id_number("11010519900103666")), "start")
    time.sleep(1.5)  # appendfsync everysec: what was queued a second ago is on disk
    part(cluster, "stop", "redis")
    try:
        with httpx.Client(base_url=cluster["url"], timeout=30) as client:
            statuses = [client.get(path).status_code for path in PAGES]
            page = client.get("/login")
            token = page.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
            signed = client.post("/login", data={"login": "13655500029", "password": "wrong-password",
                                                 "csrf_token": token})
        assert set(statuses) == {200} and signed.status_code in (200, 400), (statuses, signed.status_code)
        assert ready(cluster)["status"] == "degraded"
    finally:
        part(cluster, "start", "redis")
    part(cluster, "start", "worker-media")
    until(lambda: run_python(cluster, EXPORT, "status", job) == "done", seconds=120)
    until(lambda: ready(cluster)["status"] == "ok")


LEARNERS = """
import json, re
from wsgi import app
from lms.accounts import services as accounts
from lms.catalog.services import import_packages, load_packages
from lms.extensions import db
from lms.learning import play
from lms.learning import services as learning
from tests.conftest import ROOT, credit_code, id_number
with app.app_context():
    import_packages(None, load_packages([ROOT / "courses" / "GX-NS-001"]))
    db.session.commit()
for n in range(4):
    with app.test_request_context():
        user = accounts.create_person(None, accounts.PersonData(
            real_name="周滚动", id_number=id_number(f"110105199001077{n:02d}"), password="Study2026-cluster",
            mobile=f"136555001{n:02d}", region_code="110000", employer_name="测试单位",
            employer_credit_code=credit_code("91110105MA01ABCD3")))
        enrollment = learning.enroll(user, "GX-NS-001")
        lesson = next(lesson.id for lesson in enrollment.course.lessons if lesson.kind == "video")
        session, _ = play.start_session(user.id, lesson)
        sid, mobile = session.id, user.mobile
        db.session.commit()
    client = app.test_client()
    page = client.get("/login", headers={"User-Agent": "cluster-test"}).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    signed = client.post("/login", data={"login": mobile, "password": "Study2026-cluster", "csrf_token": token},
                         headers={"User-Agent": "cluster-test"})
    assert signed.status_code == 302, signed.status_code
    page = client.get("/my/learning", headers={"User-Agent": "cluster-test"}).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)  # the logout form
    print(json.dumps({"cookie": client.get_cookie("session").value, "csrf": csrf, "sid": sid}))
"""


def test_a_rolling_restart_under_heartbeats_fails_no_request(cluster):
    """Both app nodes restarted one at a time (graceful stop, start, wait until the balancer has it
    back, then the next) while four learners send heartbeats without pause through haproxy: every beat
    is answered, none with an error."""
    import json
    import threading

    env = {**cluster_env(cluster), "LMS_DEMO_CACHE": str(ROOT / ".cache" / "demo-video")}
    made = subprocess.run([str(PYTHON), "-c", LEARNERS], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-3000:]
    learners = [json.loads(line) for line in made.stdout.splitlines() if line.startswith("{")]
    stop, answers, lock = threading.Event(), [], threading.Lock()

    def beats(learner: dict) -> None:
        headers = {"User-Agent": "cluster-test", "X-CSRFToken": learner["csrf"]}
        with httpx.Client(base_url=cluster["url"], timeout=30, headers=headers,
                          cookies={"session": learner["cookie"]}) as client:
            seq = 0
            while not stop.is_set():
                seq += 1
                position = seq % 28 + 1
                try:
                    answer = client.post("/api/v1/learning/heartbeat", json={
                        "session_id": learner["sid"], "seq": seq, "position": position,
                        "segments": [[position - 1, position]], "rate": 1, "visible": True, "event": "tick"})
                    outcome = (answer.status_code, answer.json().get("status"))
                except (httpx.TransportError, ValueError) as exc:
                    outcome = (0, f"{type(exc).__name__}: {exc}")
                with lock:
                    answers.append(outcome)

    def balancer_has(node: str) -> bool:
        shown = subprocess.run([str(SCRIPT), "status"], env=cluster["env"], capture_output=True, text=True,
                               timeout=60).stdout
        return f"balancer {node} UP" in shown

    threads = [threading.Thread(target=beats, args=(learner,)) for learner in learners]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        for node in ("node1", "node2"):  # node1 may be down already (a test above killed it)
            part(cluster, "stop", node)
            part(cluster, "start", node)
            until(lambda node=node: balancer_has(node), seconds=60)
            time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    failed = [a for a in answers if a[0] != 200]
    assert len(answers) > 100 and not failed, (len(answers), failed[:20])
    assert all(status for _, status in answers)  # each an answer of the heartbeat API


ISSUE = """
from datetime import date
from decimal import Decimal
from wsgi import app
from lms.accounts import services as accounts
from lms.certificates import services as certificates
from lms.extensions import db
with app.test_request_context():
    user = accounts.create_person(None, accounts.PersonData(
        real_name="钱集群", id_number="{id_number}", password="Study2026-cluster", mobile="13655500019",
        region_code="110000", employer_name="测试单位", employer_credit_code="{credit_code}"))
    cert = certificates.issue_programme_certificate(
        user, code="CP-000001", title="人工智能高级研修班", category="public", hours=Decimal(9), year=2026,
        completed_on=date(2026, 6, 12))
    db.session.commit()
    print(cert.number)
"""


def test_a_backup_restores_into_a_fresh_cluster_where_its_certificate_verifies(cluster, tmp_path):
    """Backup and restore (deploy/README.md): a certificate issued on the cluster, the cluster backed up,
    stopped and removed; a fresh cluster started from the backup verifies it, publicly and in full."""
    python = PYTHON
    script = ISSUE.format(id_number=id_number("11010519900103555"), credit_code=credit_code("91110105MA01ABCD3"))
    issued = subprocess.run([str(python), "-c", script], env=cluster_env(cluster), cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert issued.returncode == 0, issued.stderr[-3000:]
    number = issued.stdout.split()[-1]
    backup = tmp_path / "backup"
    made = subprocess.run([str(SCRIPT), "backup", str(backup)], env=cluster["env"], capture_output=True, text=True,
                          timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    for step in (["down"], ["up", "--restore", str(backup)]):
        done = subprocess.run([str(SCRIPT), *step], env=cluster["env"], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    page = httpx.get(f"{cluster['url']}/verify", params={"no": number}, timeout=30).text
    assert "证书有效" in page and "钱*" in page
    checked = subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "backup", "check", number],
                             env=cluster_env(cluster), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0 and "均可验证" in checked.stdout, checked.stdout + checked.stderr
