"""The layer of each test, read from its code when the suite is collected (markers in pyproject.toml).

- ``e2e``: drives a real browser (asks for Playwright's ``page``, ``browser`` or ``context``).
- ``integration``: asks for ``live_server`` or starts something that runs beside the test: an HTTP
  server, a huey consumer, the app or another program in a process of its own, or threads. Found by
  the names used (globals and attributes, not strings) in the code of the test, of the fixtures it
  uses and of the helpers of tests/ they call, followed to any depth: a new test that calls
  ``serving``, ``start_consumer`` or ``threading.Thread`` is marked without being listed anywhere.
- everything else: service and route tests in one process, on the rolled-back test session; a
  short-lived program the service itself runs (ffmpeg, pdftotext) does not make a test integration.

``scripts/test.sh -m "not e2e and not integration"`` is the quick loop.
"""

import inspect
import types

# A test, a fixture or a helper of tests/ naming one of these starts something that runs beside it.
INTEGRATION_NAMES = frozenset({
    "serving", "serving_with_workers", "make_server", "HTTPServer", "ThreadingHTTPServer",
    "queue_site", "start_consumer",  # real huey consumers (tests/queue_helpers.py)
    "app_process",  # the app in a process of its own (tests/app_process.py)
    "Popen",  # any other long-lived process
    "Thread", "ThreadPoolExecutor",
    "Controller",  # aiosmtpd's SMTP server, which runs in a thread of its own
    "PgPair",  # a PostgreSQL primary and replica of their own (tests/pg_pair.py)
})
BROWSER_FIXTURES = frozenset({"page", "browser", "context"})


def layer_marks(item) -> list[str]:
    """The layer markers ``item`` (a collected test) should carry."""
    fixture_names = set(getattr(item, "fixturenames", ()))
    functions = [getattr(item, "function", None)]
    fixture_info = getattr(item, "_fixtureinfo", None)  # pytest keeps the resolved fixtures only here
    if fixture_info is not None:
        functions += [defs[-1].func for defs in fixture_info.name2fixturedefs.values() if defs]
    marks = []
    if fixture_names & BROWSER_FIXTURES:
        marks.append("e2e")
    if "live_server" in fixture_names or any(runs_beside_the_test(f) for f in functions if f is not None):
        marks.append("integration")
    return marks


_verdicts: dict[int, bool] = {}


def runs_beside_the_test(obj) -> bool:
    """Whether ``obj`` (a function or class of tests/), or a helper of tests/ it names, directly or
    through other helpers, starts a server, a worker, a process or a thread."""
    if id(obj) not in _verdicts:
        _verdicts[id(obj)] = _starts_something(obj)
    return _verdicts[id(obj)]


def _starts_something(start) -> bool:
    seen, todo = set(), [start]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if inspect.isclass(obj):
            todo += [member for member in vars(obj).values() if inspect.isfunction(member)]
            continue
        function = inspect.unwrap(obj)
        code = getattr(function, "__code__", None)
        if code is None:
            continue
        names = _names(code)
        if names & INTEGRATION_NAMES:
            return True
        scope = getattr(function, "__globals__", {})
        todo += [scope[name] for name in names if _ours(scope.get(name))]
    return False


def _names(code: types.CodeType) -> set[str]:
    """Global and attribute names used by ``code`` and the functions and lambdas defined in it."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _names(constant)
    return names


def _ours(obj) -> bool:
    """A function or class of the test suite (its helpers are followed; libraries are not)."""
    return (inspect.isfunction(obj) or inspect.isclass(obj)) and (obj.__module__ or "").startswith("tests")
