"""Export memory and time at 20k and 200k rows, CSV and XLSX, on SQLite and on PostgreSQL.

For each database: a scratch database, migrated, with 200,000 completion records written by bulk
Core inserts (20,000 learners of one unit, 10 records each, every 10th in credit year 2025, a
certificate for every 5th; services bypassed, the data only has to look real to the export query).
Then each export (20k rows: year 2025; 200k rows: every year) runs through the export service in
its own process, twice: once plain (wall time, growth of the peak RSS: VmHWM, or ru_maxrss) and once under
tracemalloc (peak of Python allocations). Memory at 200k / memory at 20k should be about 1: rows
are streamed, never held. Prints figures only; nothing is asserted about time.

    .venv/bin/python -m bench.export [--databases sqlite,postgresql] [--rows 200000]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.heartbeat import ROOT, scratch_database

UNIT = "91110105MA01EXPT"  # 16 characters; the check character is added at set-up
PER_LEARNER = 10


def _env(tmp: Path, url: str) -> dict:
    return {"DATABASE_URL": url, "LMS_INSTANCE_PATH": str(tmp / "instance"), "SECRET_KEY": "bench-secret",
            "LMS_DATA_KEY": "bench-data-key", "LMS_MEDIA_ROOT": str(tmp / "media"),
            "LMS_SEARCH_INDEX": str(tmp / "search-index"), "LMS_JOBS_FILE": str(tmp / "jobs.sqlite3")}


def _app():
    from lms import create_app

    return create_app({"SERVER_NAME": None})


def prepare(env: dict, rows: int) -> None:
    """Migrate and fill the scratch database with ``rows`` completion records (bulk Core inserts)."""
    os.environ.update(env)
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from lms.accounts import crypto
    from lms.accounts.identifiers import credit_code_check_char, id_number_check_char, mask_id_number
    from lms.accounts.models import EmploymentStatus, Organization, OrgKind, User
    from lms.catalog.models import Course
    from lms.catalog.services import import_packages, load_packages
    from lms.certificates.models import Certificate, CertificateKind
    from lms.cli import ensure_reference_data
    from lms.credits.models import CreditRecord, EntryKind
    from lms.extensions import db
    from lms.learning.models import Enrollment

    app = _app()
    start = time.monotonic()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        ensure_reference_data()
        import_packages(None, load_packages([ROOT / "courses" / "GX-NS-001", ROOT / "courses" / "GX-DT-002"]))
        db.session.commit()
        courses = db.session.scalars(select(Course).order_by(Course.id)).all()[:2]
        code17 = UNIT + "0"
        org_id = db.session.execute(insert(Organization).values(
            name="导出压测单位", kind=OrgKind.EMPLOYER, credit_code=code17 + credit_code_check_char(code17),
            region_code="110000").returning(Organization.id)).scalar_one()
        learners = rows // PER_LEARNER
        conn = db.session.connection()
        now = datetime(2026, 5, 1)
        for lo in range(0, learners, 2000):
            batch = []
            for n in range(lo, min(learners, lo + 2000)):
                id17 = f"110105199001{n:05d}"
                number = id17 + id_number_check_char(id17)
                batch.append({"real_name": f"压测学员{n}", "id_number_encrypted": crypto.encrypt(number),
                              "id_number_hash": crypto.lookup_hash(number), "id_number_masked": mask_id_number(number),
                              "password_hash": "!", "employer_id": org_id,
                              "employment_status": EmploymentStatus.APPROVED, "region_code": "110000"})
            conn.execute(insert(User), batch)
        first_user = db.session.scalar(select(User.id).where(User.employer_id == org_id).order_by(User.id))
        conn.execute(insert(Enrollment), [
            {"user_id": first_user + n, "course_id": c.id, "course_code": c.code, "enrolled_at": now - timedelta(days=30)}
            for n in range(learners) for c in courses])
        record_id = 0
        for lo in range(0, rows, 10000):
            records, certificates = [], []
            for k in range(lo, min(rows, lo + 10000)):
                record_id += 1
                course = courses[k % 2]
                year = 2025 if k % 10 == 9 else 2026
                done = now - timedelta(days=k % 300)
                records.append({"id": record_id, "user_id": first_user + k // PER_LEARNER, "course_id": course.id,
                                "course_code": course.code, "course_version": course.version,
                                "course_title": course.title, "hours": Decimal("1.5"), "category": course.category,
                                "credit_year": year, "completed_at": done, "exam_score": 60 + k % 41,
                                "entry_kind": EntryKind.COMPLETION, "created_at": done})
                if k % 5 == 0:
                    certificates.append({"number": f"GX2026{record_id:010d}", "kind": CertificateKind.COURSE,
                                         "user_id": first_user + k // PER_LEARNER, "credit_record_id": record_id,
                                         "course_code": course.code, "credit_year": year, "title": course.title,
                                         "category": course.category, "hours": Decimal("1.5"), "exam_score": 80,
                                         "completed_on": done.date(), "holder_name_masked": "压*",
                                         "holder_id_masked": "1101**********0000", "issuer_name": "压测",
                                         "pdf_path": "none.pdf", "pdf_sha256": "0" * 64, "credential_jwt": "x"})
            conn.execute(insert(CreditRecord), records)
            if certificates:
                conn.execute(insert(Certificate), certificates)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":  # numbered explicitly above: move the sequence on
            from sqlalchemy import text

            db.session.execute(text("SELECT setval('credit_record_id_seq', (SELECT max(id) FROM credit_record))"))
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        db.engine.dispose()
    print(f"  {rows:,} records for {learners:,} learners written in {time.monotonic() - start:.1f} s", flush=True)


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> int:
    """Start a new peak-RSS window; returns the RSS now (KiB). Linux resets VmHWM on "5" to
    clear_refs; elsewhere ru_maxrss (the peak since the process started) is the fallback."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kib("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _peak_kib() -> int:
    return _status_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(env: dict, fmt: str, year: int | None, out: str) -> None:
    """In a fresh process: warm up, then one plain run and one under tracemalloc. Prints JSON."""
    os.environ.update(env)
    from lms.exports import records, services
    from lms.extensions import db

    app = _app()
    with app.test_request_context():
        scope = records.Scope()
        services.write_export(scope, year=1999, fmt=fmt, out=out)  # imports and caches, no rows
        db.session.rollback()
        before = _reset_peak()
        start = time.monotonic()
        n = services.write_export(scope, year=year, fmt=fmt, out=out)
        seconds = time.monotonic() - start
        grown, peak_rss = _peak_kib() - before, _peak_kib()
        db.session.rollback()
        tracemalloc.start()
        services.write_export(scope, year=year, fmt=fmt, out=out)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        db.session.rollback()
        db.engine.dispose()
    print(json.dumps({"rows": n, "seconds": seconds, "rss_growth_kib": grown, "rss_peak_kib": peak_rss,
                      "traced_peak_kib": peak // 1024, "bytes": os.path.getsize(out)}))


def _run(code: str, env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return done.stdout


def bench_one(kind: str, rows: int) -> list[dict]:
    with scratch_database(kind, "lms-bench-export") as (tmp, url):
        env = _env(tmp, url)
        print(f"{kind}: preparing", flush=True)
        print(_run(f"from bench.export import prepare; prepare({env!r}, {rows})", env).rstrip(), flush=True)
        results = []
        for fmt in ("csv", "xlsx"):
            for label, year in ((f"{rows // 10 // 1000}k", 2025), (f"{rows // 1000}k", None)):
                out = str(tmp / f"export-{label}.{fmt}")
                line = _run(f"from bench.export import measure; measure({env!r}, {fmt!r}, {year!r}, {out!r})",
                            env).strip().splitlines()[-1]
                result = {"database": kind, "format": fmt, "label": label, **json.loads(line)}
                results.append(result)
                print(f"  {fmt:<5} {label:>5}: {result['rows']:>7,} rows {result['seconds']:>6.1f} s "
                      f"({result['rows'] / result['seconds']:,.0f} rows/s), RSS growth "
                      f"{result['rss_growth_kib'] / 1024:.1f} MiB (peak {result['rss_peak_kib'] / 1024:.0f} MiB), "
                      f"tracemalloc peak {result['traced_peak_kib'] / 1024:.2f} MiB, file "
                      f"{result['bytes'] / 1048576:.1f} MiB", flush=True)
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    all_results = []
    for kind in args.databases.split(","):
        all_results += bench_one(kind, args.rows)
    print()
    print(f"{'database':<11} {'format':<7} {'time ×':>7} {'RSS growth ×':>13} {'tracemalloc peak ×':>19}   "
          f"(200k / 20k; rows ×10)")
    for kind in args.databases.split(","):
        for fmt in ("csv", "xlsx"):
            small, large = [r for r in all_results if r["database"] == kind and r["format"] == fmt]
            rss = (max(large["rss_growth_kib"], 1) / max(small["rss_growth_kib"], 1))
            print(f"{kind:<11} {fmt:<7} {large['seconds'] / small['seconds']:>7.1f} {rss:>13.2f} "
                  f"{large['traced_peak_kib'] / max(small['traced_peak_kib'], 1):>19.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
