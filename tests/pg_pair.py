"""A PostgreSQL primary and its streaming replica on loopback ports, in a folder of their own
(scripts/pg-pair.sh), for the read-replica tests."""

import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.app_process import free_port
from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "pg-pair.sh"


class PgPair:
    """Its folder is a new one under the system's temporary folder: the servers run as the
    ``postgres`` user, who cannot enter pytest's (private) temporary folders."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="lms-pg-pair-"))
        self.primary_port, self.replica_port = free_port(), free_port()

    def _run(self, *args) -> None:
        done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"pg-pair.sh {args[0]}: {done.stdout}{done.stderr}"

    def up(self) -> "PgPair":
        self._run("up", str(self.folder), str(self.primary_port), str(self.replica_port))
        return self

    def down(self) -> None:
        self._run("down", str(self.folder))

    def stop_replica(self) -> None:
        self._run("stop-replica", str(self.folder))

    def start_replica(self) -> None:
        self._run("start-replica", str(self.folder))

    def url(self, which: str) -> str:
        port = self.primary_port if which == "primary" else self.replica_port
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/lms"

    def sql(self, which: str, statement: str, *params):
        port = self.primary_port if which == "primary" else self.replica_port
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="lms", autocommit=True) as conn:
            cursor = conn.execute(statement, params or None)
            return cursor.fetchall() if cursor.description else None

    def caught_up(self, timeout: float = 20) -> None:
        """Wait until the replica has replayed everything the primary wrote so far."""
        target = self.sql("primary", "SELECT pg_current_wal_lsn()::text")[0][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sql("replica", "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", target)[0][0]:
                return
            time.sleep(0.1)
        raise AssertionError("the replica did not catch up")
