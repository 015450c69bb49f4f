"""The Asynchronous Operations Window (PS3.7 D.3.3.3) against peers that perform one operation
at a time: DCMTK's storescp and pynetdicom's storage SCP.

Our ClientAE proposes ``async_window=(16, 16)`` and sends files with
``assoc.store_many(window=16)`` through the wire observer (``tests/wireobserver.py``), which
reads both directions from outside both peers. Neither peer grants a window: storescp answers
without the sub-item, pynetdicom too unless an ``EVT_ASYNC_OPS`` handler is bound, and then it
answers (1, 1) whatever the handler says. Either way the association must settle on (1, 1) and
the wire must never carry two of our requests at once, while every file still arrives.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from wireobserver import REQUESTOR, WireObserver

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2.statuses import Status

from .conftest import CT_IMAGE_STORAGE, PEER_TIMEOUT, interop_required, make_image, write_part10

pytestmark = pytest.mark.interop

COUNT = 20
WINDOW = (16, 16)
OUR_AET = 'OURSCU'
THEIR_AET = 'STORESCP'


@pytest.fixture(scope='module')
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """COUNT small CT files (16 x 16 pixels, Explicit VR LE): SOP Instance UID -> path."""
    directory = tmp_path_factory.mktemp('async-window-files')
    files = {}
    for number in range(COUNT):
        ds = make_image(CT_IMAGE_STORAGE, 16, 16, 16, big_endian=False)
        ds.InstanceNumber = number + 1
        path = directory / f'ct{number:02d}.dcm'
        write_part10(ds, path, ExplicitVRLittleEndian)
        files[str(ds.SOPInstanceUID)] = path
    return files


def store_through_observer(port: int, files: dict[str, Path]) -> tuple[Any, list, WireObserver]:
    """Our ClientAE proposing WINDOW, ``store_many(window=16)`` through a wire observer to
    127.0.0.1:port: (negotiated window, [(source, status)], the observer, stopped)."""
    client = ae.ClientAE(OUR_AET, async_window=WINDOW)
    client.add_scu(sc.storage_scu, [CT_IMAGE_STORAGE])
    client.dcm_timeout = client.network_timeout = client.connect_timeout = PEER_TIMEOUT
    with WireObserver(('127.0.0.1', port)) as observer:
        with client.request_association(observer.remote(THEIR_AET)) as assoc:
            negotiated = assoc.async_window
            results = list(assoc.store_many(list(files.values()), window=WINDOW[0]))
    return negotiated, results, observer


def check(negotiated: Any, results: list, observer: WireObserver, files: dict[str, Path],
          expected_ac_window: tuple[int, int] | None) -> None:
    failed = [(source, status) for source, status in results
              if not (isinstance(status, Status) and status.is_success)]
    assert not failed, failed
    assert sorted(str(source) for source, _ in results) == sorted(str(p) for p in files.values())
    assert negotiated == (1, 1)
    assert observer.errors == []
    assert observer.rq_window == WINDOW
    assert observer.ac_window == expected_ac_window
    assert observer.max_outstanding(REQUESTOR) == 1
    record = observer.association()
    assert sorted(c.affected_sop_instance for c in record.requests(REQUESTOR)) == sorted(files)
    assert [c.status for c in record.responses()] == [0x0000] * COUNT
    assert not record.unmatched


def test_dcmtk_storescp_grants_no_window(dcmtk, free_port, tmp_path, tiny_files):
    """storescp answers with no window sub-item: one C-STORE at a time, all stored."""
    out = tmp_path / 'storescp'
    out.mkdir()
    port = free_port()
    with dcmtk.server('storescp', '-aet', THEIR_AET, '-od', out, port=port) as server:
        negotiated, results, observer = store_through_observer(port, tiny_files)
    check(negotiated, results, observer, tiny_files, expected_ac_window=None)
    received = {str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)
                for path in out.iterdir()}
    assert received == set(tiny_files), server.log()


# --- pynetdicom ----------------------------------------------------------------------------------


def their_storage_scp(out: Path, async_handler: bool) -> tuple[Any, list, list]:
    """pynetdicom's storage SCP (not started): (its AE, the handlers, the windows its
    EVT_ASYNC_OPS handler was asked for)."""
    try:
        import pynetdicom
        from pynetdicom import evt
    except ImportError:  # pragma: no cover - pynetdicom is a test dependency
        if interop_required('pynetdicom'):
            raise
        pytest.skip('pynetdicom is not installed (pip install pynetdicom): no peer')
    scp = pynetdicom.AE(THEIR_AET)
    scp.acse_timeout = scp.dimse_timeout = scp.network_timeout = PEER_TIMEOUT
    scp.add_supported_context(CT_IMAGE_STORAGE, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    asked = []
    lock = threading.Lock()

    def on_store(event: Any) -> int:
        (out / f'{event.request.AffectedSOPInstanceUID}.dcm').write_bytes(
            event.encoded_dataset())
        return 0x0000

    def on_async_ops(event: Any) -> tuple[int, int]:
        with lock:
            asked.append((event.nr_invoked, event.nr_performed))
        return WINDOW  # pynetdicom answers (1, 1) whatever this says

    handlers = [(evt.EVT_C_STORE, on_store)]
    if async_handler:
        handlers.append((evt.EVT_ASYNC_OPS, on_async_ops))
    return scp, handlers, asked


@pytest.mark.parametrize('async_handler', [False, True], ids=['no-handler', 'EVT_ASYNC_OPS'])
def test_pynetdicom_grants_no_window(async_handler, tmp_path, tiny_files):
    """Without an EVT_ASYNC_OPS handler pynetdicom answers no window sub-item, with one it
    answers (1, 1): one C-STORE at a time either way, all stored."""
    out = tmp_path / 'pynetdicom'
    out.mkdir()
    scp, handlers, asked = their_storage_scp(out, async_handler)
    server = scp.start_server(('127.0.0.1', 0), block=False, evt_handlers=handlers)
    try:
        negotiated, results, observer = store_through_observer(
            server.server_address[1], tiny_files)
    finally:
        server.shutdown()
    check(negotiated, results, observer, tiny_files,
          expected_ac_window=(1, 1) if async_handler else None)
    assert asked == ([WINDOW] if async_handler else [])
    assert sorted(path.name for path in out.iterdir()) == sorted(
        f'{uid}.dcm' for uid in tiny_files)
