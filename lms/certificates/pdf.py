"""The 学时证明 PDF: Chinese text in an embedded TrueType subset (WenQuanYi Zen Hei) and a QR code to the
public verification page."""

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import qrcode
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from ..core.formatting import format_hours
from .settings import FONT_PATH

FONT = "WQY"
_registered = False
BLUE = colors.HexColor("#1d3b6f")


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(TTFont(FONT, FONT_PATH, subfontIndex=0))
        _registered = True
    return FONT


def _qr(url: str) -> ImageReader:
    image = qrcode.make(url, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    return ImageReader(buffer)


# The title in Chinese, the language the certificate is issued in, and in English beneath it for readers
# abroad; the certificate's wording is otherwise Chinese whatever language its holder reads the site in.
TITLES = {"course": ("课程学时证明", "Certificate of Course Credit Hours"),
          "annual": ("年度学时汇总证明", "Annual Certificate of Credit Hours"),
          "programme": ("研修培训结业证明", "Certificate of Completion of a Seminar or Class")}


def _date(value) -> str:
    return f"{value.year}年{value.month}月{value.day}日" if value else "—"


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of at most ``width`` points (Chinese breaks between any two characters)."""
    lines, current = [], ""
    for ch in text:
        if current and pdfmetrics.stringWidth(current + ch, font, size) > width:
            lines.append(current)
            current = ""
        current += ch
    return [*lines, current]


def render(cert, *, verify_url: str, holder_name: str, rows: list[tuple[str, str]] | None = None,
           timezone: str = "Asia/Shanghai") -> bytes:
    """One A4 page. ``rows`` (annual summary): (course, hours text) lines listed under the header."""
    font = _font()
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=1)
    title, english_title = TITLES.get(cert.kind, TITLES["course"])
    pdf.setTitle(f"{title} / {english_title} {cert.number}")
    pdf.setAuthor(cert.issuer_name)
    pdf.setSubject(cert.number)
    width, height = A4
    pdf.setStrokeColor(BLUE)
    pdf.setLineWidth(2)
    pdf.rect(15 * mm, 15 * mm, width - 30 * mm, height - 30 * mm)
    pdf.setFillColor(BLUE)
    pdf.setFont(font, 26)
    pdf.drawCentredString(width / 2, height - 42 * mm, title)
    pdf.setFont(font, 12)
    pdf.drawCentredString(width / 2, height - 50 * mm, english_title)
    pdf.setFillColor(colors.black)
    pdf.setFont(font, 11)
    pdf.drawCentredString(width / 2, height - 59 * mm, f"证书编号：{cert.number}")

    issued_local = cert.issued_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(timezone)) \
        if isinstance(cert.issued_at, datetime) else cert.issued_at
    lines = [
        ("姓名", holder_name),
        ("身份证号", cert.holder_id_masked),
        ({"course": "课程", "programme": "项目"}.get(cert.kind, "年度"), cert.title),
    ]
    if cert.kind == "course":
        lines += [("课程编号", cert.course_code or "—"), ("科目类别", cert.category_source_label)]
    if cert.kind == "programme":
        lines += [("项目编号", cert.course_code or "—"), ("科目类别", cert.category_source_label)]
    lines += [
        ("学时", f"{format_hours(cert.hours)} 学时"),
        ("学时年度", f"{cert.credit_year} 年度"),
    ]
    if cert.target_note:
        lines.append(("年度要求", cert.target_note))
    if cert.kind == "course":
        lines += [("考试成绩", f"{cert.exam_score} 分" if cert.exam_score is not None else "本课程无结业测验"),
                  ("完成日期", _date(cert.completed_on))]
    if cert.kind == "programme":
        lines.append(("结业日期", _date(cert.completed_on)))
    lines += [("发证日期", _date(issued_local)), ("发证机构", cert.issuer_name)]

    y = height - 75 * mm
    for label, value in lines:
        pdf.setFont(font, 12)
        pdf.setFillColor(colors.HexColor("#4a5568"))
        pdf.drawString(30 * mm, y, label)
        pdf.setFillColor(colors.black)
        pdf.setFont(font, 13)
        wrapped = _wrap(value, font, 13, width - 62 * mm - 22 * mm)
        for i, part in enumerate(wrapped):
            pdf.drawString(62 * mm, y - i * 6 * mm, part)
        y -= 10 * mm + (len(wrapped) - 1) * 6 * mm
    if rows:
        pdf.setFont(font, 11)
        pdf.drawString(30 * mm, y, "所含课程：")
        y -= 7 * mm
        for title, hours in rows[:18]:
            pdf.drawString(34 * mm, y, f"{title}　{hours}")
            y -= 6.5 * mm
        if len(rows) > 18:
            pdf.drawString(34 * mm, y, f"另有 {len(rows) - 18} 门课程，详见在线核验页面。")

    size = 42 * mm
    pdf.drawImage(_qr(verify_url), width - 30 * mm - size, 25 * mm, size, size)
    pdf.setFont(font, 9)
    pdf.setFillColor(colors.HexColor("#4a5568"))
    pdf.drawString(25 * mm, 35 * mm, "扫描右侧二维码或访问以下网址，输入证书编号核验真伪：")
    pdf.drawString(25 * mm, 29 * mm, verify_url)
    pdf.drawString(25 * mm, 23 * mm, "核验页面显示本文件的 SHA-256 摘要，可据此判断文件是否被改动。")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
