"""One-call helpers: verify a peer, store a file or data set, run a storage SCP.

This module owns the shortcuts for the commonest jobs, each a complete association in one
call: it builds a :class:`~pynetdicom2.applicationentity.ClientAE` (or a
:class:`~pynetdicom2.applicationentity.StorageAE`), registers the one service needed, and
releases (or aborts) the association before returning. Anything longer-lived belongs in an
AE of your own.

Usage::

    import pynetdicom2

    remote = {'aet': 'PACS', 'address': '127.0.0.1', 'port': 11112}
    pynetdicom2.verify('MYSCU', remote).is_success
    pynetdicom2.store('MYSCU', remote, 'ct.dcm')         # or a pydicom Dataset
    with pynetdicom2.storage('incoming', 'STORESCP', 11112):
        ...                                             # files arrive as incoming/<uid>.dcm
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pynetdicom2 import sopclass, statuses, uids
from pynetdicom2.applicationentity import ClientAE, StorageAE
from pynetdicom2.asceprovider import AssociationRequester, RemoteAEConfig
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.filestorage import read_meta

__all__ = ['storage', 'store', 'verify']

@contextlib.contextmanager
def _association(
    local_aet: str,
    remote_ae: RemoteAEConfig | Mapping[str, Any],
    service: Any,
    supported_ts: Iterable[str] | None = None,
    sop_classes: Iterable[str] | None = None,
) -> Iterator[AssociationRequester]:
    """A ClientAE with ``service`` registered, and an association with ``remote_ae``."""
    client = ClientAE(local_aet, supported_ts).add_scu(service, sop_classes)
    with client.request_association(remote_ae) as assoc:
        yield assoc


def verify(local_aet: str, remote_ae: RemoteAEConfig | Mapping[str, Any]) -> statuses.Status:
    """C-ECHO ``remote_ae`` on a new association; return the status.

    >>> verify('MYSCU', {'aet': 'PACS', 'address': '127.0.0.1', 'port': 11112}).is_success
    True
    """
    with _association(local_aet, remote_ae, sopclass.verification_scu) as assoc:
        return assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)


def store(
    local_aet: str,
    remote_ae: RemoteAEConfig | Mapping[str, Any],
    ds: str | os.PathLike[str] | Dataset,
) -> statuses.Status:
    """C-STORE one Part-10 file (a path) or a :class:`~pydicom.dataset.Dataset`; return the status.

    A file is proposed in its own transfer syntax and streamed as it is. A Dataset is
    proposed in its file meta's transfer syntax when it has one, else in explicit and
    implicit VR little endian.

    >>> store('MYSCU', remote, 'ct.dcm').is_success
    True
    """
    if isinstance(ds, Dataset):
        sop_class = ds.get('SOPClassUID')
        if not sop_class:
            raise NetDICOMError('the data set has no SOPClassUID: cannot choose a context')
        meta = getattr(ds, 'file_meta', None)
        original = meta.get('TransferSyntaxUID') if meta is not None else None
        if original:
            syntaxes = [UID(original)]
        else:
            syntaxes = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
    else:
        with open(ds, 'rb') as fp:
            meta = read_meta(fp)
        sop_class = meta.sop_class_uid
        if not sop_class or not meta.transfer_syntax:
            raise NetDICOMError(
                f'{os.fspath(ds)}: the file meta names no SOP class or transfer syntax'
            )
        syntaxes = [meta.transfer_syntax]
    with _association(
        local_aet, remote_ae, sopclass.storage_scu, syntaxes, [sop_class]
    ) as assoc:
        return assoc.get_scu(sop_class)(ds, 1)


@contextlib.contextmanager
def storage(
    storage_dir: str | os.PathLike[str],
    local_aet: str,
    port: int,
    supported_ts: Iterable[str] | None = None,
    *,
    host: str = '',
) -> Iterator[StorageAE]:
    """Run a storage SCP (which also answers C-ECHO) for the duration of the block.

    Every data set received is written to ``storage_dir`` as ``<SOPInstanceUID>.dcm``;
    all transfer syntaxes of :data:`uids.ALL_TS` are accepted by default. Port 0 picks a free
    port: ``ae.local_ae.port``.

    >>> with storage('incoming', 'STORESCP', 11112) as scp:
    ...     store('MYSCU', {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': 11112}, 'ct.dcm')
    """
    ae = StorageAE(
        storage_dir, local_aet, port, uids.ALL_TS if supported_ts is None else supported_ts,
        host=host,
    )
    ae.add_scp(sopclass.storage_scp).add_scp(sopclass.verification_scp)
    with ae:
        yield ae
