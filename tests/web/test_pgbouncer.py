"""The platform through pgbouncer in transaction pooling mode (a real pgbouncer in front of the test
PostgreSQL, one server connection shared by every client): psycopg's automatic prepared statements
break there, `LMS_PGBOUNCER=1` turns them off, and two app nodes then work through one pooled
server connection — pages, sign-in (writes), migrations and advisory locks."""

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from lms.config import engine_options
from tests.app_process import free_port
from tests.conftest import TEST_PASSWORD, _csrf_token, build_database, fresh_database, id_number, make_test_app

pytestmark = pytest.mark.skipif(os.environ.get("LMS_TEST_DATABASE", "sqlite") != "postgresql",
                                reason="runs in the PostgreSQL pass (pgbouncer in front of the test PostgreSQL)")

CODE = "GX-NS-001"
MOBILE = "13912340000"


@pytest.fixture(autouse=True)
def db_session():
    """The nodes' own sessions, committing for real (not the rolled-back test session)."""
    return None


@pytest.fixture(scope="module")
def bouncer(tmp_path_factory):
    """pgbouncer on a loopback port, transaction pooling, one server connection for the database."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert Path(binary).exists(), "pgbouncer is missing: scripts/system-deps.sh --browser installs it"
    with fresh_database(tmp_path_factory.mktemp("bouncer"), "bouncer") as direct_url:
        folder = Path(tempfile.mkdtemp(prefix="lms-pgbouncer-"))  # readable by the postgres user
        port = free_port()
        dbname = direct_url.rsplit("/", 1)[1]
        (folder / "users.txt").write_text('"postgres" ""\n')
        (folder / "pgbouncer.ini").write_text(f"""[databases]
lms = host=127.0.0.1 port=5432 dbname={dbname} user=postgres pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "users.txt"}
pool_mode = transaction
max_client_conn = 50
logfile = {folder / "pgbouncer.log"}
pidfile = {folder / "pgbouncer.pid"}
""")
        command = [binary, str(folder / "pgbouncer.ini")]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            shutil.chown(folder, "postgres")
            for item in folder.iterdir():
                shutil.chown(item, "postgres")
            command = ["runuser", "-u", "postgres", "--", *command]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="lms", connect_timeout=1).close()
                break
            except psycopg.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = folder / "pgbouncer.log"
                    raise AssertionError(f"pgbouncer did not start: {log.read_text() if log.exists() else ''}") from None
                time.sleep(0.2)
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/lms"
        finally:
            process.terminate()
            process.wait(timeout=10)
            shutil.rmtree(folder, ignore_errors=True)


def _interleave(url: str, options: dict) -> None:
    """Two clients (two nodes' pools) run the same query in turns: through one pooled server
    connection, each client's transactions land on the connection the other used last."""
    engines = [create_engine(url, **options) for _ in range(2)]
    try:
        for n in range(12):
            with engines[n % 2].connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM pg_class WHERE relkind = :k"), {"k": "r"}).scalar() > 0
                conn.commit()
    finally:
        for engine in engines:
            engine.dispose()


def test_automatic_prepared_statements_break_behind_transaction_pooling(bouncer):
    """Why the setting exists: psycopg prepares a query after its fifth run on a connection."""
    with pytest.raises(Exception, match="prepared statement"):
        _interleave(bouncer, engine_options({}, False))


def test_the_setting_turns_them_off(bouncer):
    assert engine_options({}, True)["connect_args"] == {"prepare_threshold": None}
    _interleave(bouncer, engine_options({}, True))


def test_two_app_nodes_work_through_one_pooled_server_connection(bouncer, tmp_path):
    nodes = [make_test_app(bouncer, tmp_path / f"node{n}", LMS_PGBOUNCER=True, LMS_SEARCH_INDEX=str(tmp_path / "index"),
                           SQLALCHEMY_ENGINE_OPTIONS=engine_options({}, True)) for n in range(2)]
    try:
        _two_nodes(nodes)
    finally:
        from lms.extensions import db

        for node in nodes:
            with node.app_context():
                for engine in db.engines.values():
                    engine.dispose()


def _two_nodes(nodes) -> None:
    build_database(nodes[0], packages=(CODE,))  # the migrations, through pgbouncer
    from lms.accounts import services as accounts
    from lms.accounts.models import Role
    from lms.extensions import db

    with nodes[0].test_request_context():
        accounts.create_person(None, accounts.PersonData(
            real_name="连接池测试学员", id_number=id_number("32010219900101555"), password=TEST_PASSWORD,
            mobile=MOBILE, email=None, region_code="110000", employer_name=None, employer_credit_code=None),
            roles=(Role.LEARNER,))
        db.session.commit()
    clients = [node.test_client() for node in nodes]
    for round_ in range(4):
        for client in clients:
            for path in ("/", "/courses", f"/courses/{CODE}", f"/search?q={CODE}"):
                answer = client.get(path)
                assert answer.status_code == 200, (round_, path, answer.status_code)
    for client in clients:  # a sign-in writes (a login session) and reads it back on the next page
        token = _csrf_token(client.get("/login").get_data(as_text=True))
        signed_in = client.post("/login", data={"login": MOBILE, "password": TEST_PASSWORD, "csrf_token": token})
        assert signed_in.status_code == 302
        assert client.get("/me/hours").status_code == 200
    with nodes[1].app_context():
        from lms.core.database import advisory_lock

        for _ in range(6):  # a transaction-scoped advisory lock is released with its transaction
            advisory_lock(7, 7)
            db.session.commit()
