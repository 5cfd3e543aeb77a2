"""Time an inspection plan of realistic size: N credit records of one year (100,000 by default),
frozen, drawn, and its public page and published document served; the pool is P inspectors (2 by
default), every fifth employed by the records' learner's unit (excluded from all of them).

    LMS_TEST_DATABASE=postgresql python -m bench.inspections [N] [P]

Builds a database of its own (dropped afterwards) with the test helpers; prints seconds and bytes.
"""

import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from tests.conftest import TEST_PASSWORD, build_database, credit_code, fresh_database, id_number, make_test_app


def _timed(label, call):
    started = time.perf_counter()
    value = call()
    print(f"{label:<44} {time.perf_counter() - started:8.2f} s", flush=True)
    return value


def main(n: int, inspectors: int = 2) -> None:
    from lms.accounts import services as accounts
    from lms.accounts.models import Role
    from lms.extensions import db
    from lms.programme import inspections

    with tempfile.TemporaryDirectory() as tmp, fresh_database(Path(tmp), "benchinsp") as url:
        app = make_test_app(url, Path(tmp), RATELIMIT_ENABLED=False)
        build_database(app)
        with app.test_request_context():
            people = []
            everyone = [(Role.PROGRAMME_OFFICE,), (Role.INSPECTOR,), (Role.INSPECTOR,), ()] \
                + [(Role.INSPECTOR,)] * max(0, inspectors - 2)
            for i, roles in enumerate(everyone):
                unit = 3 if i > 3 and i % 5 == 0 else i  # every fifth further inspector works in the learner's unit
                user = accounts.create_person(None, accounts.PersonData(
                    real_name=f"测试{i}", id_number=id_number(f"11010519800101{i:03d}"), password=TEST_PASSWORD,
                    mobile=f"1380000{i:04d}", region_code="110000", employer_name=f"单位{unit}",
                    employer_credit_code=credit_code(f"91110105MA0B{unit:04d}0")), roles=())
                for role in roles:
                    accounts.grant_role(None, user, role)
                people.append(user)
            db.session.commit()
            office_id, learner_id = people[0].id, people[3].id
            series = ("generate_series(1, :n)" if url.startswith("postgresql")
                      else "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s)")
            _timed(f"insert {n} credit records (SQL)", lambda: db.session.execute(text(
                "INSERT INTO credit_record (user_id, course_title, hours, category, credit_year, completed_at, "
                "created_at, entry_kind, origin) SELECT :user, 'bench', 1.0, 'public', 2025, "
                f"'2025-06-01', '2025-06-01', 'completion', 'online_course' FROM {series} AS g"),
                {"user": learner_id, "n": n}))
            db.session.commit()
            office = db.session.get(accounts.User, office_id)
            plan = inspections.create_plan(office, inspections.PlanData(
                title="学时记录抽查", scope="national", population="credit_records", year=2025, target_count=50))
            db.session.commit()
            plan_id = plan.id

            def freeze():
                inspections.freeze_plan(office, plan)
                db.session.commit()

            _timed("freeze (service + commit)", freeze)
            # the same records, key and plan id give the same published population: compare across runs
            print(f"{'population_sha256':<44} {plan.population_sha256}", flush=True)
            db.session.remove()
        client = app.test_client()
        for label in ("frozen", "drawn"):
            for path in (f"/programme/inspections/{plan_id}", f"/programme/inspections/{plan_id}/draw.json"):
                response = _timed(f"GET {path} ({label})", lambda path=path: client.get(path))
                print(f"{'':<44} {response.status_code} {len(response.data):>10} bytes")
            if label == "frozen":
                with app.test_request_context():
                    office = db.session.get(accounts.User, office_id)

                    def draw(office=office):
                        inspections.reveal_and_draw(office, inspections.load_plan(office, plan_id))
                        db.session.commit()

                    _timed("reveal and draw (service + commit)", draw)
                    db.session.remove()
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, int(sys.argv[2]) if len(sys.argv) > 2 else 2)
