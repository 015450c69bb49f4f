"""``pynetdicom2-findscu``: C-FIND a peer, as DCMTK's ``findscu`` does; the query keys and
information models that ``movescu`` and ``getscu`` share.

This module owns the query side of the DCMTK-style tools (:mod:`pynetdicom2.apps` re-exports
:func:`findscu`):

* the information models: ``-P`` Patient Root, ``-S`` Study Root (our default), ``-O``
  Patient/Study Only (PS3.4 C.6) and, for findscu, ``-W`` Modality Worklist (PS3.4 K.6.1),
  whose identifier has no Query/Retrieve Level;
* the query: the data set of each ``dcmfile-in`` (one C-FIND per file, on one association),
  or none; then each ``-k`` key replaces or adds an attribute, as DCMTK's: ``-k
  PatientName=Doe*``, ``-k 0010,0020`` (no ``=``: an empty value, "return this key"), and
  DCMTK's path notation for sequences, ``-k "(0040,0100)[0].Modality=CT"`` or ``-k
  ScheduledProcedureStepSequence[0].Modality=CT``;
* ``-X`` writes each response identifier to ``rsp0001.dcm``, ``rsp0002.dcm`` ... in ``-od``
  (numbered on across the C-FINDs of several query files, where DCMTK starts again at 1 for
  each); ``--cancel N`` sends a C-CANCEL-RQ (PS3.7 9.3.2.3) after the N-th response and reads
  the rest, which ends with Cancel (FE00H).

Usage::

    pynetdicom2-findscu -aec PACS -S -k PatientName=Doe* -k StudyInstanceUID 10.0.0.5 104
    pynetdicom2-findscu -aec RIS -W -k "ScheduledProcedureStepSequence[0].Modality=CT" \\
        -k PatientName -X -od worklist ris 104
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydicom import datadict, dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import sopclass, uids
from pynetdicom2.applicationentity import ClientAE
from pynetdicom2.dsutils import save_part10
from pynetdicom2.negotiation import IMPLEMENTATION_UID
from pynetdicom2.statuses import Status
from pynetdicom2.toolsupport import (
    ToolError,
    add_network,
    configure,
    convert_tag,
    convert_value,
    dcmtk_parser,
    existing_directory,
    format_address,
    remote_of,
    run_dcmtk,
)

__all__ = ['FIND_SOP_CLASSES', 'QUERY_MODELS', 'add_query_options', 'apply_key', 'build_query',
           'findscu', 'findscu_main', 'read_query', 'write_response']

logger = logging.getLogger('pynetdicom2.apps')

#: Query/Retrieve information model -> its FIND, MOVE and GET SOP classes (PS3.4 C.6).
QUERY_MODELS: dict[str, tuple[UID, UID, UID]] = {
    'patient': (uids.PATIENT_ROOT_FIND_SOP_CLASS, uids.PATIENT_ROOT_MOVE_SOP_CLASS,
                uids.PATIENT_ROOT_GET_SOP_CLASS),
    'study': (uids.STUDY_ROOT_FIND_SOP_CLASS, uids.STUDY_ROOT_MOVE_SOP_CLASS,
              uids.STUDY_ROOT_GET_SOP_CLASS),
    'psonly': (uids.PATIENT_STUDY_ONLY_FIND_SOP_CLASS, uids.PATIENT_STUDY_ONLY_MOVE_SOP_CLASS,
               uids.PATIENT_STUDY_ONLY_GET_SOP_CLASS),
}
#: The FIND SOP class of each model findscu knows, Modality Worklist (PS3.4 K.6.1) too.
FIND_SOP_CLASSES: dict[str, UID] = {
    **{model: classes[0] for model, classes in QUERY_MODELS.items()},
    'worklist': uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS,
}

#: (0008,0052) Query/Retrieve Level.
_QUERY_RETRIEVE_LEVEL = 0x00080052

# One step of a -k path: a keyword or a tag, and an item number: PatientName,
# (0040,0100)[0], 0040,0100, 00400100[1].
_STEP = re.compile(r'(?P<name>\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\)|[0-9A-Fa-f]{4},[0-9A-Fa-f]{4}'
                   r'|[0-9A-Fa-f]{8}|[A-Za-z][A-Za-z0-9]*)(?:\[(?P<item>[0-9]+)\])?')


# --- the options movescu and getscu share -------------------------------------------------------


def add_query_options(parser: argparse.ArgumentParser, worklist: bool = False) -> None:
    """``-P``/``-S``/``-O`` (and ``-W`` when ``worklist``) and ``-k``; Study Root by default."""
    model = parser.add_argument_group('query information model')
    choice = model.add_mutually_exclusive_group()
    if worklist:
        choice.add_argument('-W', '--worklist', dest='model', action='store_const',
                            const='worklist', help='use modality worklist information model')
    choice.add_argument('-P', '--patient', dest='model', action='store_const', const='patient',
                        help='use patient root information model')
    choice.add_argument('-S', '--study', dest='model', action='store_const', const='study',
                        help='use study root information model (default)')
    choice.add_argument('-O', '--psonly', dest='model', action='store_const', const='psonly',
                        help='use patient/study only information model')
    parser.set_defaults(model='study')
    keys = parser.add_argument_group('override matching keys')
    keys.add_argument('-k', '--key', action='append', default=[], metavar='[k]ey',
                      help='gggg,eeee="str", path or dict. name="str": override matching key '
                           '(e.g. -k PatientName=Doe* -k 0020,000D -k '
                           '"(0040,0100)[0].Modality=CT"; no "=" or an empty value: return '
                           'this key); QueryRetrieveLevel defaults to STUDY')


# --- the query ----------------------------------------------------------------------------------


def apply_key(ds: Dataset, key: str) -> None:
    """Set one ``-k`` key in ``ds``: ``path=value``, or ``path`` alone for an empty value.

    ``path`` is a keyword or a tag, or DCMTK's path through sequence items,
    ``Sequence[item].Attribute`` (items are counted from 0 and made as needed). A sequence
    key without an item, ``(0040,0100)`` or ``(0040,0100)=``, is an empty sequence: a
    universal match, all its attributes returned. Raises :class:`ValueError` with one line.

    >>> ds = Dataset()
    >>> apply_key(ds, 'ScheduledProcedureStepSequence[0].Modality=CT')
    >>> apply_key(ds, '(0010,0010)')
    >>> ds.ScheduledProcedureStepSequence[0].Modality, ds['PatientName'].is_empty
    ('CT', True)
    """
    path, sep, text = key.partition('=')
    steps = path.strip().split('.')
    target = ds
    for step in steps[:-1]:
        tag, item = _step(step, key)
        if item is None:
            raise ValueError(f'-k {key}: {step} needs an item number, e.g. {step}[0]')
        target = _item(target, tag, item, key)
    tag, item = _step(steps[-1], key)
    if item is not None:
        if sep:
            raise ValueError(f'-k {key}: an item takes no value; name an attribute in it')
        _item(target, tag, item, key)
        return
    vr = _dictionary_vr(tag, key)
    if vr == 'SQ':
        if text:
            raise ValueError(f'-k {key}: a sequence takes no value; e.g. {path}[0].Attribute=')
        target.add_new(tag, 'SQ', DicomSequence())
        return
    if tag == _QUERY_RETRIEVE_LEVEL:
        text = text.upper()  # -k QueryRetrieveLevel=series means SERIES (PS3.4 C.6.1.1.1)
    try:
        value = convert_value(vr, text)
    except ValueError:
        raise ValueError(f'-k {key}: {text!r} is not a valid {vr} value') from None
    target.add_new(tag, vr, value)


def _step(text: str, key: str) -> tuple[int, int | None]:
    """A path step's tag and item number (None when it names no item)."""
    match = _STEP.fullmatch(text.strip())
    if match is None:
        raise ValueError(f'-k {key}: {text!r} is not a keyword, a tag (gggg,eeee) or '
                         'Sequence[n]')
    name = convert_tag(match.group('name'))  # ValueError: unknown attribute '...'
    tag = name if isinstance(name, int) else datadict.tag_for_keyword(name)
    assert tag is not None
    item = match.group('item')
    return tag, None if item is None else int(item)


