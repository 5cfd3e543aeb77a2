"""A test site served over HTTP (``tests.app_process.served_by_gunicorn``), seen as an outsider
sees it: one signed-in client per person, posts with a real CSRF token, and reads of what the server
committed, so that races are judged by the rows in the database and not by the answers."""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
from sqlalchemy import func, select

from tests.conftest import TEST_PASSWORD
from tests.conftest import _csrf_token as csrf

__all__ = ["HttpSite", "csrf", "in_parallel", "not_500"]


def in_parallel(function, items, workers=16):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(function, items))


def not_500(responses):
    assert all(r.status_code < 500 for r in responses), [(r.status_code, r.text[-300:]) for r in responses]


class HttpSite:
    """``people``: name → {"mobile", "id", …}; ``ids``: the world's objects by key; ``app``: the test
    app on the server's database, for reading it."""

    def __init__(self, base, app, people, ids, *, log=None, timeout=120):
        self.base, self.app, self.people, self.ids, self.log = base, app, people, ids, log
        self.timeout = timeout
        self._cookies = {}

    @contextmanager
    def no_new_tracebacks(self):
        """Fails when the server's log gains a Traceback meanwhile (an error the answers may hide)."""
        before = len(self.log.read_text(errors="replace"))
        yield
        added = self.log.read_text(errors="replace")[before:]
        assert "Traceback" not in added, added[-4000:]

    def client(self, who=None) -> httpx.Client:
        """A client signed in as ``who`` (once per person; the cookie is reused), or anonymous."""
        client = httpx.Client(base_url=self.base, timeout=self.timeout, follow_redirects=False)
        if who is None:
            return client
        if who not in self._cookies:
            with self.client() as login:
                token = csrf(login.get("/login").text)
                done = login.post("/login", data={"login": self.people[who]["mobile"], "password": TEST_PASSWORD,
                                                  "csrf_token": token})
                assert done.status_code == 302, done.text[-500:]
                self._cookies[who] = dict(login.cookies)
        client.cookies.update(self._cookies[who])
        return client

    def post(self, who, path, data=None, files=None, page=None):
        """POST as ``who`` with a CSRF token from ``page`` (the profile page by default)."""
        with self.client(who) as client:
            token = csrf(client.get(page or "/profile").text)
            return client.post(path, data={**(data or {}), "csrf_token": token}, files=files)

    def scalar(self, statement):
        from lms.extensions import db

        with self.app.app_context():
            return db.session.scalar(statement)

    def rows(self, statement):
        from lms.extensions import db

        with self.app.app_context():
            return db.session.execute(statement).all()

    def count(self, model, *where) -> int:
        return self.scalar(select(func.count()).select_from(model).where(*where))

    def events(self, action, target_id=None) -> int:
        """Audit events of ``action`` (on ``target_id``)."""
        from lms.core.audit import AuditEvent

        where = [AuditEvent.action == action]
        if target_id is not None:
            where.append(AuditEvent.target_id == str(target_id))
        return self.count(AuditEvent, *where)
