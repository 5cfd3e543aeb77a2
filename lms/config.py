"""Configuration from environment variables, with safe defaults for one machine."""

import json
import logging
import os
import secrets
from datetime import timedelta
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


ENVIRONMENTS = ("development", "production")


def is_production(config) -> bool:
    """The one question the code asks about where it runs (``LMS_ENV``)."""
    return config.get("LMS_ENV") == "production"


def _flag(value: str | None) -> bool | None:
    """``1``/``0`` (also true/false, yes/no, on/off); None when unset: decided by LMS_ENV."""
    if value is None or not value.strip():
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


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
        # development (the default: one machine, plain http) or production; see settle_config().
        "LMS_ENV": env.get("LMS_ENV", "development"),
        "LMS_KEYS_IN_INSTANCE": not (env.get("SECRET_KEY") and env.get("LMS_DATA_KEY")),
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
        # Login: requests per address whatever their outcome (a flood guard; a workplace may share one
        # address), then failures only, per account and per address, each adding a doubling delay
        # (lms/accounts/throttle.py). No lock: the right password works once the delay has passed.
        "LMS_LOGIN_RATE_LIMIT": env.get("LMS_LOGIN_RATE_LIMIT", "60 per minute"),
        "LMS_LOGIN_FREE_FAILURES": int(env.get("LMS_LOGIN_FREE_FAILURES", "5")),
        "LMS_LOGIN_FAILURE_WINDOW_HOURS": int(env.get("LMS_LOGIN_FAILURE_WINDOW_HOURS", "24")),
        "LMS_LOGIN_SOURCE_FREE_FAILURES": int(env.get("LMS_LOGIN_SOURCE_FREE_FAILURES", "30")),
        "LMS_LOGIN_SOURCE_WINDOW_SECONDS": int(env.get("LMS_LOGIN_SOURCE_WINDOW_SECONDS", "3600")),
        "LMS_LOGIN_DELAY_SECONDS": float(env.get("LMS_LOGIN_DELAY_SECONDS", "30")),
        "LMS_LOGIN_MAX_DELAY_SECONDS": float(env.get("LMS_LOGIN_MAX_DELAY_SECONDS", "900")),
        "LMS_KNOWN_DEVICE_DAYS": int(env.get("LMS_KNOWN_DEVICE_DAYS", "180")),
        "LMS_PUBLIC_URL": env.get("LMS_PUBLIC_URL", "http://127.0.0.1:5000"),
        # Certificates: issuer code in numbers (2-6 capitals/digits), issuer name, credential signing keys.
        "LMS_CERT_ISSUER_CODE": env.get("LMS_CERT_ISSUER_CODE", "GX"),
        "LMS_CERT_ISSUER_NAME": env.get("LMS_CERT_ISSUER_NAME", "公需科目继续教育平台"),
        "LMS_SIGNING_KEY_DIR": env.get("LMS_SIGNING_KEY_DIR") or str(Path(instance_path) / "signing-keys"),
        "LMS_VERIFY_RATE_LIMIT": env.get("LMS_VERIFY_RATE_LIMIT", "30 per minute;300 per hour"),
        # HR API: requests per client (key), and where webhooks may point (https, public hosts).
        "LMS_API_RATE_LIMIT": env.get("LMS_API_RATE_LIMIT", "120 per minute"),
        # Wrong API secrets per key id from one address, and per address over all key ids.
        "LMS_API_AUTH_FAILURE_LIMIT": env.get("LMS_API_AUTH_FAILURE_LIMIT", "10 per minute;50 per hour"),
        "LMS_WEBHOOK_ALLOW_HTTP": env.get("LMS_WEBHOOK_ALLOW_HTTP", "0") == "1",
        "LMS_WEBHOOK_ALLOW_PRIVATE": env.get("LMS_WEBHOOK_ALLOW_PRIVATE", "0") == "1",
        "LMS_WEBHOOK_MAX_PER_CLIENT": int(env.get("LMS_WEBHOOK_MAX_PER_CLIENT", "10")),
        "BABEL_DEFAULT_LOCALE": "zh_Hans_CN",
        "BABEL_DEFAULT_TIMEZONE": env.get("LMS_TIMEZONE", "Asia/Shanghai"),
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # None: on in production, off in development (settle_config); LMS_SECURE_COOKIES decides when set.
        "SESSION_COOKIE_SECURE": _flag(env.get("LMS_SECURE_COOKIES")),
        # Login sessions (lms/accounts/sessions.py): "在此设备上保持登录" lasts at most this many
        # days; other sessions end when the browser closes, and on the server after this many hours
        # at most (a week: a browser left open is not asked again mid-week, a copied cookie does not
        # live on). Page views record activity at most this often.
        "LMS_REMEMBER_DAYS": int(env.get("LMS_REMEMBER_DAYS", "30")),
        "LMS_SESSION_HOURS": int(env.get("LMS_SESSION_HOURS", "168")),
        "LMS_SESSION_TOUCH_SECONDS": int(env.get("LMS_SESSION_TOUCH_SECONDS", "600")),
        "REMEMBER_COOKIE_DURATION": timedelta(days=int(env.get("LMS_REMEMBER_DAYS", "30"))),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _flag(env.get("LMS_SECURE_COOKIES")),
        "LMS_PROXY_FIX": env.get("LMS_PROXY_FIX", "0") == "1",
        "LMS_REGISTER_RATE_LIMIT": env.get("LMS_REGISTER_RATE_LIMIT", "20 per hour"),
        # The player: seconds between heartbeats, the minimum reading time of a text lesson, and how many
        # play sessions one learner may start in a minute (each start supersedes the previous one).
        "LMS_HEARTBEAT_SECONDS": int(env.get("LMS_HEARTBEAT_SECONDS", "12")),
        "LMS_READING_MIN_SECONDS": int(env.get("LMS_READING_MIN_SECONDS", "60")),
        "LMS_SESSION_STARTS_PER_MINUTE": int(env.get("LMS_SESSION_STARTS_PER_MINUTE", "12")),
        "CATALOG_PAGE_SIZE": 12,
        "LMS_MAX_UPLOAD_MB": int(env.get("LMS_MAX_UPLOAD_MB", "2048")),
        "LMS_TRANSCODE_STALL_SECONDS": int(env.get("LMS_TRANSCODE_STALL_SECONDS", "120")),
        "LMS_PACKAGE_MAX_MB": int(env.get("LMS_PACKAGE_MAX_MB", "2048")),
        # Uploads in parts (lms/media/uploads.py): part size, how long an idle upload is kept, and
        # how many open uploads one person may have.
        "LMS_UPLOAD_CHUNK_MB": int(env.get("LMS_UPLOAD_CHUNK_MB", "8")),
        "LMS_UPLOAD_TTL_HOURS": int(env.get("LMS_UPLOAD_TTL_HOURS", "24")),
        "LMS_UPLOAD_MAX_OPEN": int(env.get("LMS_UPLOAD_MAX_OPEN", "10")),
        # Search index (Whoosh + jieba) and the job queue that is its only writer.
        "LMS_SEARCH_INDEX": env.get("LMS_SEARCH_INDEX") or str(Path(instance_path) / "search-index"),
        "LMS_SEARCH_PAGE_SIZE": 10,
        "LMS_JOBS_FILE": env.get("LMS_JOBS_FILE") or str(Path(instance_path) / "jobs.sqlite3"),
        "LMS_JOBS_IMMEDIATE": env.get("LMS_JOBS_IMMEDIATE", "0") == "1",
        # Record exports: up to this many rows download at once, more run as a job; files kept this long.
        "LMS_EXPORT_INLINE_MAX_ROWS": int(env.get("LMS_EXPORT_INLINE_MAX_ROWS", "5000")),
        "LMS_EXPORT_TTL_HOURS": int(env.get("LMS_EXPORT_TTL_HOURS", "24")),
        "LMS_EXPORT_CHUNK_ROWS": int(env.get("LMS_EXPORT_CHUNK_ROWS", "5000")),
        # Every request body; views that take uploads raise it for themselves (core/web.py body_limit).
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