def _dictionary_vr(tag: int, key: str) -> str:
    try:
        return str(datadict.dictionary_VR(tag))
    except KeyError:
        raise ValueError(f'-k {key}: unknown attribute: the tag is not in the DICOM '
                         'dictionary') from None


def _item(ds: Dataset, tag: int, index: int, key: str) -> Dataset:
    """Item ``index`` of sequence ``tag`` in ``ds``, made (with those before it) if missing."""
    if _dictionary_vr(tag, key) != 'SQ':
        raise ValueError(f'-k {key}: {datadict.keyword_for_tag(tag) or hex(tag)} is not a '
                         'sequence: it has no items')
    if tag not in ds:
        ds.add_new(tag, 'SQ', DicomSequence())
    items = ds[tag].value
    while len(items) <= index:
        items.append(Dataset())
    item: Dataset = items[index]
    return item


def read_query(path: str) -> Dataset:
    """The data set of a query file (a Part-10 file or a bare data set), without file meta."""
    try:
        found = dcmread(path, force=True)
    except Exception as exc:  # pydicom raises many kinds on what is not DICOM
        raise ToolError(f'cannot read query file {path}: {exc}') from None
    query = Dataset()
    for element in found:
        if element.tag.group != 0x0002:
            query.add(element)
    return query


