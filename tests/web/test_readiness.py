"""/healthz for the load balancer (ok, or 503 only when the database does not answer) and /readyz for
operators (each dependency's state; a failing dependency other than the database degrades the node
without taking it out of rotation)."""

import pytest

TOKEN = "ready-secret-1234"


@pytest.fixture
def operator(app, monkeypatch):
    monkeypatch.setitem(app.config, "LMS_METRICS_TOKEN", TOKEN)
    return {"Authorization": f"Bearer {TOKEN}"}


def test_readiness_is_for_operators_only(client, operator):
    assert client.get("/readyz").status_code == 403
    assert client.get("/readyz", headers={"Authorization": "Bearer wrong"}).status_code == 403
    answer = client.get("/readyz", headers=operator)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"


def test_readiness_reports_every_dependency(client, operator, app):
    body = client.get("/readyz", headers=operator).get_json()
    checks = body["checks"]
    assert set(checks) >= {"database", "replica", "redis", "storage", "queues", "search"}
    assert checks["database"]["status"] == "ok" and checks["database"]["dialect"] in ("sqlite", "postgresql")
    assert checks["replica"]["status"] == "off" and checks["redis"]["status"] == "off"  # not configured here
    assert checks["search"]["status"] == "ok" and checks["search"]["courses"] >= 1
    assert set(checks["queues"]["pending"]) == {"default", "media"}
    assert body["status"] == "ok"


def test_a_broken_dependency_degrades_the_node_but_keeps_it_in_rotation(client, operator, app, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "LMS_MEDIA_ROOT", str(tmp_path / "gone"))  # storage missing
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    monkeypatch.setitem(app.config, "LMS_SEARCH_INDEX", str(tmp_path / "no-index"))
    body = client.get("/readyz", headers=operator)
    assert body.status_code == 200
    checks = body.get_json()["checks"]
    assert body.get_json()["status"] == "degraded"
    assert checks["storage"]["status"] == "degraded" and checks["redis"]["status"] == "degraded"
    assert checks["search"]["status"] == "degraded" and "no-index" in checks["search"]["error"]
    assert client.get("/healthz").status_code == 200  # still in rotation


def test_a_node_whose_database_does_not_answer_leaves_rotation(tmp_path, monkeypatch):
    from tests.conftest import make_test_app

    monkeypatch.setenv("LMS_INSTANCE_PATH", str(tmp_path / "instance"))  # restored after the test
    down = make_test_app("postgresql+psycopg://postgres@127.0.0.1:1/nothing_listens_here", tmp_path,
                         LMS_METRICS_TOKEN=TOKEN)
    client = down.test_client()
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.get_json() == {"status": "error"}  # nothing more said in public
    answer = client.get("/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 503 and answer.get_json()["status"] == "error"
    assert answer.get_json()["checks"]["database"] == {"status": "error", "error": "OperationalError",
                                                       "ms": answer.get_json()["checks"]["database"]["ms"]}
