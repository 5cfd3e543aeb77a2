"""Helpers for the 学时登记 tests: evidence files of every sort, and claims made the real way."""

import io
import itertools
from datetime import date
from decimal import Decimal

from lms.claims import services as claims
from lms.claims.evidence import Upload

PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (30, 30, 200)).save(out, "JPEG")
    return out.getvalue()


_files = itertools.count(1)


def upload(name: str = "证明.pdf", data: bytes | None = None) -> Upload:
    """A file as sent; without ``data``, a valid PDF of its own (one file is evidence of one claim only)."""
    if data is None:
        data = PDF.replace(b"%%EOF", f"% file {next(_files)}\n%%EOF".encode())
    return Upload(name, io.BytesIO(data))


def data(kind="conference", hours="4", day: date | str = date(2026, 5, 20), category="professional",
         title="全国继续教育学术会议") -> claims.ClaimData:
    return claims.ClaimData(kind=kind, title=title, activity_date=day, hours=str(hours), category=category,
                            description="参加会议两天，听取报告并作交流发言。")


def submit(user, **kw):
    files = kw.pop("files", None) or [upload()]
    return claims.submit_claim(user, data(**kw), files)


def rule(db_session, region="110000", *, caps=None, year_cap=None, region_confirms=False):
    """The region's rule set, made or changed for the test (rolled back with it)."""
    from sqlalchemy import select

    from lms.credits.models import RuleSet

    found = db_session.scalar(select(RuleSet).where(RuleSet.region_code == region))
    if found is None:
        found = RuleSet(name=f"测试：{region}", region_code=region)
        db_session.add(found)
    found.claim_caps = caps
    found.claim_year_cap_hours = None if year_cap is None else Decimal(year_cap)
    found.claims_need_region = region_confirms
    db_session.flush()
    return found
