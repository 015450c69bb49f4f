"""Shared test configuration: hypothesis budgets.

``HYPOTHESIS_PROFILE=ci`` (the default) keeps the property tests to about two minutes in all;
``HYPOTHESIS_PROFILE=fuzz`` runs a hundred times as many examples (``tox -e fuzz``).
"""

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False)
settings.register_profile('ci', max_examples=1000, **_COMMON)
settings.register_profile('fuzz', max_examples=100_000, **_COMMON)
settings.register_profile('dev', max_examples=100, **_COMMON)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))
