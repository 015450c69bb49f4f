"""A complete little PACS on loopback, and a client bound to it: for tests, demos and examples.

This module owns :class:`LoopbackSCP` (verification, storage into a folder, and Query/Retrieve
C-FIND, C-MOVE and C-GET over what it stored, recording every association and request it
saw), :class:`LoopbackClient` (a :class:`~pynetdicom2.applicationentity.ClientStorageAE`
that knows the SCP's address) and helpers that make small valid data sets. The pytest
fixtures of :mod:`pynetdicom2.testing` and ``python -m pynetdicom2 demo`` are built on it. It
is not a production archive: matching reads every stored file's header on each query.

>>> import tempfile
>>> from pynetdicom2.loopback import LoopbackSCP, make_dataset, query
>>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp) as scp:  # free port, 127.0.0.1
...     client = scp.client()
...     print(client.store(make_dataset(PatientID='P1')))        # one status per data set
...     print([m.PatientID for m in client.find(query('PATIENT', PatientID='P*'))])
...     print(scp.requests[-1].command)
[Status(0x0)]
['P1']
C-FIND
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, generate_uid

from pynetdicom2 import commands, dsutils, qrmatch, sopclass, statuses, uids
from pynetdicom2.applicationentity import ClientAE, ClientStorageAE, StorageAE
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.exceptions import AssociationRejectedError, EventHandlingError, NetDICOMError
from pynetdicom2.filestorage import SOPInstanceUIDNaming, read_meta
from pynetdicom2.fsm import PContextDef

__all__ = [
    'CLIENT_STORAGE_SOP_CLASSES',
    'AssociationRecord',
    'LoopbackClient',
    'LoopbackSCP',
    'RequestRecord',
    'make_dataset',
    'make_study',
    'query',
    'write_dataset',
]

#: The storage classes :class:`LoopbackClient` proposes (and takes the SCP role for in C-GET).
CLIENT_STORAGE_SOP_CLASSES = (
    uids.CT_IMAGE_STORAGE,
    uids.MR_IMAGE_STORAGE,
    UID('1.2.840.10008.5.1.4.1.1.7'),        # Secondary Capture Image
    UID('1.2.840.10008.5.1.4.1.1.1'),        # Computed Radiography Image
    UID('1.2.840.10008.5.1.4.1.1.1.1'),      # Digital X-Ray Image - For Presentation
    UID('1.2.840.10008.5.1.4.1.1.6.1'),      # Ultrasound Image
    UID('1.2.840.10008.5.1.4.1.1.20'),       # Nuclear Medicine Image
    UID('1.2.840.10008.5.1.4.1.1.128'),      # PET Image
    UID('1.2.840.10008.5.1.4.1.1.481.1'),    # RT Image
    UID('1.2.840.10008.5.1.4.1.1.481.2'),    # RT Dose
    UID('1.2.840.10008.5.1.4.1.1.481.3'),    # RT Structure Set
    UID('1.2.840.10008.5.1.4.1.1.481.5'),    # RT Plan
    UID('1.2.840.10008.5.1.4.1.1.88.11'),    # Basic Text SR
    UID('1.2.840.10008.5.1.4.1.1.88.33'),    # Comprehensive SR
    UID('1.2.840.10008.5.1.4.1.1.104.1'),    # Encapsulated PDF
)

# --- data sets ----------------------------------------------------------------------------------


def make_dataset(
    sop_class: str = uids.CT_IMAGE_STORAGE,
    *,
    pixels: bool = False,
    **elements: Any,
) -> Dataset:
    """A small valid instance: patient, study, series and instance attributes filled in.

    Keyword arguments set or override attributes (``PatientID='P2'``,
    ``StudyInstanceUID=...``). ``pixels=True`` adds an 8x8 16-bit monochrome image. The
    data set carries file meta (explicit VR little endian), so it can be written as is.

    >>> ds = make_dataset(PatientID='P2', Modality='MR')
    >>> ds.PatientID, ds.file_meta.TransferSyntaxUID.name
    ('P2', 'Explicit VR Little Endian')
    """
    ds = Dataset()
    ds.SpecificCharacterSet = 'ISO_IR 100'
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = 'Test^Patient'
    ds.PatientID = 'PAT1'
    ds.PatientBirthDate = '19700101'
    ds.PatientSex = 'O'
    ds.StudyInstanceUID = generate_uid()
    ds.StudyDate = '20240101'
    ds.StudyTime = '120000'
    ds.StudyID = '1'
    ds.AccessionNumber = 'ACC1'
    ds.StudyDescription = 'pynetdicom2 test study'
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 1
    ds.Modality = 'CT'
    ds.InstanceNumber = 1
    if pixels:
        ds.Rows = ds.Columns = 8
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = 'MONOCHROME2'
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelData = bytes(range(128))
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = uids.ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def make_study(
    series: int = 1,
    instances: int = 2,
    sop_class: str = uids.CT_IMAGE_STORAGE,
    **elements: Any,
) -> list[Dataset]:
    """``series`` x ``instances`` data sets of one new study (one patient).

    >>> study = make_study(series=2, instances=3, PatientID='P7')
    >>> len(study), len({ds.SeriesInstanceUID for ds in study})
    (6, 2)
    """
    study_uid = elements.pop('StudyInstanceUID', None) or generate_uid()
    made = []
    for series_number in range(1, series + 1):
        series_uid = generate_uid()
        for number in range(1, instances + 1):
            made.append(make_dataset(
                sop_class, StudyInstanceUID=study_uid, SeriesInstanceUID=series_uid,
                SeriesNumber=series_number, InstanceNumber=number, **elements,
            ))
    return made


def write_dataset(ds: Dataset, directory: str | os.PathLike[str]) -> Path:
    """Write ``ds`` as the Part-10 file ``<directory>/<SOPInstanceUID>.dcm``; return its path.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     ds = make_dataset()
    ...     path = write_dataset(ds, tmp)
    ...     path.name == f'{ds.SOPInstanceUID}.dcm', dcmread(path).PatientID
    (True, 'PAT1')
    """
    if not hasattr(ds, 'file_meta') or 'TransferSyntaxUID' not in ds.file_meta:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = uids.ExplicitVRLittleEndian
        ds.file_meta = meta
    path = Path(directory) / f'{ds.SOPInstanceUID}.dcm'
    dsutils.save_part10(ds, path)
    return path


def query(level: str = 'STUDY', **keys: Any) -> Dataset:
    """A C-FIND/C-MOVE/C-GET identifier: the level and the given keys (``''`` asks for one).

    >>> q = query('STUDY', PatientID='PAT*', StudyInstanceUID='')
    >>> q.QueryRetrieveLevel
    'STUDY'
    """
    ds = Dataset()
    ds.QueryRetrieveLevel = level.upper()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


# --- records ------------------------------------------------------------------------------------


def _value_in(stored: Dataset) -> Callable[[int], Any]:
    """How the matcher reads an attribute of a stored header: its value, None when absent."""
    def value(tag: int) -> Any:
        return stored[tag].value if tag in stored else None
    return value


@dataclass(frozen=True)
class AssociationRecord:
    """An association request :class:`LoopbackSCP` received (accepted or not)."""

    calling_aet: str
    called_aet: str
    address: str
    port: int


@dataclass(frozen=True)
class RequestRecord:
    """A DIMSE request :class:`LoopbackSCP` received.

    ``command`` is ``'C-ECHO'``, ``'C-STORE'``, ``'C-FIND'``, ``'C-MOVE'`` or ``'C-GET'``;
    ``dataset`` the stored data set (without pixel data) or the identifier; ``destination``
    the C-MOVE destination.
    """

    command: str
    calling_aet: str
    sop_class: str
    dataset: Dataset | None = None
    destination: str | None = None


# --- the SCP ------------------------------------------------------------------------------------


class LoopbackSCP(StorageAE):
    """Verification, storage and Q/R (find, move, get) over a folder, on 127.0.0.1.

    ``port=0`` (the default) picks a free port: see :attr:`port`. Data sets received are
    stored as ``<SOPInstanceUID>.dcm`` in ``storage_dir``; :meth:`add` puts data sets there
    directly. C-MOVE destinations are AE titles mapped in :attr:`destinations` (a
    :class:`~pynetdicom2.asceprovider.RemoteAEConfig` or dict each). :attr:`associations` and
    :attr:`requests` record what the SCP saw, in order. Timeouts are short (a few seconds), as
    befits a test server. Storing an instance again replaces it, as an archive would
    (:attr:`file_naming` is :class:`~pynetdicom2.filestorage.SOPInstanceUIDNaming` with
    ``replace=True``). C-FIND, C-MOVE and C-GET match with :mod:`pynetdicom2.qrmatch`, as
    :class:`pynetdicom2.qrscp.QRSCP` does.

    Associations are rejected (A-ASSOCIATE-RJ, permanent, service user) when the called AE
    title is not ``ae_title`` (reason 7), or when ``calling_aets`` is given and the calling
    AE title is not in it (reason 3): set :attr:`calling_aets` to test a client's handling
    of a rejection.

    >>> import tempfile
    >>> import pynetdicom2
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp) as scp:
    ...     print(pynetdicom2.verify('ME', scp.remote))
    ...     scp.requests[0].command, scp.associations[0].calling_aet
    (0x0) Success: -
    ('C-ECHO', 'ME')
    """

    def __init__(
        self,
        storage_dir: str | os.PathLike[str],
        ae_title: str = 'LOOPBACK',
        port: int = 0,
        *,
        host: str = '127.0.0.1',
        timeout: float = 5.0,
        calling_aets: Iterable[str] | None = None,
    ) -> None:
        super().__init__(storage_dir, ae_title, port, uids.ALL_TS, host=host)
        self.calling_aets = None if calling_aets is None else set(calling_aets)
        for service in (sopclass.verification_scp, sopclass.storage_scp, sopclass.qr_find_scp,
                        sopclass.qr_move_scp, sopclass.qr_get_scp):
            self.add_scp(service)
        # The C-MOVE and C-GET sub-operations are C-STOREs of ours.
        self.add_scu(sopclass.storage_scu, list(uids.STORAGE_SOP_CLASSES))
        self.artim_timeout = timeout
        self.dcm_timeout = timeout
        self.network_timeout = max(timeout, 10.0)
        self.connect_timeout = timeout
        self.destinations: dict[str, RemoteAEConfig | Mapping[str, Any]] = {}
        self.associations: list[AssociationRecord] = []
        self.requests: list[RequestRecord] = []
        self.file_naming = SOPInstanceUIDNaming(replace=True)
        self._records_lock = threading.Lock()
        self._calling = threading.local()
        # path -> ((inode, mtime), header): a file replaced or changed is read again.
        self._headers: dict[str, tuple[tuple[int, int], Dataset]] = {}

    # -- where it is -----------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The address it listens on (``127.0.0.1``)."""
        return str(self.server.server_address[0])

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return int(self.server.server_address[1])

    @property
    def remote(self) -> RemoteAEConfig:
        """How a client reaches it: a RemoteAEConfig with its AE title, address and port."""
        return RemoteAEConfig(self.ae_title, self.address, self.port)

    def client(
        self, ae_title: str = 'LOOPBACK-SCU', storage_dir: str | os.PathLike[str] | None = None
    ) -> LoopbackClient:
        """A :class:`LoopbackClient` bound to this SCP (C-GET results go to ``storage_dir``)."""
        directory = storage_dir if storage_dir is not None else self.storage_dir / '.client'
        return LoopbackClient(self.remote, directory, ae_title)

    # -- what it holds ---------------------------------------------------------------------

    def add(self, *datasets: Dataset) -> list[Path]:
        """Store data sets directly (no association); return their paths."""
        return [write_dataset(ds, self.storage_dir) for ds in datasets]

    def stored_files(self) -> list[Path]:
        """The Part-10 files it holds, sorted by name."""
        return sorted(self.storage_dir.glob('*.dcm'))

    @property
    def received(self) -> list[Dataset]:
        """The data sets received by C-STORE (without pixel data), in order."""
        with self._records_lock:
            return [r.dataset for r in self.requests
                    if r.command == 'C-STORE' and r.dataset is not None]

    def _instances(self) -> list[tuple[Path, Dataset]]:
        found = []
        for path in self.stored_files():
            key = str(path)
            try:
                stat = path.stat()
            except FileNotFoundError:  # replaced or removed meanwhile
                continue
            stamp = (stat.st_ino, stat.st_mtime_ns)
            cached = self._headers.get(key)
            if cached is None or cached[0] != stamp:
                cached = (stamp, dcmread(path, stop_before_pixels=True))
                with self._records_lock:
                    self._headers[key] = cached
            found.append((path, cached[1]))
        return found

    def _match(self, identifier: Dataset) -> tuple[str, list[tuple[Path, Dataset]]]:
        try:
            level = qrmatch.level_of(identifier)
        except qrmatch.QueryError as exc:
            # PS3.4 C.4.1.1.4: A900, the identifier does not match the SOP class
            raise EventHandlingError(str(exc), status=0xA900) from exc
        return level, [(path, ds) for path, ds in self._instances()
                       if qrmatch.matches(identifier, ds)]

    # -- records ---------------------------------------------------------------------------

    def _record(self, command: str, context: PContextDef, dataset: Dataset | None = None,
                destination: str | None = None) -> None:
        calling = getattr(self._calling, 'aet', '')
        with self._records_lock:
            self.requests.append(
                RequestRecord(command, calling, str(context.sop_class), dataset, destination)
            )

    # -- hooks -----------------------------------------------------------------------------

    def on_association_request(self, asce: Any, rq: Any) -> None:
        address, port = (getattr(asce, 'client_address', None) or ('', 0))[:2]
        calling = str(rq.calling_ae_title).strip()
        self._calling.aet = calling
        with self._records_lock:
            self.associations.append(AssociationRecord(
                calling, str(rq.called_ae_title).strip(), str(address), int(port)
            ))
        # PS3.8 7.1.1.9 / Table 9-21: 1 = rejected-permanent, 1 = service user;
        # reason 7 = called AE title not recognized, 3 = calling AE title not recognized.
        if str(rq.called_ae_title).strip() != self.ae_title.strip():
            raise AssociationRejectedError(1, 1, 7)
        if self.calling_aets is not None and calling not in self.calling_aets:
            raise AssociationRejectedError(1, 1, 3)

    def on_receive_echo(self, context: PContextDef) -> statuses.Status:
        self._record('C-ECHO', context)
        return statuses.SUCCESS

    def on_receive_store(self, context: PContextDef, ds: Any) -> statuses.Status:
        dataset = None
        if hasattr(ds, 'read'):
            dataset = dcmread(ds, stop_before_pixels=True, force=True)
        self._record('C-STORE', context, dataset)
        return statuses.SUCCESS

    def on_receive_find(self, context: PContextDef, ds: Dataset) -> Iterator[tuple[Dataset, Any]]:
        self._record('C-FIND', context, ds)
        level, found = self._match(ds)
        unique = qrmatch.LEVEL_KEYS[level]
        seen: set[str] = set()
        for _path, stored in found:
            key = qrmatch.value_text(stored.get(unique, ''))
            if key in seen:
                continue
            seen.add(key)
            answer = qrmatch.answer(ds, level, key, _value_in(stored),
                                    stored.get('SpecificCharacterSet'))
            yield answer, statuses.C_FIND_PENDING

    def on_receive_get(self, context: PContextDef, ds: Dataset) -> Any:
        self._record('C-GET', context, ds)
        found = [str(path) for path, _ in self._match(ds)[1]]
        return len(found), iter(found)

    def on_receive_move(self, context: PContextDef, ds: Dataset, destination: str) -> Any:
        self._record('C-MOVE', context, ds, destination)
        found = [str(path) for path, _ in self._match(ds)[1]]
        return self.destinations.get(destination.strip()), len(found), iter(found)


