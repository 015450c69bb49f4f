"""pytest plugin: a loopback DICOM SCP and a client bound to it, as fixtures.

Installed with pynetdicom2, the plugin is registered through the ``pytest11`` entry point
(name ``pynetdicom2``), so its fixtures are available in every test without an import. It
defines no autouse fixture and no hook, so a suite that does not ask for its fixtures runs
exactly as before; the SCP machinery (:mod:`pynetdicom2.loopback`) is imported when a fixture
is first used. ``pytest -p no:pynetdicom2`` switches it off. Where the package is not
installed (a source checkout on ``sys.path``), enable it with ``pytest -p
pynetdicom2.testing`` or ``pytest_plugins = ['pynetdicom2.testing']`` in the root
``conftest.py``; do not do both (pytest refuses a plugin registered twice).

Fixtures:

- ``dicom_scp``: a :class:`~pynetdicom2.loopback.LoopbackSCP` serving on a free port of
  127.0.0.1 from a temporary directory: C-ECHO, C-STORE, and C-FIND/C-MOVE/C-GET over what it
  stored. It records every association (``dicom_scp.associations``) and request
  (``dicom_scp.requests``) it saw; ``dicom_scp.address``, ``.port``, ``.ae_title`` and
  ``.remote`` say how to reach it.
- ``dicom_client``: a :class:`~pynetdicom2.loopback.LoopbackClient` bound to ``dicom_scp``.
- ``dicom_dataset``: a factory of small valid data sets
  (:func:`~pynetdicom2.loopback.make_dataset`).

Usage::

    from pynetdicom2.testing import query

    def test_my_uploader(dicom_scp, dicom_dataset):
        ds = dicom_dataset(PatientID='P1')
        my_uploader.send(ds, host=dicom_scp.address, port=dicom_scp.port,
                         called_aet=dicom_scp.ae_title)
        assert [r.command for r in dicom_scp.requests] == ['C-STORE']
        assert dicom_scp.received[0].PatientID == 'P1'

    def test_query(dicom_scp, dicom_client, dicom_dataset):
        dicom_scp.add(dicom_dataset(PatientID='P1'))
        assert [m.PatientID for m in dicom_client.find(query('PATIENT', PatientID=''))] == ['P1']

The helpers (:func:`~pynetdicom2.loopback.make_dataset`, ``make_study``, ``query``,
``write_dataset``) can be imported from here or from :mod:`pynetdicom2.loopback`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from pynetdicom2.loopback import LoopbackClient, LoopbackSCP

__all__ = ['dicom_client', 'dicom_dataset', 'dicom_scp']

_HELPERS = frozenset({'make_dataset', 'make_study', 'query', 'write_dataset',
                      'LoopbackSCP', 'LoopbackClient'})


def __getattr__(name: str) -> Any:
    # The helpers are loaded on first use: importing the plugin must stay cheap.
    if name in _HELPERS:
        from pynetdicom2 import loopback

        return getattr(loopback, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


@pytest.fixture
def dicom_scp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSCP]:
    """A loopback SCP (echo, store, find, move, get) on a free port, serving for the test.

    Its AE title is ``LOOPBACK``; files go to a fresh temporary directory
    (``dicom_scp.storage_dir``). Map C-MOVE destinations in ``dicom_scp.destinations``.
    """
    from pynetdicom2.loopback import LoopbackSCP

    scp = LoopbackSCP(tmp_path_factory.mktemp('dicom_scp'))
    with scp:
        yield scp


@pytest.fixture
def dicom_client(
    dicom_scp: LoopbackSCP, tmp_path_factory: pytest.TempPathFactory
) -> LoopbackClient:
    """A client AE (``LOOPBACK-SCU``) bound to ``dicom_scp``; C-GET files go to a temp dir.

    Usage::

        def test_echo(dicom_client):
            assert dicom_client.echo().is_success
    """
    return dicom_scp.client(storage_dir=tmp_path_factory.mktemp('dicom_client'))


@pytest.fixture
def dicom_dataset() -> Callable[..., Dataset]:
    """:func:`~pynetdicom2.loopback.make_dataset`: ``dicom_dataset(PatientID='P1')``."""
    from pynetdicom2.loopback import make_dataset

    return make_dataset
