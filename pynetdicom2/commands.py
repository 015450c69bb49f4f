"""One-call helpers: verify a peer, store a file or data set, query and retrieve, run a storage SCP.

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
    for match in pynetdicom2.find('MYSCU', remote, query):  # C-FIND, Study Root by default
        print(match.StudyInstanceUID)
    pynetdicom2.move('MYSCU', remote, query, 'STORESCP').num_of_completed_sub_ops
    pynetdicom2.get('MYSCU', remote, query, 'incoming')  # C-GET into incoming/<uid>.dcm
    with pynetdicom2.storage('incoming', 'STORESCP', 11112):
        ...                                             # files arrive as incoming/<uid>.dcm
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pynetdicom2 import negotiation, pixelcodecs, sopclass, statuses, transcode, uids
from pynetdicom2.applicationentity import ClientAE, ClientStorageAE, StorageAE
from pynetdicom2.asceprovider import AssociationRequester, PContextDefList, RemoteAEConfig
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.filestorage import read_meta

__all__ = [
    'COMMON_STORAGE_SOP_CLASSES',
    'BoundFind',
    'BoundMove',
    'CGetResponse',
    'CMoveResponse',
    'find',
    'get',
    'get_on',
    'move',
    'move_on',
    'storage',
    'store',
    'store_many',
    'verify',
]

#: The bound SCU functions of C-FIND and C-MOVE (``assoc.get_scu(...)``).
BoundFind = Callable[[Dataset, int], Iterator[tuple[Optional[Dataset], statuses.Status]]]
BoundMove = Callable[[Dataset, str, int], Iterator[tuple[statuses.Status, Any]]]

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

    >>> import tempfile
    >>> from pynetdicom2.loopback import LoopbackSCP
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp, 'PACS') as pacs:
    ...     remote = {'aet': 'PACS', 'address': '127.0.0.1', 'port': pacs.port}
    ...     verify('MYSCU', remote).is_success
    True
    """
    with _association(local_aet, remote_ae, sopclass.verification_scu) as assoc:
        status: statuses.Status = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
    return status


def store(
    local_aet: str,
    remote_ae: RemoteAEConfig | Mapping[str, Any],
    ds: str | os.PathLike[str] | Dataset,
) -> statuses.Status:
    """C-STORE one Part-10 file (a path) or a :class:`~pydicom.dataset.Dataset`; return the status.

    A file is proposed in its own transfer syntax and streamed as it is. A Dataset is
    proposed in its file meta's transfer syntax when it has one, else in explicit and
    implicit VR little endian.

    >>> import os, tempfile
    >>> from pynetdicom2.loopback import LoopbackSCP, make_dataset, write_dataset
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(os.path.join(tmp, 'pacs')) as pacs:
    ...     path = write_dataset(make_dataset(PatientID='P1'), tmp)   # a Part-10 file
    ...     print(store('MYSCU', pacs.remote, path))
    ...     print(store('MYSCU', pacs.remote, make_dataset(PatientID='P2')))
    ...     sorted(ds.PatientID for ds in pacs.received)
    (0x0) Success: -
    (0x0) Success: -
    ['P1', 'P2']
    """
    sop_class, contexts = _proposal_for(ds)
    client = _storage_client(local_aet, {sop_class: contexts})
    with client.request_association(remote_ae) as assoc:
        status: statuses.Status = assoc.get_scu(sop_class)(ds, 1)
    return status


def _storage_client(local_aet: str, proposals: Mapping[str, Iterable[tuple[str, ...]]],
                    window: int | None = None) -> ClientAE:
    """A ClientAE proposing, for each SOP class, one context per tuple of syntaxes."""
    contexts = [(UID(sop_class), tuple(UID(ts) for ts in listed))
                for sop_class, per_class in proposals.items()
                for listed in dict.fromkeys(per_class)]
    syntaxes = list(dict.fromkeys(ts for _, listed in contexts for ts in listed))
    client = ClientAE(local_aet, syntaxes,
                      async_window=None if window is None else (window, 1))
    client.add_scu(sopclass.storage_scu, list(proposals))
    with client.lock:  # the registry lists every syntax per class: these contexts instead
        client.context_def_list = {
            1 + 2 * index: PContextDefList(1 + 2 * index, sop_class, listed)
            for index, (sop_class, listed) in enumerate(contexts)
        }
    return client


