"""Deployment hygiene: one LMS_ENV setting, secure cookies in production, no-store on personal pages,
no server banner, and an Allow header on every 405."""

import threading
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

from lms.config import ENVIRONMENTS, is_production, load_config, settle_config
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import closing_responses


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("LMS_ENV", "LMS_SECURE_COOKIES", "DATABASE_URL", "SECRET_KEY", "LMS_DATA_KEY",
                 "LMS_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def settled(instance, **overrides):
    config = load_config(str(instance))
    config.update(overrides)
    warnings = settle_config(config)
    return config, warnings


# ---------------------------------------------------------------- LMS_ENV

def test_development_is_the_default_and_cookies_are_not_secure_there(clean_env):
    config, _warnings = settled(clean_env)
    assert config["LMS_ENV"] == "development" and not is_production(config)
    assert config["SESSION_COOKIE_SECURE"] is False and config["REMEMBER_COOKIE_SECURE"] is False


def production(monkeypatch):
    """LMS_ENV=production with the keys every node shares in the environment."""
    monkeypatch.setenv("LMS_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 43)
    monkeypatch.setenv("LMS_DATA_KEY", "d" * 43)


def test_production_turns_secure_cookies_on_by_default(clean_env, monkeypatch):
    production(monkeypatch)
    monkeypatch.setenv("LMS_PUBLIC_URL", "https://lms.example.gov.cn")
    config, warnings = settled(clean_env)
    assert is_production(config)
    assert config["SESSION_COOKIE_SECURE"] is True and config["REMEMBER_COOKIE_SECURE"] is True
    assert config["PREFERRED_URL_SCHEME"] == "https"
    assert warnings == []


@pytest.mark.parametrize("missing", ["SECRET_KEY", "LMS_DATA_KEY"])
def test_production_refuses_to_start_without_a_shared_key_and_makes_none(clean_env, monkeypatch, missing):
    production(monkeypatch)
    monkeypatch.setenv("LMS_PUBLIC_URL", "https://lms.example.gov.cn")
    monkeypatch.delenv(missing)
    with pytest.raises(ValueError, match=f"LMS_ENV=production needs {missing} in the environment"):
        settled(clean_env)
    assert list(clean_env.iterdir()) == []  # no key generated into the instance folder
    monkeypatch.delenv("LMS_ENV")  # on one machine the key is generated once and kept
    config, _warnings = settled(clean_env)
    assert config[missing] and config[missing] == settled(clean_env)[0][missing]


def test_production_may_turn_secure_cookies_off_explicitly_with_a_warning(clean_env, monkeypatch):
    production(monkeypatch)
    monkeypatch.setenv("LMS_SECURE_COOKIES", "0")
    config, warnings = settled(clean_env)
    assert config["SESSION_COOKIE_SECURE"] is False
    assert any("LMS_SECURE_COOKIES" in w for w in warnings)
    assert any("LMS_PUBLIC_URL" in w for w in warnings)  # http:// in production


def test_production_without_a_public_address_says_so_at_start(clean_env, monkeypatch):
    production(monkeypatch)
    _config, warnings = settled(clean_env)
    assert any("without LMS_PUBLIC_URL" in w and "public address" in w for w in warnings)
    monkeypatch.setenv("LMS_PUBLIC_URL", "https://lms.example.gov.cn")
    _config, warnings = settled(clean_env)
    assert not any("LMS_PUBLIC_URL" in w for w in warnings)


@pytest.mark.parametrize("value", ["prod", "Production ", "dev", "testing", ""])
def test_an_unknown_environment_is_refused_at_start(clean_env, monkeypatch, value):
    production(monkeypatch)
    monkeypatch.setenv("LMS_ENV", value)
    if value.strip().lower() in ENVIRONMENTS:
        assert settled(clean_env)[0]["LMS_ENV"] == value.strip().lower()
        return
    with pytest.raises(ValueError, match="LMS_ENV"):
        settled(clean_env)


def test_the_platform_serves_no_benchmark_endpoint(app, client):
    """The benchmarks add their baseline endpoint to their own app (bench/baseline.py), not to this one."""
    assert [rule.rule for rule in app.url_map.iter_rules() if "bench" in rule.rule or "bench" in rule.endpoint] == []
    assert client.post("/api/v1/learning/_bench/insert", json={}).status_code == 404


def test_the_secure_setting_covers_every_login_cookie(app, client, make_user, csrf_token, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    user = make_user()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"login": user.mobile, "password": TEST_PASSWORD, "csrf_token": token,
                                           "remember": "y"})
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("session=", "lms_device="):
        cookie = next(c for c in cookies if c.startswith(name))
        assert "Secure" in cookie and "HttpOnly" in cookie, cookie


# ---------------------------------------------------------------- Cache-Control

def test_personal_pages_are_not_stored_by_caches(client, login, make_user):
    login(make_user())
    for path in ("/profile", "/", "/my/learning"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", path


def test_public_pages_and_static_files_may_be_cached(client):
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
    assert "no-store" not in client.get("/static/css/app.css").headers.get("Cache-Control", "")


def test_answers_to_forms_are_not_stored_either(client, csrf_token):
    token = csrf_token(client.get("/register").get_data(as_text=True))
    response = client.post("/register", data={"real_name": "王芳", "id_number": "110108198808081234",
                                              "csrf_token": token})
    assert response.headers["Cache-Control"] == "no-store"  # it shows the ID number that was typed


def test_a_view_that_chose_its_own_caching_keeps_it(client, login, make_user):
    login(make_user())
    response = client.get("/static/css/app.css")
    assert "no-store" not in response.headers.get("Cache-Control", "")


# ---------------------------------------------------------------- the Server header

@contextmanager
def served(app):
    server = make_server("127.0.0.1", 0, closing_responses(app), threaded=False)  # files closed whatever the client reads
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def test_no_server_banner_names_werkzeug_or_python(app):
    with served(app) as base:
        with urllib.request.urlopen(base + "/static/css/app.css", timeout=10) as response:
            server = response.headers.get("Server", "")
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(base + "/static/no-such-file.css", timeout=10)
        missing_server = missing.value.headers.get("Server", "")
        missing.value.close()
    for banner in (server, missing_server):
        assert "Werkzeug" not in banner and "Python" not in banner, banner


# ---------------------------------------------------------------- 405 and Allow

@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/logout", {"POST"}),
    ("DELETE", "/login", {"GET", "HEAD", "POST", "OPTIONS"}),
    ("PUT", "/api/v1/webhooks", {"GET", "HEAD", "POST", "OPTIONS"}),
    ("POST", "/api/v1/openapi.json", {"GET", "HEAD", "OPTIONS"}),
])
def test_405_answers_say_which_methods_are_allowed(client, method, path, allowed):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= allowed - {"OPTIONS"}
    if path.startswith("/api/"):
        assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_a_production_node_without_the_shared_signing_key_refuses_to_start_until_one_is_made(tmp_path):
    """Served (wsgi.py) or running jobs (lms/worker.py), a production node never makes a signing key of
    its own; the command line makes the first one in the folder the nodes share, and two nodes with
    their own instance folders then publish the same key."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    shared = tmp_path / "shared-signing-keys"

    def node(name: str, code: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "LMS_ENV": "production", "SECRET_KEY": "s" * 43, "LMS_DATA_KEY": "d" * 43,
               "LMS_PUBLIC_URL": "https://lms.example.gov.cn", "LMS_INSTANCE_PATH": str(tmp_path / name),
               "LMS_SIGNING_KEY_DIR": str(shared), "DATABASE_URL": f"sqlite:///{tmp_path / 'lms.sqlite3'}",
               "FLASK_APP": "wsgi"}
        return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                              timeout=120)

    for entry in ("import wsgi", "import lms.worker"):
        refused = node("node-a", entry)
        assert refused.returncode != 0 and "LMS_SIGNING_KEY_DIR" in refused.stderr, refused.stderr[-2000:]
    assert not shared.exists() or not any(shared.iterdir())  # nothing made on its own
    made = node("node-a", "from flask.cli import main; import sys; sys.argv = ['flask', 'credentials', 'rotate-key'];"
                          " main()")
    assert made.returncode == 0, made.stderr[-2000:]
    jwks = "import json, wsgi; print(json.dumps(wsgi.app.test_client().get('/.well-known/jwks.json').get_json()))"
    published = [node(name, jwks) for name in ("node-a", "node-b")]
    assert all(p.returncode == 0 for p in published), [p.stderr[-2000:] for p in published]
    keys = [json.loads(p.stdout.strip().splitlines()[-1])["keys"] for p in published]
    assert keys[0] == keys[1] and len(keys[0]) == 1
    assert node("node-b", "import lms.worker").returncode == 0
