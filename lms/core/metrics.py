"""Metrics in the Prometheus text format, at ``/metrics``.

Two kinds, so that the figures stay right under several gunicorn workers:

- What happens in a process (requests and their latency, heartbeats) is counted by
  prometheus-client's counters and histograms. With ``PROMETHEUS_MULTIPROC_DIR`` set in the
  environment (before the first metric is made: the gunicorn config in ``deploy/`` does it), each
  worker writes its counts to files there and a scrape, whichever worker answers it, adds them all
  up; gunicorn's ``child_exit`` hook marks a worker's files dead when it exits.
- What is the state of the platform (queue depths, the outbox's backlog, export jobs) is read when
  the scrape comes, once, by the functions registered with :func:`scrape_source`: never kept per
  process, where the workers' copies would disagree.

A scrape is let in by a bearer token (``LMS_METRICS_TOKEN``) or from an allowed network
(``LMS_METRICS_ALLOW``); with neither configured, every scrape is refused.
"""

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable

from flask import Flask, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "lms_http_request_duration_seconds", "Time to answer a request, by endpoint (the route's name), method and status",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

_timers: dict[tuple[str, str, str], object] = {}  # the histogram's children, looked up once each
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_sources: dict[str, Callable[[], Iterable[Metric]]] = {}


def scrape_source(name: str):
    """Register ``fn() -> metric families``, read at each scrape inside the app context (the
    domains register theirs: queue depths, outbox backlog, export jobs)."""

    def decorator(fn):
        _sources[name] = fn
        return fn

    return decorator


def gauge(name: str, documentation: str, values: dict[tuple, float] | float, labels=()) -> GaugeMetricFamily:
    """A gauge family from ``{label values: value}`` (or one value without labels)."""
    if not labels:
        return GaugeMetricFamily(name, documentation, value=values)
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family


class _ScrapeTime:
    """The registered sources, each read once per scrape; one that fails (its database is down)
    shows as ``lms_scrape_source_up{source} 0`` and the others are still answered."""

    def collect(self):
        up = GaugeMetricFamily("lms_scrape_source_up", "Whether a scrape-time source could be read",
                               labels=["source"])
        for name, source in _sources.items():
            try:
                families = list(source())
            except Exception:
                log.exception("metrics source %s could not be read", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


class _Together:
    def __init__(self, *collectors):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector.collect()


def multiprocess_dir() -> str | None:
    """Where the workers write their counts, as prometheus-client reads it (from the environment,
    when it is first imported)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def exposition() -> tuple[bytes, str]:
    """The scrape's body and content type: every process's counts, then the scrape-time gauges."""
    if multiprocess_dir():
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    return generate_latest(_Together(counted, _ScrapeTime())), CONTENT_TYPE_LATEST


def scrape_allowed(config, remote_addr: str | None, authorization: str | None) -> bool:
    """A scrape with the configured bearer token, or from an allowed network."""
    token = config.get("LMS_METRICS_TOKEN") or ""
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in config.get("LMS_METRICS_ALLOW") or ())


def init_app(app: Flask) -> None:
    """Time every request. Called before the extensions are bound, so that the clock starts before
    any other hook runs (a CSRF refusal is timed too)."""
    disable_created_metrics()  # no *_created series: each worker's would differ, and nothing reads them

    @app.before_request
    def start_clock():
        g.request_started = time.perf_counter()

    @app.after_request
    def observe(response):
        started = g.get("request_started")
        if started is not None:
            rule = request.url_rule
            method = request.method if request.method in _METHODS else "other"  # a bounded set of labels
            key = (rule.endpoint if rule is not None else "unmatched", method, str(response.status_code))
            timer = _timers.get(key)
            if timer is None:
                timer = _timers.setdefault(key, REQUEST_SECONDS.labels(*key))
            timer.observe(time.perf_counter() - started)
        return response