def _proposal_for(
    source: str | os.PathLike[str] | Dataset,
) -> tuple[str, list[tuple[str, ...]]]:
    """The SOP class of a source and the contexts to propose for it, each a tuple of
    transfer syntaxes: its own syntax first, then those it can be converted to, so that a
    peer accepting only Implicit VR Little Endian gets an Explicit VR file too.

    An uncompressed source: one context, its syntax, then explicit and implicit VR little
    endian. A compressed file whose pixel data can be decoded here
    (:mod:`pynetdicom2.pixelcodecs`): its syntax in a context of its own, and the
    uncompressed ones in another, since the acceptor picks one syntax per context (PS3.8
    9.3.3.2) and would otherwise pick for us. Anything else: its own syntax alone.
    """
    if isinstance(source, Dataset):
        sop_class = source.get('SOPClassUID')
        if not sop_class:
            raise NetDICOMError('the data set has no SOPClassUID: cannot choose a context')
        meta = getattr(source, 'file_meta', None)
        original = meta.get('TransferSyntaxUID') if meta is not None else None
        return str(sop_class), _contexts_for(UID(original) if original else None, False)
    with open(source, 'rb') as fp:
        meta = read_meta(fp)
    if not meta.sop_class_uid or not meta.transfer_syntax:
        raise NetDICOMError(
            f'{os.fspath(source)}: the file meta names no SOP class or transfer syntax'
        )
    return str(meta.sop_class_uid), _contexts_for(meta.transfer_syntax, True)


def _contexts_for(own: UID | None, decodable: bool) -> list[tuple[str, ...]]:
    """See :func:`_proposal_for`; ``decodable``: a compressed ``own`` may be decoded."""
    uncompressed: tuple[str, ...] = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
    if own is None:
        return [uncompressed]
    if transcode.can_convert(own, ExplicitVRLittleEndian):
        return [tuple(dict.fromkeys([own, *uncompressed]))]
    if decodable and pixelcodecs.can_decompress(own):
        return [(own,), uncompressed]
    return [(own,)]


