"""The certificate settings the package reads, declared with their defaults in :mod:`lms.config`."""

from flask import current_app


def issuer_code() -> str:
    return current_app.config["LMS_CERT_ISSUER_CODE"]


def issuer_name() -> str:
    return current_app.config["LMS_CERT_ISSUER_NAME"]


def verify_rate_limit() -> str:
    """For ``limiter.limit``, which asks again on every request."""
    return current_app.config["LMS_VERIFY_RATE_LIMIT"]


# Not a setting: the font the certificate PDF embeds (installed by scripts/system-deps.sh).
FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
