"""Our ClientAE against a DCMTK ``storescp`` told to misbehave.

``--refuse`` (rejects every association), ``--reject`` (rejects requesters without an
Implementation Class UID: we send one, so we are accepted), ``--abort-after`` (A-ABORT once
a C-STORE-RQ is received), ``--abort-during`` (A-ABORT while it is being received) and
``--sleep-during`` (holds the response longer than our DIMSE timeout). Each time the user
gets a clear exception or status within our timeouts, and no thread is left (the suite-wide
fixture checks it); after each fault the same client stores a data set into a well-behaved
storescp.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aetools import dataset
from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.exceptions import (
    AssociationAbortedError,
    AssociationRejectedError,
    DCMTimeoutError,
)

pytestmark = pytest.mark.interop

CT = uids.CT_IMAGE_STORAGE
IMPLICIT = uids.ImplicitVRLittleEndian
#: Our client's timeouts (ARTIM, DIMSE, network, connect), seconds.
TIMEOUT = 2.0
#: storescp --sleep-during: longer than our DIMSE timeout.
SLEEP = 4


def client() -> ae.ClientAE:
    scu = ae.ClientAE('FAULTSCU', supported_ts=[IMPLICIT]).add_scu(sc.storage_scu, [CT])
    scu.add_scu(sc.verification_scu)
    scu.artim_timeout = scu.dcm_timeout = scu.network_timeout = TIMEOUT
    scu.connect_timeout = TIMEOUT
    return scu


def ct_dataset(pixel_bytes: int) -> Dataset:
    return dataset(pixel_bytes=pixel_bytes)


def store(port: int, ds: Dataset, scu: ae.ClientAE | None = None) -> int:
    remote = {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': port}
    with (scu or client()).request_association(remote) as assoc:
        return int(assoc.get_scu(CT)(ds, 1))


def storescp_args(out: Path, *fault: Any) -> list[Any]:
    out.mkdir(exist_ok=True)
    return ['-aet', 'STORESCP', '-od', out, '-ta', '10', '-td', '10', *fault]


def check_recovers(dcmtk: Any, free_port: Any, tmp_path: Path, scu: ae.ClientAE) -> None:
    """The same client then stores into a storescp that behaves."""
    ds = ct_dataset(4096)
    with dcmtk.server('storescp', *storescp_args(tmp_path / 'good'), port=free_port()) as srv:
        assert store(srv.port, ds, scu) == 0
    assert [p.name for p in (tmp_path / 'good').iterdir()] == [f'CT.{ds.SOPInstanceUID}']


def test_refuse(dcmtk, free_port, tmp_path: Path) -> None:
    scu = client()
    with dcmtk.server('storescp', *storescp_args(tmp_path / 'out', '--refuse'),
                      port=free_port()) as srv:
        with pytest.raises(AssociationRejectedError) as caught:
            store(srv.port, ct_dataset(1024), scu)
    # storescp --refuse: permanent, service user, no reason given
    assert (caught.value.result, caught.value.source, caught.value.diagnostic) == (1, 1, 1)
    check_recovers(dcmtk, free_port, tmp_path, scu)


def test_reject_without_implementation_class_uid_accepts_us(dcmtk, free_port,
                                                            tmp_path: Path) -> None:
    """storescp --reject turns away requesters with no Implementation Class UID; ours sends
    one, so the store succeeds."""
    ds = ct_dataset(1024)
    with dcmtk.server('storescp', *storescp_args(tmp_path / 'out', '--reject'),
                      port=free_port()) as srv:
        assert store(srv.port, ds) == 0
    assert [p.name for p in (tmp_path / 'out').iterdir()] == [f'CT.{ds.SOPInstanceUID}']


@pytest.mark.parametrize('option', ['--abort-after', '--abort-during'])
def test_abort(option: str, dcmtk, free_port, tmp_path: Path) -> None:
    """storescp aborts after (or while) receiving the C-STORE-RQ of a data set spanning
    many PDUs: the user gets AssociationAbortedError, promptly."""
    scu = client()
    with dcmtk.server('storescp', *storescp_args(tmp_path / 'out', option),
                      port=free_port()) as srv:
        started = time.monotonic()
        with pytest.raises(AssociationAbortedError):
            store(srv.port, ct_dataset(600_000), scu)
        assert time.monotonic() - started < TIMEOUT * 3
    check_recovers(dcmtk, free_port, tmp_path, scu)


def test_sleep_during_past_our_dimse_timeout(dcmtk, free_port, tmp_path: Path) -> None:
    """storescp sleeps longer than our dcm_timeout while storing: DCMTimeoutError after
    about dcm_timeout, and the association is aborted."""
    scu = client()
    with dcmtk.server('storescp', *storescp_args(tmp_path / 'out', '--sleep-during', SLEEP),
                      port=free_port()) as srv:
        started = time.monotonic()
        with pytest.raises(DCMTimeoutError):
            store(srv.port, ct_dataset(4096), scu)
        took = time.monotonic() - started
    assert TIMEOUT * 0.5 < took < SLEEP + TIMEOUT, took
    check_recovers(dcmtk, free_port, tmp_path, scu)


def test_sleep_during_within_our_dimse_timeout(dcmtk, free_port, tmp_path: Path) -> None:
    """The same delay inside a longer dcm_timeout is just a slow store: Success."""
    scu = client()
    scu.dcm_timeout = SLEEP + 10
    with dcmtk.server('storescp', *storescp_args(tmp_path / 'out', '--sleep-during', 1),
                      port=free_port()) as srv:
        assert store(srv.port, ct_dataset(4096), scu) == 0
