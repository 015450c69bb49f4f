"""Shared test configuration: hypothesis budgets.

``HYPOTHESIS_PROFILE=ci`` (the default) keeps the property tests to about two minutes in all;
``HYPOTHESIS_PROFILE=fuzz`` runs a hundred times as many examples (``tox -e fuzz``).
"""

import os
import sys
import threading

import pytest
from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False)
settings.register_profile('ci', max_examples=1000, **_COMMON)
settings.register_profile('fuzz', max_examples=100_000, **_COMMON)
settings.register_profile('dev', max_examples=100, **_COMMON)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))


# --- threads: every thread the library starts must have ended when a test ends ------------------

#: A thread that is already ending (its stop was requested and joined with a bound) gets this
#: long to finish before the test is failed.
_THREAD_GRACE = 2.0


@pytest.fixture(autouse=True)
def _no_pynetdicom2_thread_left():
    """Fail a test that leaves a thread named 'pynetdicom2...' alive (stop, close, join them)."""
    before = {thread.ident for thread in threading.enumerate()}
    yield
    leftover = []
    for thread in threading.enumerate():
        if thread.name.startswith('pynetdicom2') and thread.ident not in before:
            thread.join(_THREAD_GRACE)
            if thread.is_alive():
                leftover.append(thread.name)
    assert not leftover, f'threads left running by this test: {leftover}'


def pytest_terminal_summary(terminalreporter) -> None:
    """Say how much of PS3.8 Table 9-10 the state-machine tests covered in this run."""
    table_tests = sys.modules.get('test_fsm')
    if table_tests is None:
        return
    passed = [
        report for report in terminalreporter.stats.get('passed', [])
        if report.nodeid.startswith('tests/test_fsm.py::test_cell[')
    ]
    terminalreporter.write_line(
        f'PS3.8 Table 9-10: {len(table_tests.STANDARD)} transitions defined by the standard, '
        f'{len(passed)} cell tests passed (AR-8 in both roles; {len(table_tests.ALL_CELLS)} cells)'
    )
