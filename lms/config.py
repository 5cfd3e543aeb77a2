"""Configuration from environment variables, with safe defaults for one machine."""

import json
import logging
import os
import secrets
from pathlib import Path


def _instance_secret(instance_path: str, name: str, nbytes: int = 32) -> str:
    """Read a secret kept in the instance folder, creating it (mode 0600) on first use."""
    path = Path(instance_path) / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def load_config(instance_path: str) -> dict:
    env = os.environ
    if env.get("DATABASE_URL") and not (env.get("SECRET_KEY") and env.get("LMS_DATA_KEY")):
        # A shared database with keys kept per host would make ID lookups fail on other hosts.
        logging.getLogger(__name__).warning(
            "DATABASE_URL is set but SECRET_KEY / LMS_DATA_KEY are not: using the keys in %s. "
            "Every host that shares this database must use the same keys.", instance_path)
    database_url = env.get("DATABASE_URL") or f"sqlite:///{Path(instance_path) / 'lms.sqlite3'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    redis_url = env.get("REDIS_URL") or None
    return {
        "SECRET_KEY": env.get("SECRET_KEY") or _instance_secret(instance_path, "secret_key"),
        "LMS_DATA_KEY": env.get("LMS_DATA_KEY") or _instance_secret(instance_path, "data_key"),
        "SQLALCHEMY_DATABASE_URI": database_url,
        # JSON stored as readable UTF-8, so Chinese tags can be searched on every database.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True,
                                      "json_serializer": lambda obj: json.dumps(obj, ensure_ascii=False)},
        "LMS_MEDIA_ROOT": env.get("LMS_MEDIA_ROOT") or str(Path(instance_path) / "media"),
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "LMS_LOGIN_RATE_LIMIT": env.get("LMS_LOGIN_RATE_LIMIT", "10 per minute;60 per hour"),
        "LMS_PUBLIC_URL": env.get("LMS_PUBLIC_URL", "http://127.0.0.1:5000"),
        # Certificates: issuer code in numbers (2-6 capitals/digits), issuer name, credential signing keys.
        "LMS_CERT_ISSUER_CODE": env.get("LMS_CERT_ISSUER_CODE", "GX"),
        "LMS_CERT_ISSUER_NAME": env.get("LMS_CERT_ISSUER_NAME", "公需科目继续教育平台"),
        "LMS_SIGNING_KEY_DIR": env.get("LMS_SIGNING_KEY_DIR") or str(Path(instance_path) / "signing-keys"),
        "LMS_VERIFY_RATE_LIMIT": env.get("LMS_VERIFY_RATE_LIMIT", "30 per minute;300 per hour"),
        # HR API: requests per client (key), and where webhooks may point (https, public hosts).
        "LMS_API_RATE_LIMIT": env.get("LMS_API_RATE_LIMIT", "120 per minute"),
        "LMS_WEBHOOK_ALLOW_HTTP": env.get("LMS_WEBHOOK_ALLOW_HTTP", "0") == "1",
        "LMS_WEBHOOK_ALLOW_PRIVATE": env.get("LMS_WEBHOOK_ALLOW_PRIVATE", "0") == "1",
        "LMS_WEBHOOK_MAX_PER_CLIENT": int(env.get("LMS_WEBHOOK_MAX_PER_CLIENT", "10")),
        "BABEL_DEFAULT_LOCALE": "zh_Hans_CN",
        "BABEL_DEFAULT_TIMEZONE": env.get("LMS_TIMEZONE", "Asia/Shanghai"),
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.get("LMS_SECURE_COOKIES", "0") == "1",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": env.get("LMS_SECURE_COOKIES", "0") == "1",
        "LMS_PROXY_FIX": env.get("LMS_PROXY_FIX", "0") == "1",
        "LMS_REGISTER_RATE_LIMIT": env.get("LMS_REGISTER_RATE_LIMIT", "20 per hour"),
        "CATALOG_PAGE_SIZE": 12,
        "LMS_MAX_UPLOAD_MB": int(env.get("LMS_MAX_UPLOAD_MB", "2048")),
        "LMS_TRANSCODE_STALL_SECONDS": int(env.get("LMS_TRANSCODE_STALL_SECONDS", "120")),
        "LMS_PACKAGE_MAX_MB": int(env.get("LMS_PACKAGE_MAX_MB", "2048")),
        # Search index (Whoosh + jieba) and the job queue that is its only writer.
        "LMS_SEARCH_INDEX": env.get("LMS_SEARCH_INDEX") or str(Path(instance_path) / "search-index"),
        "LMS_SEARCH_PAGE_SIZE": 10,
        "LMS_JOBS_FILE": env.get("LMS_JOBS_FILE") or str(Path(instance_path) / "jobs.sqlite3"),
        "LMS_JOBS_IMMEDIATE": env.get("LMS_JOBS_IMMEDIATE", "0") == "1",
        # Record exports: up to this many rows download at once, more run as a job; files kept this long.
        "LMS_EXPORT_INLINE_MAX_ROWS": int(env.get("LMS_EXPORT_INLINE_MAX_ROWS", "5000")),
        "LMS_EXPORT_TTL_HOURS": int(env.get("LMS_EXPORT_TTL_HOURS", "24")),
        "LMS_EXPORT_CHUNK_ROWS": int(env.get("LMS_EXPORT_CHUNK_ROWS", "5000")),
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        # The outbox (webhooks, xAPI statements): retries with exponential backoff, then "failed".
        "LMS_OUTBOX_BACKOFF_SECONDS": float(env.get("LMS_OUTBOX_BACKOFF_SECONDS", "30")),
        "LMS_OUTBOX_MAX_ATTEMPTS": int(env.get("LMS_OUTBOX_MAX_ATTEMPTS", "24")),
        "LMS_OUTBOX_TIMEOUT_SECONDS": float(env.get("LMS_OUTBOX_TIMEOUT_SECONDS", "10")),
        # A Learning Record Store (xAPI 1.0.3); statements are sent only when the endpoint is set.
        "LMS_XAPI_ENDPOINT": env.get("LMS_XAPI_ENDPOINT") or None,
        "LMS_XAPI_USERNAME": env.get("LMS_XAPI_USERNAME", ""),
        "LMS_XAPI_PASSWORD": env.get("LMS_XAPI_PASSWORD", ""),
    }
