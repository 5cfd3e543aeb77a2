"""Two or more offices changing one thing of the programme office at the same moment, each in a POST
request of its own thread with its own committing connection to a real database (run the file with
LMS_TEST_DATABASE=postgresql too): a base is withdrawn once, a plan frozen, drawn and closed once,
an evaluation of a year recorded once, a base or an institution registered once, codes never
collide, and every loser is told why (409), never a 500.

On PostgreSQL each thread reads the row first and only then waits for the others (the stale read
that the row lock must correct); on SQLite a POST's transaction holds the write lock from BEGIN, so
the threads start together and are served one after the other."""

import threading
from itertools import count

import pytest
from sqlalchemy import func, select

from lms.accounts.models import Organization, Role, User
from lms.core.audit import AuditEvent
from lms.core.errors import DomainError
from lms.extensions import db
from lms.programme import bases as bases_service
from lms.programme import inspections as inspections_service
from lms.programme import institutions as institutions_service
from lms.programme import services as plans_service
from lms.programme.models import (
    BaseEvaluation,
    BaseEvent,
    BaseStatus,
    ContinuingEducationBase,
    InspectionAssignment,
    InspectionEntry,
    InspectionPlan,
    InspectionStatus,
    Institution,
    InstitutionChange,
    Plan,
)
from tests.conftest import committed_app, credit_code, id_number, session_per_thread

_serial = count(1)


@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    with committed_app(tmp_path_factory.mktemp("programme-races"), "prograce", packages=()) as application:
        yield application