def build_query(base: Dataset | None, keys: Iterable[str], model: str) -> Dataset:
    """The identifier of one C-FIND: ``base`` (a query file's data set, changed in place)
    with ``keys`` applied.

    A Query/Retrieve model gets QueryRetrieveLevel STUDY when neither gives a level; a
    worklist query has none (PS3.4 K.6.1.2), unless a key sets one.

    >>> build_query(None, ['PatientID=P1'], 'study').QueryRetrieveLevel
    'STUDY'
    >>> 'QueryRetrieveLevel' in build_query(None, ['PatientID=P1'], 'worklist')
    False
    """
    ds = base if base is not None else Dataset()
    for key in keys:
        apply_key(ds, key)
    if model != 'worklist':
        ds.QueryRetrieveLevel = str(ds.get('QueryRetrieveLevel') or 'STUDY').upper()
    return ds


# --- the answers --------------------------------------------------------------------------------


class Responses:
    """What is done with each response identifier: printed, or with ``-X`` written to
    ``rsp0001.dcm``... in ``directory``; counted in any case."""

    def __init__(self, extract: bool, directory: str, sop_class: UID) -> None:
        self.extract = extract
        self.directory = Path(directory)
        self.sop_class = sop_class
        self.count = 0

    def take(self, identifier: Dataset) -> None:
        self.count += 1
        if not self.extract:
            print(f'# match {self.count}')
            print(identifier)
            return
        path = self.directory / f'rsp{self.count:04d}.dcm'
        write_response(identifier, path, self.sop_class)
        logger.info('response %d written to %s', self.count, path)