def store_many(
    local_aet: str,
    remote_ae: RemoteAEConfig | Mapping[str, Any],
    sources: Iterable[str | os.PathLike[str] | Dataset],
    *,
    window: int = 16,
) -> Iterator[tuple[str | os.PathLike[str] | Dataset, statuses.Status | Exception]]:
    """C-STORE many files or Datasets on one association, up to ``window`` at once.

    Proposes an Asynchronous Operations Window of ``window`` (PS3.7 D.3.3.3) and keeps as
    many requests outstanding as the peer grants (one at a time with a peer that grants
    none, such as DCMTK's storescp), yielding ``(source, status)`` as the responses come
    (:func:`pynetdicom2.sopclass.store_many`). A source that cannot be sent is yielded with
    the exception that says why; the others go on. Each SOP class is proposed in the
    transfer syntaxes of its sources (a Dataset without file meta: explicit and implicit VR
    little endian).

    >>> import os, tempfile
    >>> from pynetdicom2.loopback import LoopbackSCP, make_dataset
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(os.path.join(tmp, 'pacs')) as pacs:
    ...     outcomes = list(store_many('MYSCU', pacs.remote, [make_dataset() for _ in range(5)]))
    ...     [str(status) for _, status in outcomes][0], len(pacs.received)
    ('(0x0) Success: -', 5)
    """
    sendable: list[str | os.PathLike[str] | Dataset] = []
    proposals: dict[str, list[tuple[str, ...]]] = {}
    for source in sources:
        try:
            sop_class, contexts = _proposal_for(source)
        except (NetDICOMError, OSError) as exc:
            yield source, exc
            continue
        sendable.append(source)
        proposals.setdefault(sop_class, []).extend(contexts)
    if not sendable:
        return
    client = _storage_client(local_aet, proposals, window)
    with client.request_association(remote_ae) as assoc:
        yield from assoc.store_many(sendable, window)


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

    >>> import os, tempfile
    >>> from pynetdicom2.loopback import make_dataset
    >>> with tempfile.TemporaryDirectory() as incoming:
    ...     with storage(incoming, 'STORESCP', 0, host='127.0.0.1') as scp:
    ...         remote = {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
    ...         ds = make_dataset()
    ...         print(store('MYSCU', remote, ds))
    ...     os.listdir(incoming) == [f'{ds.SOPInstanceUID}.dcm']
    (0x0) Success: -
    True
    """
    ae = StorageAE(
        storage_dir, local_aet, port, uids.ALL_TS if supported_ts is None else supported_ts,
        host=host,
    )
    ae.add_scp(sopclass.storage_scp).add_scp(sopclass.verification_scp)
    with ae:
        yield ae


# --- Query/Retrieve (PS3.4 Annex C) -------------------------------------------------------------


@dataclass(frozen=True)
class CMoveResponse:
    """The sub-operation counts of a finished C-MOVE (its final response)."""

    num_of_remaining_sub_ops: int
    num_of_completed_sub_ops: int
    num_of_failed_sub_ops: int
    num_of_warning_sub_ops: int


@dataclass(frozen=True)
class CGetResponse:
    """The sub-operation counts of a finished C-GET (its final response)."""

    num_of_remaining_sub_ops: int
    num_of_completed_sub_ops: int
    num_of_failed_sub_ops: int
    num_of_warning_sub_ops: int


def _counts(rsp: Any) -> tuple[int, int, int, int]:
    return (
        rsp.num_of_remaining_sub_ops or 0,
        rsp.num_of_completed_sub_ops or 0,
        rsp.num_of_failed_sub_ops or 0,
        rsp.num_of_warning_sub_ops or 0,
    )


def _refused(operation: str, remote_ae: Any, status: statuses.Status | None) -> NetDICOMError:
    aet = remote_ae.aet if isinstance(remote_ae, RemoteAEConfig) else remote_ae.get('aet')
    return NetDICOMError(f'{operation} to {aet} ended with {status}')


def move_on(
    assoc: AssociationRequester, request: Dataset, dest_ae: str,
    root: str = uids.STUDY_ROOT_MOVE_SOP_CLASS,
) -> CMoveResponse:
    """C-MOVE on an established association (message ID 1); the final counts.

    A final status other than Success or Warning raises :class:`NetDICOMError`.
    """
    final: Any = None
    status: statuses.Status | None = None
    for response in assoc.get_scu(root)(request, dest_ae, 1):
        status, final = response  # the last one is the final response
    if final is None or status is None or not (status.is_success or status.is_warning):
        raise _refused('C-MOVE', assoc.remote_ae, status)
    return CMoveResponse(*_counts(final))


def get_on(
    assoc: AssociationRequester, request: Dataset, root: str = uids.STUDY_ROOT_GET_SOP_CLASS
) -> CGetResponse:
    """C-GET on an established association (message ID 1); the final counts.

    Each instance is answered and kept as the requesting AE's ``on_receive_store`` says; a
    final status other than Success or Warning raises :class:`NetDICOMError`.
    """
    operation = assoc.get_scu(root)(request, 1)
    for _ in operation:
        pass
    status = operation.status
    if operation.response is None or status is None or not (
        status.is_success or status.is_warning
    ):
        raise _refused('C-GET', assoc.remote_ae, status)
    return CGetResponse(*_counts(operation.response))


def find(
    local_aet: str,
    remote_ae: RemoteAEConfig | Mapping[str, Any],
    request: Dataset,
    root: str = uids.STUDY_ROOT_FIND_SOP_CLASS,
) -> Iterator[Dataset]:
    """C-FIND ``request`` in the ``root`` information model; yield each match.

    A generator: the association is opened at the first ``next()`` and released after the
    final response. Leaving it early cancels the query (C-CANCEL-RQ) and releases the
    association. A final status other than Success raises :class:`NetDICOMError`.

    >>> import tempfile
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study
    >>> q = Dataset(); q.QueryRetrieveLevel = 'STUDY'; q.StudyInstanceUID = ''
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp) as pacs:
    ...     _ = pacs.add(*make_study(instances=3, StudyInstanceUID='1.2.3.4'))
    ...     [m.StudyInstanceUID for m in find('MYSCU', pacs.remote, q)]
    ['1.2.3.4']
    """
    with _association(local_aet, remote_ae, sopclass.qr_find_scu, sop_classes=[root]) as assoc:
        responses = assoc.get_scu(root)(request, 1)
        try:
            for match, status in responses:
                if status.is_pending:
                    if match is not None:
                        yield match
                elif not status.is_success:
                    raise _refused('C-FIND', remote_ae, status)
        except GeneratorExit:
            responses.close()  # C-CANCEL-RQ; then the association is released, not aborted
            return


def move(
    local_aet: str,
    remote_ae: RemoteAEConfig | Mapping[str, Any],
    request: Dataset,
    dest_ae: str,
    root: str = uids.STUDY_ROOT_MOVE_SOP_CLASS,
) -> CMoveResponse:
    """C-MOVE what ``request`` matches to ``dest_ae``; return the final counts.

    Success and Warning (some sub-operations failed) return; any other final status raises
    :class:`NetDICOMError`.

    >>> import os, tempfile
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study, query
    >>> q = query('STUDY', StudyInstanceUID='1.2.3.4')
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with LoopbackSCP(os.path.join(tmp, 'pacs'), 'PACS') as pacs:
    ...         with LoopbackSCP(os.path.join(tmp, 'dest'), 'STORESCP') as dest:
    ...             _ = pacs.add(*make_study(instances=3, StudyInstanceUID='1.2.3.4'))
    ...             pacs.destinations['STORESCP'] = dest.remote  # where PACS finds STORESCP
    ...             print(move('MYSCU', pacs.remote, q, 'STORESCP').num_of_completed_sub_ops)
    ...             len(dest.stored_files())
    3
    3
    """
    with _association(local_aet, remote_ae, sopclass.qr_move_scu, sop_classes=[root]) as assoc:
        return move_on(assoc, request, dest_ae, root)


#: What :func:`get` proposes to receive by default: the storage classes of
#: :data:`uids.STORAGE_SOP_CLASSES` but the retired, security (DICOS), non-destructive testing,
#: eye-care measurement, non-patient, radiotherapy delivery and other seldom retrieved ones
#: (:func:`negotiation.rarely_received`), so that one association carries them all (PS3.8
#: 9.3.2.2: at most 128 presentation contexts).
COMMON_STORAGE_SOP_CLASSES = tuple(
    uid for uid in uids.STORAGE_SOP_CLASSES if not negotiation.rarely_received(uid)
)


def get(
    local_aet: str,
    remote_ae: RemoteAEConfig | Mapping[str, Any],
    request: Dataset,
    storage_dir: str | os.PathLike[str],
    root: str = uids.STUDY_ROOT_GET_SOP_CLASS,
    sop_classes: Iterable[str] | None = None,
    supported_ts: Iterable[str] | None = None,
) -> CGetResponse:
    """C-GET what ``request`` matches into ``storage_dir`` (as ``<SOPInstanceUID>.dcm``).

    ``root`` is any C-GET class (:data:`uids.ALL_GET_SOP_CLASSES`, or a private one registered
    with ``c_get=True``). Storage contexts are proposed, with the SCP role, for
    ``sop_classes`` (default :data:`COMMON_STORAGE_SOP_CLASSES`, the storage classes ``root``
    retrieves when it is a model of non-patient objects, such as Hanging Protocol Storage, and
    the private storage classes registered with :func:`uids.register_private_sop_class`; at
    most 127) in ``supported_ts`` (default explicit, implicit little and explicit big endian).
    Success and Warning return the final counts; any other final status raises
    :class:`NetDICOMError`.

    >>> import os, tempfile
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study, query
    >>> q = query('STUDY', StudyInstanceUID='1.2.3.4')
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with LoopbackSCP(os.path.join(tmp, 'pacs')) as pacs:
    ...         _ = pacs.add(*make_study(instances=3, StudyInstanceUID='1.2.3.4'))
    ...         incoming = os.path.join(tmp, 'incoming')
    ...         print(get('MYSCU', pacs.remote, q, incoming).num_of_completed_sub_ops)
    ...         len(os.listdir(incoming))
    3
    3
    """
    if sop_classes is None:
        private = [entry.uid for entry in uids.private_sop_classes() if entry.storage]
        sop_classes = [*negotiation.retrieved_by(root), *COMMON_STORAGE_SOP_CLASSES, *private]
    client = ClientStorageAE(storage_dir, local_aet, supported_ts)
    client.add_scu(sopclass.qr_get_scu, [root])
    classes = list(dict.fromkeys(UID(uid) for uid in sop_classes))
    client.add_scu(sopclass.storage_scu, classes)
    # Received in files whatever their class (the AE's own list has the standard ones only).
    client.update_context_def_list(classes, store_in_file=True)
    with client.request_association(remote_ae) as assoc:
        return get_on(assoc, request, root)
