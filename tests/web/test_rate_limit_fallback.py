"""Rate limits while Redis does not answer (REDIS_URL pointing at nothing): sign-in answers without a
server error, in about the time it takes without Redis, and its limit still holds, counted in the
process's memory until Redis is back. The app runs in a process of its own: the limiter is one object
per process, and a test app bound to a dead Redis would leave it bound there for the tests after."""

import re
import time

import httpx
import pytest

from tests.app_process import free_port, start, stop
from tests.conftest import build_database, fresh_database, make_test_app
from tests.queue_helpers import REDIS_URL


@pytest.fixture(autouse=True)
def db_session():
    """Not the rolled-back test session: an app of its own."""
    yield None


@pytest.fixture
def base(tmp_path):
    from lms.extensions import db

    with fresh_database(tmp_path, "limits") as url:
        built = make_test_app(url, tmp_path)
        build_database(built)
        with built.app_context():
            db.engine.dispose()
        port = free_port()
        # Port 9 on loopback: nothing listens (connection refused at once, as for a stopped Redis).
        process = start({"database_url": url, "tmp_dir": str(tmp_path), "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0",
                         "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
                         "LMS_LOGIN_RATE_LIMIT": "5 per minute"}, port, tmp_path / "server.log")
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)


def sign_in(client: httpx.Client, login: str, password: str) -> int:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token}).status_code


def test_sign_in_answers_and_is_still_limited_while_redis_is_down(base):
    with httpx.Client(base_url=base, timeout=30) as client:
        started = time.monotonic()
        answers = [sign_in(client, "13900000000", "wrong-password") for _ in range(7)]
    assert answers[:5] == [200] * 5 and answers[5:] == [429, 429], answers  # counted in memory meanwhile
    assert time.monotonic() - started < 15


def test_the_setting_a_node_gets_with_a_redis_url(monkeypatch, tmp_path):
    from lms.config import load_config

    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    config = load_config(str(tmp_path))
    assert config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] and config["RATELIMIT_SWALLOW_ERRORS"]
    assert config["RATELIMIT_STORAGE_OPTIONS"] == {"socket_connect_timeout": 1, "socket_timeout": 1}
