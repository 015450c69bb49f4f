"""Shared test configuration: hypothesis budgets.

``HYPOTHESIS_PROFILE=ci`` (the default) keeps the property tests to about two minutes in all;
``HYPOTHESIS_PROFILE=fuzz`` runs a hundred times as many examples (``tox -e fuzz``).
"""

import os
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
