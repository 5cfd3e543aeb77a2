"""Heartbeat throughput beside a one-INSERT baseline, on SQLite and on PostgreSQL.

For each database: a fresh database, migrated and seeded with one course; many learners, each
enrolled with a play session; the app under gunicorn (2 sync workers); wrk drives valid heartbeats
(bench/heartbeat.lua) and a one-INSERT endpoint (bench/baseline.py, on this app only) on the same
server in the same run, alternating (insert, heartbeat) for --rounds rounds so that load from other
processes on the machine falls on both alike. Prints each endpoint's median round (requests/s,
p50 / p99 latency), the ratio of the medians, and every round's ratio. Every measured beat must be a
new (session, seq) answered "ok": sequence numbers continue across runs, and any other answer fails.

    .venv/bin/pip install -e '.[bench]'   # gunicorn
    .venv/bin/python -m bench.heartbeat [--learners 400] [--seconds 10] [--connections 32] [--rounds 3]
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("LMS_BENCH_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
USER_AGENT = "gongxu-bench"  # the same for the set-up client and wrk (flask-login strong sessions)
PASSWORD = "Bench2026ok"
INSERT_PATH = "/api/v1/learning/_bench/insert"  # the baseline, served by bench/baseline.py


def make_app():
    """gunicorn entry point: the platform's app, plus the baseline endpoint of bench/baseline.py."""
    # Imported here: lms reads its environment when imported, which prepare() sets first.
    from bench import baseline
    from lms import create_app

    app = create_app({"LMS_LOGIN_RATE_LIMIT": "100000 per minute", "LMS_PASSWORD_METHOD": "pbkdf2:sha256:1000",
                      "LMS_DEMO_CACHE": str(ROOT / ".cache" / "demo-video")})
    app.register_blueprint(baseline.bp)
    return app