def _postgres(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def _person(app, roles, region="110000", **grant) -> int:
    from lms.accounts import services

    n = next(_serial)
    with app.test_request_context():
        user = services.create_person(None, services.PersonData(
            real_name=f"并发{n}", id_number=id_number(f"11010519850101{n:03d}"), password="Study2026ok",
            mobile=f"1365555{n:04d}", region_code=region, employer_name=f"并发单位{n}",
            employer_credit_code=credit_code(f"91110105MA0R{n:04d}0")), roles=())
        for role in roles:
            services.grant_role(None, user, role, **grant)
        db.session.commit()
        user_id = user.id
        db.session.remove()
    return user_id


@pytest.fixture
def offices(own_app, monkeypatch):
    session_per_thread(own_app, monkeypatch)
    return [_person(own_app, (Role.PROGRAMME_OFFICE,)) for _ in range(3)]


def race(app, actions):
    """Run each ``(actor id, load, act)`` in a POST request of its own thread at the same moment:
    ``load(actor)`` reads what the action works on, ``act(actor, loaded)`` changes it and the thread
    commits. The outcome of each: "ok", the refusal's HTTP status, or the unexpected exception."""
    barrier = threading.Barrier(len(actions))
    outcomes = [None] * len(actions)
    pg = _postgres(app)

    def run(i, actor_id, load, act):
        try:
            if not pg:
                barrier.wait(30)
            with app.test_request_context("/programme/race", method="POST"):
                try:
                    actor = db.session.get(User, actor_id)
                    loaded = load(actor)
                    if pg:
                        barrier.wait(30)  # every thread has read the row before anyone changes it
                    act(actor, loaded)
                    db.session.commit()
                    outcomes[i] = "ok"
                except DomainError as exc:
                    db.session.rollback()
                    outcomes[i] = exc.status
                finally:
                    db.session.remove()
        except Exception as exc:  # noqa: BLE001 (reported by the assertion of the test)
            outcomes[i] = repr(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i, *action)) for i, action in enumerate(actions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return outcomes


def _read(app, query):
    with app.app_context():
        value = db.session.scalar(query)
        db.session.remove()
    return value


def _audits(app, action, target_id=None):
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    if target_id is not None:
        query = query.where(AuditEvent.target_id == str(target_id))
    return _read(app, query)


# ---------------------------------------------------------------- bases

def _base(app, office_id) -> int:
    n = next(_serial)
    with app.test_request_context():
        office = db.session.get(User, office_id)
        base = bases_service.register_base(office, bases_service.BaseData(
            f"并发基地{n}", "", "provincial", "110000", "2020-01-01", f"文号〔2020〕{n}号"))
        db.session.commit()
        base_id = base.id
        db.session.remove()
    return base_id


def _load_base(base_id):
    return lambda actor: bases_service.load_base(actor, base_id, manage=True)


def test_a_base_is_withdrawn_once_and_nothing_follows_its_withdrawal(own_app, offices):
    base_id = _base(own_app, offices[0])
    def withdraw(actor, base):
        return (bases_service.withdraw_base(actor, base, "2024-01-02", "撤销认定的原因"))
    def status(actor, base):
        return (bases_service.change_status(actor, base, "under_evaluation", "2024-01-02"))
    outcomes = race(own_app, [(offices[0], _load_base(base_id), withdraw), (offices[1], _load_base(base_id), withdraw),
                              (offices[2], _load_base(base_id), status)])
    assert all(o in ("ok", 409) for o in outcomes), outcomes
    assert outcomes[:2].count("ok") == 1, outcomes  # one withdrawal
    kinds = list(_read(own_app, select(func.group_concat(BaseEvent.kind) if not _postgres(own_app)
                                       else func.string_agg(BaseEvent.kind, ",")).where(BaseEvent.base_id == base_id))
                 .split(","))
    assert kinds.count("withdrawn") == 1 and kinds[-1] == "withdrawn", kinds  # final: nothing after it
    assert _read(own_app, select(ContinuingEducationBase.status).where(
        ContinuingEducationBase.id == base_id)) == BaseStatus.WITHDRAWN
    assert _audits(own_app, bases_service.WITHDRAWN_ACTION, base_id) == 1


def test_two_evaluations_of_one_year_at_once_one_is_recorded_the_other_409(own_app, offices):
    base_id = _base(own_app, offices[0])

    def evaluate(actor, base):
        bases_service.record_evaluation(actor, base, bases_service.EvaluationData(
            year="2023", score="88", result="qualified", evaluator="专家组", evaluated_on="2024-01-05"), [])

    outcomes = race(own_app, [(o, _load_base(base_id), evaluate) for o in offices[:2]])
    assert sorted(outcomes, key=str) == [409, "ok"], outcomes
    assert _read(own_app, select(func.count()).select_from(BaseEvaluation).where(BaseEvaluation.base_id == base_id)) == 1
    assert _audits(own_app, bases_service.EVALUATED_ACTION, base_id) == 1


def test_one_new_base_registered_twice_at_once_is_one_organization_and_one_base(own_app, offices):
    name = f"同时登记的新基地{next(_serial)}"

    def register(actor, _loaded):
        bases_service.register_base(actor, bases_service.BaseData(name, "", "provincial", "110000", "2021-05-01",
                                                                  "京人社〔2021〕9号"))

    outcomes = race(own_app, [(o, lambda actor: None, register) for o in offices])
    assert sorted(outcomes, key=str) == [409, 409, "ok"], outcomes
    assert _read(own_app, select(func.count()).select_from(Organization).where(Organization.name == name)) == 1
    assert _read(own_app, select(func.count()).select_from(ContinuingEducationBase).join(
        Organization, Organization.id == ContinuingEducationBase.organization_id).where(Organization.name == name)) == 1


# ---------------------------------------------------------------- inspections

def _inspection_plan(app, office_id) -> int:
    _person(app, (Role.INSPECTOR,))
    _base(app, office_id)
    with app.test_request_context():
        office = db.session.get(User, office_id)
        plan = inspections_service.create_plan(office, inspections_service.PlanData(
            title=f"并发抽查{next(_serial)}", scope="national", population="bases", year=2025, target_count=1))
        db.session.commit()
        plan_id = plan.id
        db.session.remove()
    return plan_id


def _step(app, plan_id, step, offices):
    def load(actor):
        return (inspections_service.load_plan(actor, plan_id))
    return race(app, [(o, load, step) for o in offices])


def test_a_plan_is_frozen_drawn_and_closed_once_and_the_others_get_409(own_app, offices):
    plan_id = _inspection_plan(own_app, offices[0])
    outcomes = _step(own_app, plan_id, inspections_service.freeze_plan, offices)
    assert sorted(outcomes, key=str) == [409, 409, "ok"], outcomes
    population = _read(own_app, select(func.count()).select_from(InspectionEntry)
                       .where(InspectionEntry.plan_id == plan_id))
    assert population == _read(own_app, select(func.count()).select_from(ContinuingEducationBase)
                               .where(ContinuingEducationBase.status != BaseStatus.WITHDRAWN))
    assert _audits(own_app, "inspection.frozen", plan_id) == 1

    outcomes = _step(own_app, plan_id, inspections_service.reveal_and_draw, offices)
    assert sorted(outcomes, key=str) == [409, 409, "ok"], outcomes
    assert _read(own_app, select(func.count()).select_from(InspectionAssignment)
                 .where(InspectionAssignment.plan_id == plan_id)) == 1
    assert _audits(own_app, "inspection.drawn", plan_id) == 1

    with own_app.app_context():
        assignment = db.session.scalar(select(InspectionAssignment).where(InspectionAssignment.plan_id == plan_id))
        assignment.result, assignment.notes = "compliant", ""
        db.session.commit()
        db.session.remove()
    outcomes = _step(own_app, plan_id, inspections_service.close_plan, offices)
    assert sorted(outcomes, key=str) == [409, 409, "ok"], outcomes
    assert _read(own_app, select(InspectionPlan.status).where(InspectionPlan.id == plan_id)) == InspectionStatus.CLOSED
    assert _audits(own_app, "inspection.closed", plan_id) == 1


# ---------------------------------------------------------------- institutions

def _institution(name, region="110000", kind="training", credit=""):
    return institutions_service.InstitutionData(kind=kind, name=name, credit_code=credit, region_code=region,
                                                fields=["ai"], reason="")


def test_listings_at_once_get_distinct_codes_and_one_name_is_listed_once(own_app, offices):
    national = [_person(own_app, (Role.PROGRAMME_OFFICE,)) for _ in range(1)] + offices
    n = next(_serial)
    outcomes = race(own_app, [(o, lambda actor: None, lambda actor, _l, i=i: institutions_service.list_institution(
        actor, _institution(f"并发机构{n}-{i}"))) for i, o in enumerate(national)])
    assert outcomes == ["ok"] * len(national), outcomes
    codes = _read(own_app, select(func.count(func.distinct(Institution.code))).where(
        Institution.name.like(f"并发机构{n}-%")))
    assert codes == len(national)

    same = f"同名机构{n}"
    outcomes = race(own_app, [(o, lambda actor: None, lambda actor, _l, region=region: institutions_service.
                               list_institution(actor, _institution(same, region)))
                              for o, region in zip(offices, ("110000", "440000", "110000"), strict=True)])
    assert sorted(outcomes, key=str) == [409, 409, "ok"], outcomes
    assert _read(own_app, select(func.count()).select_from(Institution).where(Institution.name == same)) == 1


def test_an_institution_is_suspended_once(own_app, offices):
    with own_app.test_request_context():
        entry = institutions_service.list_institution(db.session.get(User, offices[0]),
                                                      _institution(f"待暂停机构{next(_serial)}"))
        db.session.commit()
        code, entry_id = entry.code, entry.id
        db.session.remove()
    def load(actor):
        return (institutions_service.get_institution(code))
    def suspend(actor, entry):
        return (institutions_service.suspend_institution(actor, entry, "暂停的原因"))
    outcomes = race(own_app, [(o, load, suspend) for o in offices])
    assert sorted(outcomes, key=str) == [409, 409, "ok"], outcomes
    assert _read(own_app, select(func.count()).select_from(InstitutionChange).where(
        InstitutionChange.institution_id == entry_id, InstitutionChange.kind == "suspended")) == 1
    assert _audits(own_app, institutions_service.SUSPENDED_ACTION, entry_id) == 1


# ---------------------------------------------------------------- plan imports

def test_imports_of_one_year_at_once_are_served_one_after_the_other(own_app, offices):
    data = plans_service.REFERENCE_PLAN.read_bytes()
    year = 2030 + next(_serial) % 50

    def import_(actor, _loaded):
        plans_service.import_plan(actor, year, data, source_name="plan.csv")

    outcomes = race(own_app, [(o, lambda actor: None, import_) for o in offices])
    assert outcomes == ["ok"] * 3, outcomes  # the later ones replace the first's table
    assert _read(own_app, select(func.count()).select_from(Plan).where(Plan.year == year)) == 1
    outcomes = race(own_app, [(o, lambda actor: None, import_) for o in offices])
    assert outcomes == ["ok"] * 3, outcomes
    assert _audits(own_app, plans_service.IMPORTED_ACTION) >= 6

