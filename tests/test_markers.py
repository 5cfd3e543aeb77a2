"""A test's layer follows what it runs (tests/markers.py), so a new test is marked without a list to edit."""

from types import SimpleNamespace

from tests.markers import layer_marks, runs_beside_the_test

# Helpers as a test module would write them; compiled here, so this module itself names none of them
# and stays a quick test.
SAMPLE_HELPERS = """
import threading
from tests.queue_helpers import start_consumer

def starts_a_thread():
    worker = threading.Thread(target=sum, args=([1, 2],))
    worker.start()
    worker.join()

def calls_a_helper_that_starts_a_thread():
    starts_a_thread()

class Receiver:
    def __init__(self):
        self.thread = threading.Thread(target=sum, args=([],), daemon=True)

def makes_a_receiver():
    return Receiver()

def runs_a_consumer(env, tmp):
    return start_consumer(env, tmp)

def stays_in_process():
    return sum([1, 2])

def takes_a_lock():
    return threading.Lock()
"""


def sample_helpers() -> SimpleNamespace:
    scope = {"__name__": "tests.layer_samples"}
    exec(compile(SAMPLE_HELPERS, "tests/layer_samples.py", "exec"), scope)
    return SimpleNamespace(**scope)


def test_code_that_starts_something_beside_the_test_is_integration():
    helpers = sample_helpers()
    assert runs_beside_the_test(helpers.starts_a_thread)
    assert runs_beside_the_test(helpers.calls_a_helper_that_starts_a_thread)  # followed through helpers of tests/
    assert runs_beside_the_test(helpers.makes_a_receiver)  # and through the methods of their classes
    assert runs_beside_the_test(helpers.runs_a_consumer)
    assert not runs_beside_the_test(helpers.stays_in_process)
    assert not runs_beside_the_test(helpers.takes_a_lock)  # a lock starts nothing


def test_a_browser_makes_a_test_e2e_and_a_live_server_integration():
    helpers = sample_helpers()

    def item(*fixtures, function=helpers.stays_in_process):
        return SimpleNamespace(fixturenames=list(fixtures), function=function)

    assert layer_marks(item("page", "live_server")) == ["e2e", "integration"]
    assert layer_marks(item("site", "browser", function=helpers.starts_a_thread)) == ["e2e", "integration"]
    assert layer_marks(item("live_server")) == ["integration"]
    assert layer_marks(item("client", "db_session")) == []


def test_this_module_is_a_quick_test(request):
    assert not {"e2e", "integration"} & {mark.name for mark in request.node.iter_markers()}