def count_round_trips(env: dict, learners_file: Path, beats: int = 200) -> float:
    """Round trips to PostgreSQL per heartbeat, counting everything the driver sends (libpq's
    protocol trace: each simple Query and each extended-protocol Sync waits for the server's
    answer), over ``beats`` beats through the app as served (the Flask stack, the engine's pool),
    after a few beats to warm the pool and psycopg's prepared statements (a statement is prepared,
    one round trip more, at its sixth use on a connection; the write has a variant per set of
    changed columns, so a few are still prepared during the count). Run in a child process: the
    trace is on every connection."""
    os.environ.update(env)
    from psycopg.pq import Trace
    from sqlalchemy import event

    trace = Path(tempfile.mkdtemp(prefix="lms-bench-trace-"))
    app = make_app()
    with app.app_context():
        from lms.extensions import db

        files = []

        @event.listens_for(db.engine, "connect")
        def _trace(dbapi_connection, _record):
            handle = open(trace / f"{len(files)}.trace", "w")  # noqa: SIM115 (closed below)
            files.append(handle)
            dbapi_connection.pgconn.trace(handle.fileno())
            dbapi_connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)  # lines: F|B, length, message

        db.engine.dispose()  # connections made from here on are traced
    cookie, csrf, sid = learners_file.read_text().splitlines()[0].split("\t")
    client = app.test_client()
    client.set_cookie("session", cookie.removeprefix("session="))
    headers = {"User-Agent": USER_AGENT, "X-CSRFToken": csrf}

    def beat(seq: int) -> None:
        pos = seq % 28 + 1
        answer = client.post("/api/v1/learning/heartbeat", headers=headers, json={
            "session_id": sid, "seq": seq, "position": pos, "segments": [[pos - 1, pos]], "rate": 1,
            "visible": True, "event": "tick", "csrf_token": csrf})
        assert answer.status_code == 200 and answer.get_json()["status"] == "ok", answer.get_data(as_text=True)

    def sent() -> int:
        for handle in files:
            handle.flush()
        # A message is a line "F|B <tab> length <tab> type ..."; SQL text may continue on further lines.
        return sum(1 for path in trace.glob("*.trace") for line in path.read_text().splitlines()
                   if re.match(r"F\t\d+\t(Query|Sync)\b", line))

    base = 900_000_000
    for seq in range(base - 30, base + 1):  # warm: the pool, and psycopg's statements prepared after 5 uses
        beat(seq)
    before = sent()
    for seq in range(base + 1, base + 1 + beats):
        beat(seq)
    per_beat = (sent() - before) / beats
    for handle in files:
        handle.close()
    shutil.rmtree(trace, ignore_errors=True)
    return per_beat


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "wrk"], check=True)
    return shutil.which("wrk")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(server: subprocess.Popen, base: str, timeout: float = 180) -> None:
    """Until the app answers. gunicorn's master accepts connections at once, but each worker loads
    the app first (seconds on a busy machine): a run started before that measures nothing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s")


def prepare(env: dict, learners: int, out: Path) -> None:
    """Migrate, seed, create learners with an enrolment and a play session; write their cookies."""
    os.environ.update(env)
    from flask_migrate import upgrade

    from lms.accounts import services as accounts
    from lms.accounts.identifiers import credit_code_check_char, id_number_check_char
    from lms.catalog.services import import_packages, load_packages
    from lms.cli import ensure_reference_data
    from lms.extensions import db
    from lms.learning import play
    from lms.learning import services as learning

    app = make_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        ensure_reference_data()
        import_packages(None, load_packages([ROOT / "courses" / "GX-NS-001"]))
        db.session.commit()
    credit17 = "91110105MA01ABCD4"
    lines = []
    for n in range(learners):
        id17 = f"11010519900{1 + n // 28000}{1 + n // 1000 % 28:02d}{n % 1000:03d}"
        with app.test_request_context():
            user = accounts.create_person(None, accounts.PersonData(
                real_name="压测学员", id_number=id17 + id_number_check_char(id17), password=PASSWORD,
                mobile=f"135{n:08d}", region_code="110000", employer_name="压测单位",
                employer_credit_code=credit17 + credit_code_check_char(credit17)))
            enrollment = learning.enroll(user, "GX-NS-001")
            lesson_id = next(lesson.id for lesson in enrollment.course.lessons if lesson.kind == "video")
            session, _ = play.start_session(user.id, lesson_id)
            sid, mobile = session.id, user.mobile
            db.session.commit()
        client = app.test_client()
        headers = {"User-Agent": USER_AGENT}
        page = client.get("/login", headers=headers).get_data(as_text=True)
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
        response = client.post("/login", data={"login": mobile, "password": PASSWORD, "csrf_token": token},
                               headers=headers)
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        page = client.get("/my/learning", headers=headers).get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)  # logout form
        cookie = client.get_cookie("session")
        lines.append(f"session={cookie.value}\t{csrf}\t{sid}")
    with app.app_context():
        db.engine.dispose()
    out.write_text("\n".join(lines) + "\n")


def run_wrk(wrk: str, url: str, seconds: int, connections: int, script: Path | None, env: dict) -> dict:
    args = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"User-Agent: {USER_AGENT}"]
    if script:
        args += ["-s", str(script)]
    done = subprocess.run(args + [url], capture_output=True, text=True, env={**os.environ, "BENCH_THREADS": "2", **env})
    if done.returncode != 0 or "Requests/sec" not in done.stdout:
        raise RuntimeError(f"wrk failed: {done.stdout}\n{done.stderr}")
    text = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    not_ok = re.search(r"Beats not ok: (\d+)", text)

    def pct(p):
        match = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", text, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"rps": rps, "p50": pct(50), "p99": pct(99), "non2xx": int(errors.group(1)) if errors else 0,
            "not_ok": int(not_ok.group(1)) if not_ok else 0}


@contextmanager
def scratch_database(kind: str, prefix: str):
    """A temporary folder and a fresh database (a SQLite file in it, or a new PostgreSQL database);
    both removed afterwards. Yields (folder, database URL)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}-{kind}-"))
    db_name = None
    try:
        if kind == "sqlite":
            url = f"sqlite:///{tmp / 'bench.sqlite3'}"
        else:
            from sqlalchemy import create_engine, text

            db_name = f"{prefix.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{db_name}"'))
            admin.dispose()
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + db_name
        yield tmp, url
    finally:
        if db_name:
            from sqlalchemy import create_engine, text

            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_one(kind: str, args, wrk: str) -> dict:
    with scratch_database(kind, "lms-bench") as (tmp, url):
        return _bench_on(tmp, url, args, wrk)