# --- the client ---------------------------------------------------------------------------------


class LoopbackClient(ClientStorageAE):
    """A ClientAE bound to one peer, with one-call echo, store, find, move and get.

    It proposes verification, the Q/R classes, and storage (with the SCP role, for C-GET)
    for :data:`CLIENT_STORAGE_SOP_CLASSES` plus ``storage_classes``. Files received by C-GET
    go to ``storage_dir``. :meth:`associate` opens an association for anything else.

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with LoopbackSCP(os.path.join(tmp, 'pacs')) as scp:
    ...         client = LoopbackClient(scp.remote, os.path.join(tmp, 'in'))
    ...         print(client.echo().is_success)
    ...         _ = scp.add(make_dataset(PatientID='P9'))
    ...         print(client.get(query('PATIENT', PatientID='P9')).num_of_completed_sub_ops)
    ...         len(os.listdir(os.path.join(tmp, 'in')))
    True
    1
    1
    """

    def __init__(
        self,
        remote: RemoteAEConfig | Mapping[str, Any],
        storage_dir: str | os.PathLike[str],
        ae_title: str = 'LOOPBACK-SCU',
        storage_classes: Iterable[str] = (),
        *,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(storage_dir, ae_title, uids.ALL_TS)
        self.remote = remote
        for service in (sopclass.verification_scu, sopclass.qr_find_scu, sopclass.qr_move_scu,
                        sopclass.qr_get_scu):
            self.add_scu(service)
        classes = list(dict.fromkeys([*CLIENT_STORAGE_SOP_CLASSES, *storage_classes]))
        self.add_scu(sopclass.storage_scu, classes)
        self.artim_timeout = timeout
        self.dcm_timeout = timeout
        self.network_timeout = max(timeout, 10.0)
        self.connect_timeout = timeout

    def associate(self) -> Any:
        """``with client.associate() as assoc:`` an association with the bound peer."""
        return self.request_association(self.remote)

    def echo(self) -> statuses.Status:
        """C-ECHO; the status."""
        with self.associate() as assoc:
            status: statuses.Status = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
        return status

    def store(self, *items: Dataset | str | os.PathLike[str]) -> list[statuses.Status]:
        """C-STORE data sets or Part-10 paths; their statuses, in order.

        Data sets go on one association (encoded in the negotiated transfer syntax); files
        are sent as they are, on one association per transfer syntax, proposing just it.
        """
        answers: dict[int, statuses.Status] = {}
        datasets = [(n, item) for n, item in enumerate(items) if isinstance(item, Dataset)]
        files: dict[str, list[tuple[int, str, str]]] = {}
        for index, item in enumerate(items):
            if not isinstance(item, Dataset):
                with open(item, 'rb') as fp:
                    meta = read_meta(fp)
                files.setdefault(str(meta.transfer_syntax), []).append(
                    (index, str(meta.sop_class_uid), os.fspath(item))
                )
        if datasets:
            with self.associate() as assoc:
                for msg_id, (index, ds) in enumerate(datasets, 1):
                    answers[index] = assoc.get_scu(ds.SOPClassUID)(ds, msg_id)
        for ts, group in files.items():
            sender = ClientAE(self.ae_title, [ts])
            sender.add_scu(sopclass.storage_scu, list(dict.fromkeys(c for _, c, _ in group)))
            for name in ('artim_timeout', 'dcm_timeout', 'network_timeout', 'connect_timeout'):
                setattr(sender, name, getattr(self, name))
            with sender.request_association(self.remote) as assoc:
                for msg_id, (index, sop_class, path) in enumerate(group, 1):
                    answers[index] = assoc.get_scu(sop_class)(path, msg_id)
        return [answers[index] for index in range(len(items))]

    def find(self, request: Dataset, root: str = uids.STUDY_ROOT_FIND_SOP_CLASS) -> list[Dataset]:
        """C-FIND; the matches (a final status other than Success raises NetDICOMError)."""
        matches = []
        with self.associate() as assoc:
            for match, status in assoc.get_scu(root)(request, 1):
                if status.is_pending and match is not None:
                    matches.append(match)
                elif not status.is_pending and not status.is_success:
                    raise NetDICOMError(f'C-FIND ended with {status}')
        return matches

    def move(self, request: Dataset, destination: str,
             root: str = uids.STUDY_ROOT_MOVE_SOP_CLASS) -> commands.CMoveResponse:
        """C-MOVE to ``destination``; the final counts (as :func:`pynetdicom2.move`)."""
        with self.associate() as assoc:
            return commands.move_on(assoc, request, destination, root)

    def get(self, request: Dataset,
            root: str = uids.STUDY_ROOT_GET_SOP_CLASS) -> commands.CGetResponse:
        """C-GET into ``storage_dir``; the final counts (as :func:`pynetdicom2.get`)."""
        with self.associate() as assoc:
            return commands.get_on(assoc, request, root)
