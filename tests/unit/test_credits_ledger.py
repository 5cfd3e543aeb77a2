"""The ledger across rule sets: credit years (calendar and 30 April cycles), tiers, daily cap, and
append-only corrections."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from lms.core import clock
from lms.core.errors import Conflict, InvalidInput
from lms.credits import services
from lms.credits.models import CreditRecord, LedgerIsAppendOnly, RuleSet
from tests.learning_helpers import course

# Completions (UTC) of the two test courses (2 学时 公需, and GX-DT-002) — local time is UTC+8.
COMPLETIONS = [
    ("GX-NS-001", datetime(2025, 3, 10, 2, 0)),   # 2025-03-10 local
    ("GX-DT-002", datetime(2025, 4, 30, 15, 30)),  # 2025-04-30 23:30 local: still the April cycle's 2024
    ("GX-NS-001", datetime(2025, 4, 30, 16, 30)),  # 2025-05-01 00:30 local: April cycle's 2025
    ("GX-DT-002", datetime(2025, 12, 31, 17, 0)),  # 2026-01-01 01:00 local
]




@pytest.fixture
def learners(make_user, db_session):
    national = make_user(region="110000")  # Beijing: no regional rule → national
    april = make_user(region="440000")     # shipped example: closes 30 April
    tiered = make_user(region="330000")    # shipped example: tiers by lesson length
    return national, april, tiered


def complete_all(user, db_session):
    for code, at in COMPLETIONS:
        services.record_course_completion(user, course(db_session, code), completed_at=at, exam_score=90)


def totals(user_id):
    result = {}
    for record in services.active_records(user_id):
        result[record.credit_year] = result.get(record.credit_year, Decimal(0)) + record.hours
    return result


def test_same_completions_give_each_rule_sets_year_totals(ctx, db_session, learners):
    national, april, tiered = learners
    ns, dt = course(db_session, "GX-NS-001"), course(db_session, "GX-DT-002")
    h_ns, h_dt = ns.credit_hours, dt.credit_hours
    for user in learners:
        complete_all(user, db_session)
    assert services.rule_set_for(national).region_code is None
    assert totals(national.id) == {2025: h_ns + h_dt + h_ns, 2026: h_dt}
    # April cycle: year N runs 1 May N – 30 April N+1.
    assert totals(april.id) == {2024: h_ns + h_dt, 2025: h_ns + h_dt}
    # Tiers: hours follow the video lessons' lengths under the tier rule, whatever the course declares.
    rule = services.rule_set_for(tiered)
    expected = {c.code: services.hours_for_course(rule, c) for c in (ns, dt)}
    assert totals(tiered.id) == {2025: expected["GX-NS-001"] * 2 + expected["GX-DT-002"], 2026: expected["GX-DT-002"]}


def test_year_summary_against_the_rule(ctx, db_session, learners):
    _national, april, _ = learners
    complete_all(april, db_session)
    with clock.freeze(datetime(2026, 4, 1, tzinfo=UTC)):
        summary = services.year_summary(april)
    assert summary.year == 2025
    assert (summary.starts.isoformat(), summary.deadline.isoformat()) == ("2025-05-01", "2026-04-30")
    assert summary.required == Decimal(90) and summary.missing == Decimal(90) - summary.total
    assert summary.days_left == 29 and not summary.closed
    public = next(line for line in summary.lines if line.category == "public")
    assert public.required == Decimal(30)


def test_tiers_and_rounding_are_pure():
    rule = RuleSet(hour_tiers="20:0.5,40:1", rounding_step=Decimal("0.5"))
    assert services.hours_for_lessons(rule, Decimal(5), [19 * 60, 20 * 60, 45 * 60, 39.9 * 60]) == Decimal("2.0")
    national = RuleSet(rounding_step=Decimal("0.5"))
    assert services.hours_for_lessons(national, Decimal("1.7"), []) == Decimal("1.5")
    assert services.round_down(Decimal("0.49"), Decimal("0.5")) == Decimal("0.0")


def test_daily_cap_limits_one_local_day(ctx, db_session, make_user):
    user = make_user(region="440000")
    rule = services.rule_set_for(user)
    rule.daily_cap_hours = Decimal("3")
    db_session.flush()
    ns, dt = course(db_session, "GX-NS-001"), course(db_session, "GX-DT-002")
    first = services.record_course_completion(user, ns, completed_at=datetime(2026, 3, 2, 1, 0), exam_score=80)
    second = services.record_course_completion(user, dt, completed_at=datetime(2026, 3, 2, 3, 0), exam_score=80)
    assert first.hours + second.hours == min(Decimal(3), ns.credit_hours + dt.credit_hours)
    if ns.credit_hours + dt.credit_hours > 3:
        assert "每日上限 3 学时" in second.note
    # The next local day has room again (16:30 UTC is 00:30 the next day in Shanghai).
    third = services.record_course_completion(user, ns, completed_at=datetime(2026, 3, 2, 16, 30), exam_score=80)
    assert third.hours == ns.credit_hours


def test_corrections_are_new_entries_and_rows_never_change(ctx, db_session, make_user):
    admin = make_user(roles=("admin",))
    user = make_user()
    original = services.record_course_completion(user, course(db_session), completed_at=datetime(2026, 3, 2, 1),
                                                 exam_score=70)
    corrected = services.correct_record(admin, original.id, hours="1.5", reason="课程学时标注有误")
    assert corrected.voids_id == original.id and corrected.entered_by_id == admin.id
    assert [r.id for r in services.active_records(user.id)] == [corrected.id]
    with pytest.raises(Conflict):
        services.correct_record(admin, original.id, hours="1", reason="再次更正")
    with pytest.raises(InvalidInput):
        services.revoke_record(admin, corrected.id, reason="  ")
    revocation = services.revoke_record(admin, corrected.id, reason="重复记录")
    assert revocation.hours == 0 and services.active_records(user.id) == []
    assert len(services.history(user.id)) == 3
    original.hours = Decimal(9)
    with pytest.raises(LedgerIsAppendOnly):
        db_session.flush()
    db_session.rollback()


def test_rule_validation_refuses_bad_values_and_changes_nothing(ctx, db_session, make_user):
    admin = make_user(roles=("admin",))
    national = services.ensure_national_rule_set()
    good = {"name": "全国", "region_code": "", "annual_hours": "90", "public_min_hours": "30", "minutes_per_hour": "45",
            "rounding_step": "0.5", "hour_tiers": "", "daily_cap_hours": "", "cycle_end_month": "12",
            "cycle_end_day": "31", "coverage_threshold": "95", "allowed_rates": "1,1.25", "quiz_pass_score": "60",
            "quiz_attempts": "3"}
    for field, bad in [("public_min_hours", "100"), ("cycle_end_day", "30", ), ("rounding_step", "0.3"),
                       ("hour_tiers", "20-0.5"), ("allowed_rates", "1.5,2"), ("annual_hours", "abc")]:
        values = dict(good, **{field: bad})
        if field == "cycle_end_day":
            values["cycle_end_month"] = "2"
        with pytest.raises(InvalidInput) as exc:
            services.save_rule_set(admin, national.id, values)
        assert exc.value.field == field
    assert national.annual_hours == Decimal(90)
    saved = services.save_rule_set(admin, national.id, dict(good, annual_hours="72"))
    assert saved.annual_hours == Decimal(72) and saved.region_code is None
    with pytest.raises(Conflict):
        services.save_rule_set(admin, None, dict(good, region_code="440000"))


GOOD_RULE = {"name": "全国", "region_code": " 440000 ", "annual_hours": "90", "public_min_hours": "30",
             "minutes_per_hour": "45.5", "rounding_step": "0.5", "hour_tiers": "20：0.5， 40:1", "daily_cap_hours": " 8 ",
             "cycle_end_month": "2", "cycle_end_day": "28", "coverage_threshold": "95", "allowed_rates": "1.5，1,1.25",
             "quiz_pass_score": "60", "quiz_attempts": "3", "claim_caps": "发表论文：20， conference:30",
             "claim_year_cap_hours": "40", "claims_need_region": "1", "class_credit": " programme "}
# For every field of the form but the region (checked against the regions when saved) and the yes/no
# claims_need_region: values it refuses.
BAD_RULE_VALUES = {
    "name": ["", " x ", "名" * 81], "annual_hours": ["0.5", "501", "abc", "NaN"], "public_min_hours": ["-1", "91"],
    "minutes_per_hour": ["19", "61", ""], "rounding_step": ["0.3", "2"], "hour_tiers": ["20-0.5", "0:1", "20:0.05,20:1"],
    "daily_cap_hours": ["0.4", "25", "x"], "cycle_end_month": ["", "x"], "cycle_end_day": ["29", "0", "x"],
    "coverage_threshold": ["49", "0.4", "101"], "allowed_rates": ["", "1.5,2", "0.4,1", "1,x"],
    "quiz_pass_score": ["-1", "101"], "quiz_attempts": ["0", "21"],
    "claim_caps": ["paper=20", "party:5", "paper:1,paper:2", "paper:-1"], "claim_year_cap_hours": ["-1", "501", "x"],
    "class_credit": ["course", "按项目", "programme\x00"],
}


def test_rule_validation_checks_every_field_and_normalises_the_values():
    assert set(BAD_RULE_VALUES) | {"region_code", "claims_need_region"} == set(services.RULE_FIELDS)
    clean = services.validate_rule_values(GOOD_RULE)
    assert list(clean) == list(services.RULE_FIELDS)
    assert clean == {"name": "全国", "region_code": "440000", "annual_hours": Decimal(90),
                     "public_min_hours": Decimal(30), "minutes_per_hour": 45, "rounding_step": Decimal("0.5"),
                     "hour_tiers": "20:0.5,40:1", "daily_cap_hours": Decimal(8), "cycle_end_month": 2,
                     "cycle_end_day": 28, "coverage_threshold": Decimal("0.95"), "allowed_rates": "1,1.25,1.5",
                     "quiz_pass_score": 60, "quiz_attempts": 3, "claim_caps": "paper:20,conference:30",
                     "claim_year_cap_hours": Decimal(40), "claims_need_region": True, "class_credit": "programme"}
    assert services.validate_rule_values(dict(GOOD_RULE, region_code="", hour_tiers="", daily_cap_hours=""))[
        "region_code"] is None
    # A rule set saved before classes could be credited per programme: per session, as it always was.
    assert services.validate_rule_values(dict(GOOD_RULE, class_credit=None))["class_credit"] == "session"
    for field, values in BAD_RULE_VALUES.items():
        for bad in values:
            with pytest.raises(InvalidInput) as exc:
                services.validate_rule_values(dict(GOOD_RULE, **{field: bad}))
            assert exc.value.field == field, (field, bad)


def test_learning_reads_pass_mark_and_attempts_from_the_rule(ctx, db_session, make_user):
    from lms.learning import exam as learning

    user = make_user(region="440000")
    rule = services.rule_set_for(user)
    rule.quiz_pass_score, rule.quiz_attempts = 75, 2
    db_session.flush()
    rules = learning.exam_rules(user, course(db_session))
    assert (rules.pass_score >= 75, rules.attempts) == (True, 2)
    assert db_session.scalar(select(CreditRecord).where(CreditRecord.user_id == user.id)) is None