def _bench_on(tmp: Path, url: str, args, wrk: str) -> dict:
    env = {"DATABASE_URL": url, "LMS_INSTANCE_PATH": str(tmp / "instance"), "SECRET_KEY": "bench-secret",
           "LMS_DATA_KEY": "bench-data-key", "LMS_MEDIA_ROOT": str(tmp / "media")}
    learners_file = tmp / "learners.tsv"
    subprocess.run([sys.executable, "-c", f"from bench.heartbeat import prepare; from pathlib import Path; "
                    f"prepare({env!r}, {args.learners}, Path({str(learners_file)!r}))"], cwd=ROOT, check=True)
    round_trips = None
    if url.startswith("postgresql"):
        done = subprocess.run([sys.executable, "-c", f"from bench.heartbeat import count_round_trips; from pathlib "
                               f"import Path; print(count_round_trips({env!r}, Path({str(learners_file)!r})))"],
                              cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"counting round trips failed:\n{done.stderr[-3000:]}")
        round_trips = float(done.stdout.strip().splitlines()[-1])
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "bench.heartbeat:make_app()"], cwd=ROOT, env={**os.environ, **env})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(server, base)
        beats = ROOT / "bench" / "heartbeat.lua"
        runs = iter(range(1, 1000))

        def beat_env():  # each run's sequence numbers start above every earlier run's
            return {"BENCH_LEARNERS": str(learners_file), "BENCH_SEQ_BASE": str(next(runs) * 1_000_000)}

        insert_url = base + INSERT_PATH
        insert_script = tmp / "insert.lua"
        # An empty body, so wrk sends "Content-Length: 0": a POST without one leaves the worker
        # waiting for a body on the kept-alive connection, and no insert is ever answered.
        insert_script.write_text('wrk.method = "POST"\nwrk.body = ""\n')
        run_wrk(wrk, insert_url, 2, args.connections, insert_script, {})  # warm-up
        run_wrk(wrk, base, 2, args.connections, beats, beat_env())
        inserts, beat_runs = [], []
        for _ in range(args.rounds):
            inserts.append(run_wrk(wrk, insert_url, args.seconds, args.connections, insert_script, {}))
            beat_runs.append(run_wrk(wrk, base, args.seconds, args.connections, beats, beat_env()))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a worker stuck in a request: do not leave the server behind
            server.kill()
            server.wait()
    return {"insert": inserts, "heartbeat": beat_runs, "round_trips": round_trips}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=400)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    wrk = ensure_wrk()
    print(f"gunicorn {args.workers} sync workers, wrk 2 threads × {args.connections} connections, "
          f"{args.rounds} rounds of {args.seconds} s per endpoint (alternating), "
          f"{args.learners} learners with one play session each")
    print(f"{'database':<11} {'endpoint (median round)':<24} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
          f"{'not ok':>7}")
    ok = True
    for kind in args.databases.split(","):
        result = bench_one(kind, args, wrk)
        median = {}
        for name, label in (("insert", "one INSERT (baseline)"), ("heartbeat", "heartbeat")):
            runs = sorted(result[name], key=lambda r: r["rps"])
            r = median[name] = runs[len(runs) // 2]
            failed = sum(x["non2xx"] + x["not_ok"] for x in result[name])
            print(f"{kind:<11} {label:<24} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['non2xx']:>8} "
                  f"{r['not_ok'] if name == 'heartbeat' else '':>7}")
            if name == "heartbeat":
                ok &= failed == 0
        ratio = median["heartbeat"]["rps"] / median["insert"]["rps"]
        rounds = "  ".join(f"{b['rps'] / i['rps']:.2f}" for i, b in zip(result["insert"], result["heartbeat"],
                                                                          strict=True))
        ok &= ratio >= 0.7
        print(f"{kind:<11} {'ratio heartbeat/insert':<24} {ratio:>9.2f}   (target >= 0.70; rounds: {rounds})")
        if result["round_trips"] is not None:
            print(f"{kind:<11} {'round trips per beat':<24} {result['round_trips']:>9.1f}   (target <= 4, counting "
                  f"everything the driver sends)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
