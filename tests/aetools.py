"""Helpers for the association, AE, service and command tests: AEs on loopback, data sets,
Part-10 files and a raw requester that speaks bytes.

Every AE listens on 127.0.0.1, on a port the system picks, with timeouts short enough that a
test waiting for something that never comes fails in seconds; every raw socket has a timeout.

Usage::

    with serving(AE('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)) as srv:
        client = fast(ClientAE('SCU')).add_scu(sc.verification_scu)
        with client.request_association(remote(srv)) as assoc:
            ...
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, generate_uid
from ulpeer import TIMEOUT, ScriptedPeer

from pynetdicom2 import applicationentity as ae_module
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import negotiation, pdu, uids
from pynetdicom2.dsutils import save_part10
from pynetdicom2.userdataitems import MaximumLengthSubItem

_A = TypeVar('_A', bound=ae_module.AEBase)

CT = uids.CT_IMAGE_STORAGE


def fast(ae: _A, network_timeout: float = 5.0) -> _A:
    """Short timeouts for tests (a stuck test fails in seconds, not minutes)."""
    ae.artim_timeout = 2.0
    ae.dcm_timeout = TIMEOUT
    ae.network_timeout = network_timeout
    ae.connect_timeout = 2.0
    return ae


@contextlib.contextmanager
def serving(ae: ae_module.AE, network_timeout: float = 5.0) -> Iterator[Any]:
    """Serve ``ae`` in the background for the block; quit (and join everything) after it."""
    fast(ae, network_timeout)
    with ae:
        yield ae


def remote(ae: ae_module.AE, **extra: Any) -> dict[str, Any]:
    """The remote_ae dict that reaches ``ae`` on loopback."""
    return {'aet': ae.ae_title, 'address': '127.0.0.1', 'port': ae.local_ae.port, **extra}


def dataset(sop_class: str = CT, pixel_bytes: int = 0, **elements: Any) -> Dataset:
    """A small data set of ``sop_class`` with a fresh instance UID (and pixel data if asked)."""
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = 'Test^Patient'
    ds.PatientID = '12345'
    ds.Modality = 'CT'
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    if pixel_bytes:
        ds.Rows = max(1, pixel_bytes // 1024)
        ds.Columns = 512
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = 'MONOCHROME2'
        ds.PixelData = bytes(range(256)) * (pixel_bytes // 256) + bytes(pixel_bytes % 256)
    return ds


def write_file(
    path: Path, ds: Dataset, ts: str = uids.ExplicitVRLittleEndian
) -> Path:
    """Write ``ds`` as a Part-10 file in transfer syntax ``ts``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(ts)
    ds.file_meta = meta
    save_part10(ds, path)
    return path


def same_elements(a: Dataset, b: Dataset) -> bool:
    """Equal data sets, element by element (file meta aside)."""
    return {e.tag: e.value for e in a} == {e.tag: e.value for e in b}


# --- a raw requester ----------------------------------------------------------------------------


def rq_pdu(
    contexts: list[tuple[int, str, list[str]]],
    user_items: list | None = None,
    called: str = 'SCP',
    calling: str = 'RAW',
) -> bytes:
    """An encoded A-ASSOCIATE-RQ proposing ``(id, abstract syntax, [transfer syntaxes])``."""
    items: list = [pdu.ApplicationContextItem(negotiation.APPLICATION_CONTEXT_NAME)]
    items += negotiation.presentation_context_items(contexts)
    items.append(pdu.UserInformationItem(user_items or [MaximumLengthSubItem(16384)]))
    return pdu.AAssociateRqPDU(called, calling, items).encode()


def connect(port: int) -> ScriptedPeer:
    sock = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ScriptedPeer(sock)


def raw_associate(
    port: int,
    contexts: list[tuple[int, str, list[str]]] | None = None,
    user_items: list | None = None,
    called: str = 'SCP',
) -> tuple[ScriptedPeer, Any]:
    """Connect, send an A-ASSOCIATE-RQ, return the peer and the decoded answer PDU."""
    peer = connect(port)
    peer.send(
        rq_pdu(
            contexts or [(1, uids.VERIFICATION_SOP_CLASS, [uids.ImplicitVRLittleEndian])],
            user_items,
            called,
        )
    )
    return peer, pdu.decode_pdu(peer.read_pdu())


def p_data(msg: dm.DIMSEMessage, pc_id: int = 1, max_pdu_length: int = 16384) -> list[bytes]:
    """The encoded P-DATA-TF PDUs of ``msg``."""
    return [p.encode() for p in msg.encode(pc_id, max_pdu_length)]


def read_message(peer: ScriptedPeer) -> dm.DIMSEMessage:
    """Read P-DATA-TF PDUs until one DIMSE message is complete."""
    decoder = dm.DIMSEDecoder({pc: pc for pc in range(1, 256, 2)}, (), None)
    while True:
        decoded = pdu.decode_pdu(peer.read_pdu())
        assert isinstance(decoded, pdu.PDataTfPDU), f'expected P-DATA-TF, got {decoded!r}'
        for msg, _pc_id in decoder.process(decoded):
            return msg
