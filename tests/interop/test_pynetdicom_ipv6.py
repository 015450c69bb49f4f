"""pynetdicom2 and pynetdicom over IPv6 (``::1``), a dual-stack socket and bound addresses.

pynetdicom speaks IPv6 (its ``start_server`` and ``associate`` take ``::1``, ``associate`` a
``bind_address`` too), so it checks, where DCMTK 3.6.7 cannot (``test_dcmtk_ipv6.py``):

* pynetdicom's SCU -> our ``StorageAE`` on ``::1``, from a port it binds: C-ECHO and C-STORE,
  the file intact, our AE seeing pynetdicom's address and port;
* our ``ClientAE`` with ``bind_address=('::1', port)`` -> pynetdicom's SCP on ``::1``: C-STORE,
  pynetdicom seeing our address and port;
* pynetdicom -> our AE on ``::``, over IPv4 and IPv6.

Skipped, with the reason, without ``::1`` (or dual-stack sockets) or pynetdicom.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from test_ipv6 import NO_DUAL_STACK, NO_IPV6

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids

from .conftest import interop_required

try:
    import pynetdicom
    from pynetdicom import evt
except ImportError:  # pragma: no cover - pynetdicom is a test dependency
    if interop_required('pynetdicom'):
        raise
    pytest.skip('pynetdicom is not installed (pip install pynetdicom): no peer',
                allow_module_level=True)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(NO_IPV6 is not None, reason=f'no IPv6 loopback: {NO_IPV6}'),
]

OUR_AET = 'OURSCP'
THEIR_AET = 'PYNDSCP'
ECHO = uids.VERIFICATION_SOP_CLASS


def their_ae(ae_title: str) -> pynetdicom.AE:
    """A pynetdicom AE with every timeout bounded."""
    peer = pynetdicom.AE(ae_title)
    peer.acse_timeout = peer.dimse_timeout = peer.network_timeout = 10
    peer.connection_timeout = 10
    return peer


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class Recording(ae.StorageAE):
    """Our storage SCP (and C-ECHO) on ``host``, noting each association's calling address."""

    def __init__(self, storage_dir: Path, host: str, syntaxes: Any = None) -> None:
        super().__init__(storage_dir, OUR_AET, 0, supported_ts=syntaxes, host=host)
        self.add_scp(sc.verification_scp).add_scp(sc.storage_scp)
        self.peers: list[Any] = []
        self._peers_lock = threading.Lock()

    def on_association_request(self, asce: Any, rq: Any) -> None:
        with self._peers_lock:
            self.peers.append(asce.client_address)


def finish(assoc: Any) -> None:
    """Release a pynetdicom association that is still up (abort if that fails)."""
    if assoc.is_established:
        assoc.release()
    if assoc.is_established:
        assoc.abort()


def test_pynetdicom_to_our_ae_on_ipv6(sample_of, assert_same, tmp_path):
    sample = sample_of('explicit_le')
    storage_dir = tmp_path / 'received'
    storage_dir.mkdir()
    peer = their_ae('PYNDSCU')
    peer.add_requested_context(ECHO)
    peer.add_requested_context(sample.sop_class_uid, sample.transfer_syntax)
    source_port = free_port('::1')
    scp = Recording(storage_dir, '::1', [sample.transfer_syntax, uids.ImplicitVRLittleEndian])
    try:
        with scp:
            assoc = peer.associate('::1', scp.local_ae.port, ae_title=OUR_AET,
                                   bind_address=('::1', source_port))
            try:
                assert assoc.is_established
                echoed = assoc.send_c_echo()
                stored = assoc.send_c_store(str(sample.path))
            finally:
                finish(assoc)
    finally:
        scp.quit()
    assert echoed.Status == 0 and stored.Status == 0, (echoed, stored)
    assert_same(sample, storage_dir / sample.stored_name)
    assert [peer[:2] for peer in scp.peers] == [('::1', source_port)]


def test_our_client_from_a_bound_ipv6_address_to_pynetdicom(sample_of, tmp_path):
    sample = sample_of('explicit_le')
    out = tmp_path / 'theirs'
    out.mkdir()
    seen: list[tuple[str, int]] = []

    def on_store(event: Any) -> int:
        seen.append((event.assoc.requestor.address, event.assoc.requestor.port))
        (out / f'{event.request.AffectedSOPInstanceUID}.dcm').write_bytes(
            event.encoded_dataset())
        return 0x0000

    theirs = their_ae(THEIR_AET)
    theirs.add_supported_context(sample.sop_class_uid, sample.transfer_syntax)
    server = theirs.start_server(('::1', 0), block=False,
                                 evt_handlers=[(evt.EVT_C_STORE, on_store)])
    source_port = free_port('::1')
    client = ae.ClientAE('OURSCU', bind_address=('::1', source_port))
    client.add_scu(sc.storage_scu, [sample.sop_class_uid])
    try:
        remote = {'aet': THEIR_AET, 'address': '::1', 'port': server.server_address[1]}
        with client.request_association(remote) as assoc:
            status = assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
    finally:
        server.shutdown()
    assert status.is_success, status
    assert seen == [('::1', source_port)]
    assert (out / sample.stored_name).stat().st_size > 0


@pytest.mark.skipif(NO_DUAL_STACK is not None, reason=f'no dual stack: {NO_DUAL_STACK}')
def test_pynetdicom_reaches_our_dual_stack_ae_both_ways(tmp_path):
    peer = their_ae('PYNDSCU')
    peer.add_requested_context(ECHO)
    scp = Recording(tmp_path, '::')
    statuses = []
    try:
        with scp:
            for address in ('127.0.0.1', '::1'):
                assoc = peer.associate(address, scp.local_ae.port, ae_title=OUR_AET)
                try:
                    assert assoc.is_established, address
                    statuses.append(assoc.send_c_echo().Status)
                finally:
                    finish(assoc)
    finally:
        scp.quit()
    assert statuses == [0, 0]
    assert [peer[0] for peer in scp.peers] == ['127.0.0.1', '::1']
