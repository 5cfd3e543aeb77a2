"""Certificate settings, read from the app config with defaults for one machine."""

from flask import current_app

DEFAULT_ISSUER_CODE = "GX"
DEFAULT_ISSUER_NAME = "公需科目继续教育平台"


def issuer_code() -> str:
    return current_app.config.get("LMS_CERT_ISSUER_CODE") or DEFAULT_ISSUER_CODE


def issuer_name() -> str:
    return current_app.config.get("LMS_CERT_ISSUER_NAME") or DEFAULT_ISSUER_NAME


def verify_rate_limit() -> str:
    return current_app.config.get("LMS_VERIFY_RATE_LIMIT") or "30 per minute;300 per hour"


FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
