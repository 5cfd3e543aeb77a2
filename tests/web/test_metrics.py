"""/metrics: what real requests and real heartbeats through the player's API leave there, the
scrape-time gauges (outbox, export jobs), and who may scrape it."""

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lms.config import _networks
from lms.core.clock import utcnow_naive
from lms.exports.models import ExportJob, ExportStatus
from lms.outbox.models import OutboxMessage, OutboxStatus
from tests.learning_helpers import course

HEARTBEAT = "/api/v1/learning/heartbeat"


def samples(client, **kwargs) -> dict:
    """The scrape as {(sample name, sorted labels): value}."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def delta(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
def scraping(app, monkeypatch):
    """Scrapes from the test client's address (127.0.0.1) are let in."""
    monkeypatch.setitem(app.config, "LMS_METRICS_ALLOW", _networks("127.0.0.1/32"))


@pytest.fixture
def learner(client, db_session, make_user, login, csrf_token):
    c = course(db_session)
    user = make_user()
    login(user)
    page = client.get(f"/courses/{c.code}").get_data(as_text=True)
    client.post(f"/learn/{c.code}/enrol", data={"csrf_token": csrf_token(page)})
    return client, c, csrf_token(client.get("/my/learning").get_data(as_text=True))


def _beat(client, body, token):
    return client.post(HEARTBEAT, json=body, headers={"X-CSRFToken": token})


def test_latency_by_endpoint_and_heartbeats_by_reason_after_real_beats(
        app, scraping, learner, client_factory, make_user, login, csrf_token):
    client, c, token = learner
    scraper = client_factory()
    before = samples(scraper)
    sid = client.post("/api/v1/learning/sessions", json={"lesson_id": c.lessons[0].id},
                      headers={"X-CSRFToken": token}).json["session_id"]
    beat = {"session_id": sid, "seq": 1, "position": 1, "segments": [[0, 1]], "rate": 1, "visible": True}
    statuses = [
        _beat(client, {}, token).status_code,                                     # malformed (no session)
        _beat(client, beat, token).status_code,                                   # accepted
        _beat(client, {**beat, "seq": 2, "position": 2, "segments": [[1, 2]]}, token).status_code,  # accepted
        _beat(client, beat, token).status_code,                                   # duplicate (seq 1 again)
        _beat(client, {**beat, "seq": "x"}, token).status_code,                   # malformed
        client.post(HEARTBEAT, data="not json", headers={"X-CSRFToken": token}).status_code,  # malformed
        _beat(client, {**beat, "seq": 3}, "not-the-token").status_code,           # stale_page
        _beat(client, {**beat, "session_id": "no-such-session", "seq": 3}, token).status_code,  # unknown_session
        _beat(client_factory(), {**beat, "seq": 3}, token).status_code,           # signed_out
    ]
    intruder = client_factory()
    other = make_user()
    page = intruder.get("/login").get_data(as_text=True)
    intruder.post("/login", data={"login": other.mobile, "password": "Study2026ok", "csrf_token": csrf_token(page)})
    other_token = csrf_token(intruder.get("/my/learning").get_data(as_text=True))
    statuses.append(_beat(intruder, {**beat, "seq": 3}, other_token).status_code)  # not_owner
    client.post("/api/v1/learning/sessions", json={"lesson_id": c.lessons[0].id}, headers={"X-CSRFToken": token})
    statuses.append(_beat(client, {**beat, "seq": 3}, token).status_code)  # superseded by the new session
    assert statuses == [400, 200, 200, 200, 400, 400, 403, 404, 403, 403, 409]

    after = samples(scraper)
    assert delta(before, after, "lms_heartbeats_accepted_total") == 2
    refused = {reason: delta(before, after, "lms_heartbeats_refused_total", reason=reason)
               for reason in ("malformed", "signed_out", "stale_page", "unknown_session", "not_owner",
                              "login_ended", "duplicate", "superseded", "other")}
    assert refused == {"malformed": 3, "signed_out": 1, "stale_page": 1, "unknown_session": 1, "not_owner": 1,
                       "login_ended": 0, "duplicate": 1, "superseded": 1, "other": 0}

    hist = "lms_http_request_duration_seconds"
    labels = {"endpoint": "learning_api.heartbeat", "method": "POST"}
    by_status = {status: delta(before, after, f"{hist}_count", status=status, **labels)
                 for status in ("200", "400", "403", "404", "409")}
    assert by_status == {"200": 3, "400": 3, "403": 3, "404": 1, "409": 1}
    assert delta(before, after, f"{hist}_bucket", status="200", le="+Inf", **labels) == 3
    assert delta(before, after, f"{hist}_sum", status="200", **labels) > 0
    assert delta(before, after, f"{hist}_count", endpoint="learning_api.start_session", method="POST",
                 status="200") == 2
    assert delta(before, after, f"{hist}_count", endpoint="core.metrics_page", method="GET", status="200") == 1
    scraper.get("/no/such/page")
    assert delta(after, samples(scraper), f"{hist}_count", endpoint="unmatched", method="GET", status="404") == 1