def write_response(identifier: Dataset, path: Path, sop_class: UID) -> None:
    """Write a response identifier as a Part-10 file, explicit VR little endian.

    Its file meta names the identifier's own SOP Class and Instance UIDs when it has them
    (a query at IMAGE level), else the C-FIND's SOP class and a new instance UID.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(str(identifier.get('SOPClassUID') or sop_class))
    meta.MediaStorageSOPInstanceUID = UID(str(identifier.get('SOPInstanceUID') or
                                              generate_uid()))
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(IMPLEMENTATION_UID)
    identifier.file_meta = meta
    try:
        save_part10(identifier, path)
    except OSError as exc:
        raise ToolError(f'cannot write {path}: {exc.strerror or exc}') from None


def _find(assoc: Any, sop_class: UID, query: Dataset, msg_id: int, cancel_after: int | None,
          responses: Responses) -> Status | None:
    """One C-FIND: each pending identifier to ``responses``; a C-CANCEL-RQ after
    ``cancel_after`` of them. Returns the final status (None if none came)."""
    pc_id = assoc.sop_classes_as_scu[sop_class][0]
    received = 0
    final = None
    for identifier, status in assoc.get_scu(sop_class)(query, msg_id):
        if not status.is_pending:
            final = status
            continue
        received += 1
        if identifier is not None:
            responses.take(identifier)
        if received == cancel_after:
            _send_cancel(assoc, pc_id, msg_id)
    return final


def _send_cancel(assoc: Any, pc_id: int, msg_id: int) -> None:
    """PS3.7 9.3.2.3: C-CANCEL-RQ for the C-FIND ``msg_id``; its answers go on arriving."""
    cancel = dm.CCancelRQMessage()
    cancel.message_id_being_responded_to = msg_id
    logger.info('sending C-CANCEL-RQ for message %d', msg_id)
    assoc.send(cancel, pc_id)


# --- the command line ---------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'{value}: give 1 or more responses')
    return value


def _parser() -> argparse.ArgumentParser:
    parser = dcmtk_parser('pynetdicom2-findscu', 'DICOM query (C-FIND) SCU')
    parser.add_argument('peer', help='hostname of DICOM peer')
    parser.add_argument('port', type=int, help='tcp/ip port number of peer')
    parser.add_argument('files', nargs='*', metavar='dcmfile-in',
                        help='DICOM query file(s): one C-FIND each, -k keys applied to it')
    add_query_options(parser, worklist=True)
    add_network(parser, 'FINDSCU')
    parser.add_argument('--cancel', type=_positive, default=None, metavar='[n]umber',
                        help='cancel after n responses (default: never)')
    output = parser.add_argument_group('output options')
    output.add_argument('-od', '--output-directory', default='.', metavar='[d]irectory',
                        help='write output files to existing directory d (default: .)')
    output.add_argument('-X', '--extract', action='store_true',
                        help='extract responses to DICOM file (rsp0001.dcm...)')
    return parser


def _queries(ns: argparse.Namespace) -> Iterator[Dataset]:
    """The identifier of each C-FIND: one per query file, or one from the keys alone."""
    bases: list[Dataset | None] = [read_query(name) for name in ns.files] or [None]
    for base in bases:
        yield build_query(base, ns.key, ns.model)


def findscu(argv: Sequence[str] | None = None) -> int:
    """``pynetdicom2-findscu [options] peer port [dcmfile-in...]``: C-FIND; print or extract
    the matches. 0 when every C-FIND ended with Success (or with Cancel after ``--cancel``).

    >>> import tempfile
    >>> from pynetdicom2.loopback import LoopbackSCP, make_study
    >>> with tempfile.TemporaryDirectory() as tmp, LoopbackSCP(tmp, 'PACS') as scp:
    ...     _ = scp.add(*make_study(1, 2, PatientName='Doe^Jane', StudyInstanceUID='1.2.3'))
    ...     _ = scp.add(*make_study(1, 1, PatientName='Roe^Rick'))
    ...     findscu(['-aec', 'PACS', '-S', '-k', 'PatientName=Doe*', '-k', 'StudyInstanceUID',
    ...              scp.address, str(scp.port)])
    # match 1
    ...Patient's Name...PN: 'Doe^Jane'
    ...Study Instance UID...UI: 1.2.3
    1 match(es)
    0
    """
    ns = _parser().parse_args(argv)

    def body() -> int:
        queries = list(_queries(ns))  # a bad key or query file fails before connecting
        sop_class = FIND_SOP_CLASSES[ns.model]
        if ns.extract:
            existing_directory(ns.output_directory)
        responses = Responses(ns.extract, ns.output_directory, sop_class)
        scu = sopclass.modality_work_list_scu if ns.model == 'worklist' else sopclass.qr_find_scu
        client = configure(ClientAE(ns.aetitle, max_pdu_length=ns.max_pdu), ns)
        client.add_scu(scu, [sop_class])
        failed = []
        with client.request_association(remote_of(ns)) as assoc:
            for msg_id, query in enumerate(queries, 1):
                final = _find(assoc, sop_class, query, msg_id, ns.cancel, responses)
                cancelled = ns.cancel is not None and final is not None and final.is_cancel
                if final is None or not (final.is_success or cancelled):
                    failed.append(final)
        print(f'{responses.count} match(es)')
        for final in failed:
            print(f'E: C-FIND ended with {final or "no final response"}', file=sys.stderr)
        return 1 if failed else 0

    return run_dcmtk(ns, f'{ns.call} at {format_address(ns.peer, ns.port)}', body)


def findscu_main() -> None:
    """Entry point of ``pynetdicom2-findscu``."""
    sys.exit(findscu())