def settle_config(config) -> list[str]:
    """Check ``LMS_ENV`` and fill in what it decides, after any overrides were applied.

    Returns warnings to log at start-up; raises ValueError for a configuration that must not run.
    Production: secure cookies unless ``LMS_SECURE_COOKIES=0`` says otherwise, https URLs, no
    benchmark endpoints."""
    raw = config.get("LMS_ENV")
    name = str(raw or "").strip().lower()
    if name not in ENVIRONMENTS:
        raise ValueError(f"LMS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {raw!r}.")
    config["LMS_ENV"] = name
    production = name == "production"
    for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if config.get(key) is None:
            config[key] = production
    if not production:
        return []
    if config.get("LMS_BENCH_ENDPOINTS"):
        raise ValueError("LMS_BENCH_ENDPOINTS is for benchmarks only and cannot be switched on with LMS_ENV=production.")
    public_url = str(config.get("LMS_PUBLIC_URL") or "")
    config["PREFERRED_URL_SCHEME"] = "http" if public_url.startswith("http://") else "https"
    warnings = []
    if not config["SESSION_COOKIE_SECURE"]:
        warnings.append("LMS_ENV=production with LMS_SECURE_COOKIES=0: login cookies are sent over plain http too.")
    if public_url.startswith("http://"):
        warnings.append(f"LMS_ENV=production with LMS_PUBLIC_URL={public_url}: links on certificates use plain http.")
    if config.get("LMS_KEYS_IN_INSTANCE"):
        warnings.append("LMS_ENV=production without SECRET_KEY and LMS_DATA_KEY in the environment: using the keys "
                        "in the instance folder; back them up, and give every app node the same ones.")
    if config.get("LMS_JOBS_IMMEDIATE"):
        warnings.append("LMS_ENV=production with LMS_JOBS_IMMEDIATE=1: jobs run inside web requests.")
    return warnings