def test_outbox_backlog_and_export_jobs_are_read_at_scrape_time(app, scraping, client, db_session, make_user):
    from lms.accounts.models import Role

    now = utcnow_naive()
    for n, (status, age) in enumerate([(OutboxStatus.PENDING, 300), (OutboxStatus.PENDING, 20),
                                       (OutboxStatus.FAILED, 9000), (OutboxStatus.DELIVERED, 99999)]):
        db_session.add(OutboxMessage(channel="webhook", event_type="credit_record.created", event_id=f"evt-{n}",
                                     payload="{}", status=status, created_at=now - timedelta(seconds=age)))
    admin = make_user(roles=(Role.ADMIN,))
    db_session.add(ExportJob(requested_by_id=admin.id, token="t" * 40, format="csv", status=ExportStatus.QUEUED,
                             created_at=now - timedelta(seconds=120)))
    db_session.commit()

    scraped = samples(client)
    assert scraped[("lms_outbox_messages", (("channel", "webhook"), ("status", "pending")))] == 2
    assert scraped[("lms_outbox_messages", (("channel", "webhook"), ("status", "failed")))] == 1
    assert ("lms_outbox_messages", (("channel", "webhook"), ("status", "delivered"))) not in scraped
    oldest = scraped[("lms_outbox_oldest_pending_age_seconds", (("channel", "webhook"),))]
    assert 300 <= oldest < 400  # the oldest pending one; the failed one is given up, not waiting
    assert scraped[("lms_export_jobs", (("status", "queued"),))] == 1
    assert scraped[("lms_export_jobs", (("status", "running"),))] == 0
    assert 120 <= scraped[("lms_export_oldest_unfinished_age_seconds", ())] < 220
    assert scraped[("lms_job_queue_pending", (("queue", "media"),))] == 0  # immediate mode: nothing waits
    assert all(value == 1 for (name, _labels), value in scraped.items() if name == "lms_scrape_source_up")


def test_a_scrape_needs_the_token_or_an_allowed_network(app, client, monkeypatch):
    assert client.get("/metrics").status_code == 403  # neither configured: nobody
    assert client.get("/metrics", headers={"Accept": "application/json"}).json["error"]["code"] == "forbidden"
    monkeypatch.setitem(app.config, "LMS_METRICS_TOKEN", "scrape-secret-1234")
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-secret"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Basic scrape-secret-1234"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1234"}).status_code == 200
    monkeypatch.setitem(app.config, "LMS_METRICS_ALLOW", _networks("10.0.0.0/8, ::1"))
    assert client.get("/metrics").status_code == 403  # 127.0.0.1 is not in it
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.2.3.4"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "11.2.3.4"}).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_a_bad_allow_list_stops_start_up():
    with pytest.raises(ValueError, match="LMS_METRICS_ALLOW"):
        _networks("10.0.0.300/8")
    assert _networks("") == ()


def test_a_beat_after_the_password_changed_elsewhere_counts_as_login_ended(
        app, scraping, learner, client_factory, db_session):
    client, c, token = learner
    scraper = client_factory()
    sid = client.post("/api/v1/learning/sessions", json={"lesson_id": c.lessons[0].id},
                      headers={"X-CSRFToken": token}).json["session_id"]
    before = samples(scraper)
    from lms.accounts.models import User
    from lms.learning.models import PlaySession

    user = db_session.get(User, db_session.get(PlaySession, sid).user_id)
    user.login_epoch += 1  # what a password change on another device does
    db_session.commit()
    assert _beat(client, {"session_id": sid, "seq": 1, "position": 1, "segments": [[0, 1]]}, token).status_code == 403
    after = samples(scraper)
    assert delta(before, after, "lms_heartbeats_refused_total", reason="login_ended") == 1
    assert delta(before, after, "lms_heartbeats_accepted_total") == 0
