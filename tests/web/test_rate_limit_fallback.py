"""Rate limits while Redis does not answer (REDIS_URL pointing at nothing): sign-in answers without a
server error, in about the time it takes without Redis, and its limit still holds, counted in the
process's memory until Redis is back."""

import re
import time

import pytest

from tests.conftest import build_database, fresh_database, make_test_app
from tests.queue_helpers import REDIS_URL


@pytest.fixture(autouse=True)
def db_session():
    """Not the rolled-back test session: an app of its own."""
    yield None


@pytest.fixture
def site(tmp_path):
    from lms.extensions import db

    with fresh_database(tmp_path, "limits") as url:
        # Port 9 on loopback: nothing listens (connection refused at once, as for a stopped Redis).
        app = make_test_app(url, tmp_path, RATELIMIT_STORAGE_URI="redis://127.0.0.1:9/0",
                            RATELIMIT_STORAGE_OPTIONS={"socket_connect_timeout": 1, "socket_timeout": 1},
                            LMS_LOGIN_RATE_LIMIT="5 per minute")
        build_database(app)
        yield app
        with app.app_context():
            db.engine.dispose()


def sign_in(client, login: str, password: str):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": "203.0.113.9"})


def test_sign_in_answers_and_is_still_limited_while_redis_is_down(site):
    client = site.test_client()
    started = time.monotonic()
    answers = [sign_in(client, "13900000000", "wrong-password").status_code for _ in range(7)]
    assert answers[:5] == [200] * 5 and answers[5:] == [429, 429], answers  # counted in memory meanwhile
    assert time.monotonic() - started < 10


def test_the_setting_a_node_gets_with_a_redis_url(monkeypatch, tmp_path):
    from lms.config import load_config

    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    config = load_config(str(tmp_path))
    assert config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] and config["RATELIMIT_SWALLOW_ERRORS"]
    assert config["RATELIMIT_STORAGE_OPTIONS"] == {"socket_connect_timeout": 1, "socket_timeout": 1}
