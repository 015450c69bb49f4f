"""Basic Print Management (PS3.4 Annex H): an SCP that keeps the film session in memory.

:class:`PrintManagement` serves the two Print Management Meta SOP classes and the Printer and
Print Job classes. Each association has at most one Basic Film Session (PS3.4 H.4.1.2.1.3),
which ends with it; the session holds the film boxes created in it, each the image boxes its
Image Display Format lays out, of the Image Box class of the Meta SOP class its N-CREATE came
on (PS3.4 H.4.2.2.1.3). A print (N-ACTION) copies the films it prints into a
:class:`PrintJob` (PS3.4 H.4.1.2.4.3), kept in :attr:`PrintManagement.jobs`; the Printer is a
data set (:attr:`PrintManagement.printer`) whose status changes are reported to the
associations printing (:meth:`PrintManagement.report_printer_status`).

The requests, their SOP classes and what the SCP answers are those of PS3.4 H.4; the SCU is
in :mod:`pynetdicom2.services.printmanagement`.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.uid import UID, generate_uid

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses
from pynetdicom2.dsutils import deep_copy
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.base import logger
from pynetdicom2.services.nservices import NReply
from pynetdicom2.services.nsupport import (
    CLASS_NOT_SUPPORTED,
    INVALID_ATTRIBUTE_VALUE,
    MISSING_ATTRIBUTE,
    NO_SUCH_ACTION,
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_INSTANCE,
    PartialNServiceSCP,
    consult,
    refusal,
    requested_context,
    select_attributes,
    send_event_report,
)
from pynetdicom2.services.printmanagement import (
    COLOR_META,
    FILM_BOX,
    FILM_BOX_EMPTY_PAGE,
    FILM_SESSION,
    GRAYSCALE_META,
    IMAGE_BOX_CLASSES,
    IMAGE_SEQUENCES,
    MEMORY_ALLOCATION_NOT_SUPPORTED,
    META_SOP_CLASSES,
    NO_FILM_BOX,
    PRINT,
    PRINT_JOB,
    PRINTER,
    PRINTER_INSTANCE,
    REFERENCED_PRINT_JOB_SEQUENCE,
    SESSION_EMPTY_PAGE,
    PrinterEvent,
    image_box_count,
    image_problem,
)

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

#: PS3.4 Table H.4-2: what an N-SET of a film session may change.
FILM_SESSION_SETTABLE = frozenset({
    'SpecificCharacterSet', 'NumberOfCopies', 'PrintPriority', 'MediumType', 'FilmDestination',
    'FilmSessionLabel', 'MemoryAllocation', 'OwnerID',
})
#: PS3.4 Table H.4-7: what an N-SET of a film box may change.
FILM_BOX_SETTABLE = frozenset({
    'MagnificationType', 'MaxDensity', 'ConfigurationInformation',
    'ReferencedPresentationLUTSequence', 'SmoothingType', 'BorderDensity',
    'EmptyImageDensity', 'MinDensity', 'Trim', 'Illumination', 'ReflectedAmbientLight',
    'ICCProfile', 'SpecificCharacterSet',
})
#: Enumerated values the SCP checks (PS3.3 C.13.1, C.13.3, C.13.5).
ENUMERATED = {
    'PrintPriority': ('HIGH', 'MED', 'LOW'),
    'FilmOrientation': ('PORTRAIT', 'LANDSCAPE'),
    'Polarity': ('NORMAL', 'REVERSE'),
    'RequestedDecimateCropBehavior': ('DECIMATE', 'CROP', 'FAIL'),
}
#: What the SCP uses for the attributes it must support (usage -/M, U/M) when the SCU gives
#: none (PS3.4 H.2.4).
SESSION_DEFAULTS = {'NumberOfCopies': 1, 'PrintPriority': 'MED', 'MediumType': 'PAPER',
                    'FilmDestination': 'MAGAZINE'}
FILM_BOX_DEFAULTS = {'FilmOrientation': 'PORTRAIT', 'FilmSizeID': '8INX10IN',
                     'MagnificationType': 'REPLICATE'}
#: The Printer an SCP is made with unless given one (PS3.4 Table H.4-17).
DEFAULT_PRINTER = {'PrinterStatus': 'NORMAL', 'PrinterStatusInfo': 'NORMAL',
                   'PrinterName': 'PYNETDICOM2'}


@dataclasses.dataclass
class FilmBox:
    """A Basic Film Box: its attributes (with the Referenced Image Box Sequence) and its
    image boxes, by UID, in image box position order."""

    uid: UID
    attributes: Dataset
    image_boxes: dict[UID, Dataset]
    image_box_class: UID
    printed: bool = False


@dataclasses.dataclass
class FilmSession:
    """The Basic Film Session of one association, and its film boxes in creation order."""

    uid: UID
    attributes: Dataset
    context: PContextDef
    film_boxes: list[FilmBox] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class PrintJob:
    """A print (PS3.4 H.4.5): its attributes (Execution Status, Execution Status Info, Print
    Priority, Creation Date and Time, Printer Name, Originator), and a copy of what it
    printed: the film session's attributes and each film box's with its image boxes."""

    uid: UID
    attributes: Dataset
    film_session: Dataset
    films: list[tuple[Dataset, list[Dataset]]]


def _check_enumerated(ds: Dataset) -> None:
    for keyword, allowed in ENUMERATED.items():
        if keyword in ds and ds[keyword].value not in allowed:
            raise refusal(INVALID_ATTRIBUTE_VALUE, f'{keyword} {ds[keyword].value!r}')
    copies = ds.get('NumberOfCopies')
    if copies is not None and (copies == '' or int(copies) < 1):
        raise refusal(INVALID_ATTRIBUTE_VALUE, f'Number of Copies {copies!r}')


def _success(status: statuses.Status | None) -> statuses.Status:
    return statuses.SUCCESS if status is None else status


class PrintManagement(PartialNServiceSCP):
    """The Print Management SCP (PS3.4 H.4): ``ae.add_scp(sc.PrintManagement())``, for the
    Basic Grayscale and Color Print Management Meta SOP classes and the Printer and Print Job
    classes. A request is dispatched by the SOP class it names, which must be one the
    context's Meta SOP class groups (else 0122H).

    * Basic Film Session: N-CREATE (one per association, 0110H for a second; Memory
      Allocation answers B600H), N-SET (the attributes of PS3.4 Table H.4-2, 0105H for
      another), N-DELETE (the whole hierarchy), N-ACTION print (C600H without a film box,
      B602H when no image box has an image).
    * Basic Film Box: N-CREATE (Image Display Format STANDARD, ROW or COL of at most
      :attr:`max_image_boxes` boxes, 0106H for another; its Referenced Film Session must be
      the association's), then N-SET (only the attributes of PS3.4 Table H.4-7, 0105H for
      another), N-ACTION print (B603H when empty) and N-DELETE of the last one created
      (0110H for an earlier one).
    * Basic Grayscale and Color Image Box: N-SET of a box of the last film box, checked
      (:func:`~pynetdicom2.services.printmanagement.image_problem`); an empty image
      sequence erases the image (PS3.4 H.4.3.1.2.1.3).
    * Printer: N-GET of the well-known instance (:attr:`printer`); Print Job: N-GET of a
      job (:attr:`jobs`). A print creates a job, referenced in the Action Reply when a Print
      Job context was negotiated; it is DONE when the print is answered.

    Enumerated values are checked (0106H), absent values of the attributes the SCP must
    support get their defaults, unknown instances 0112H, another action type 0123H, an
    operation a class does not have 0211H. Each request, once checked, is offered to the
    AE's hook of the same name (``on_n_create``, ``on_n_set``, ``on_n_action``,
    ``on_n_delete``, ``on_n_get``), with a context naming the requested class (a Film Box
    N-CREATE: ``context.sop_class == uids.BASIC_FILM_BOX_SOP_CLASS``): a failure it
    answers (or raises) is the answer and nothing changes; an N-GET data set it answers is
    sent instead; a warning it answers is the status sent; not overridden (0211H), the SCP
    does as above. A print's hook is asked before its job is recorded, so a printer out of
    film refuses there; the films printed are then the newest job's (:attr:`jobs`).

    A film session printed on loopback, the SCU's N-SETs putting an image in each of two
    image boxes:

    >>> from pynetdicom2.applicationentity import AE, ClientAE
    >>> from pynetdicom2.services.printmanagement import grayscale_image_box, print_management_scu
    >>> printer = PrintManagement()
    >>> client = ClientAE('MODALITY').add_scu(print_management_scu)
    >>> with AE('PRINTER', 0, host='127.0.0.1').add_scp(printer) as srv:
    ...     remote = {'aet': 'PRINTER', 'address': '127.0.0.1', 'port': srv.local_ae.port}
    ...     with client.request_association(remote) as assoc:
    ...         job = assoc.get_scu(GRAYSCALE_META)
    ...         session = job('create_film_session', 1).sop_instance_uid
    ...         film = job('create_film_box', session, 2, 'STANDARD\\\\2,1')
    ...         boxes = film.data_set.ReferencedImageBoxSequence
    ...         for position, box in enumerate(boxes, 1):
    ...             pixels = grayscale_image_box(position, 4, 4, bytes(range(16)))
    ...             _ = job('set_image_box', box.ReferencedSOPInstanceUID, pixels, 2 + position)
    ...         print(job('print_film_session', session, 5).status)
    (0x0) Success: -
    >>> [job.attributes.ExecutionStatus for job in printer.jobs.values()]
    ['DONE']
    >>> films = next(iter(printer.jobs.values())).films
    >>> [box.ImageBoxPosition for box in films[0][1]]
    [1, 2]
    """

    sop_classes: ClassVar[list[str]] = [GRAYSCALE_META, COLOR_META, PRINTER, PRINT_JOB]
    #: The most image boxes a film box may have; an Image Display Format with more is
    #: refused 0106H (a conformance statement lists the formats an SCP supports, PS3.4 H.3.4).
    max_image_boxes: ClassVar[int] = 256

    def __init__(self, printer: Dataset | None = None, max_jobs: int = 100) -> None:
        super().__init__()
        #: How many print jobs :attr:`jobs` keeps; the oldest goes first (PS3.4 H.4.5.1: a
        #: print job is deleted once printed).
        self.max_jobs = max_jobs
        self._lock = threading.Lock()
        #: The Printer instance (PS3.4 Table H.4-17); change it with
        #: :meth:`report_printer_status`.
        self.printer = deep_copy(printer) if printer is not None else Dataset()
        for keyword, value in DEFAULT_PRINTER.items():
            if keyword not in self.printer:
                setattr(self.printer, keyword, value)
        #: The print jobs, by SOP instance UID, oldest first (at most :attr:`max_jobs`).
        self.jobs: dict[UID, PrintJob] = {}
        self._sessions: weakref.WeakKeyDictionary[Any, FilmSession] = (
            weakref.WeakKeyDictionary())

    # -- dispatch: the hooks and methods see the SOP class the request names ---------------------

    def n_create(self, asce: Association, ctx: PContextDef, msg: dm.NCreateRQMessage) -> None:
        super().n_create(asce, requested_context(ctx, msg.sop_class_uid), msg)

    def n_set(self, asce: Association, ctx: PContextDef, msg: dm.NSetRQMessage) -> None:
        super().n_set(asce, requested_context(ctx, msg.sop_class_uid), msg)

    def n_get(self, asce: Association, ctx: PContextDef, msg: dm.NGetRQMessage) -> None:
        super().n_get(asce, requested_context(ctx, msg.sop_class_uid), msg)

    def n_action(self, asce: Association, ctx: PContextDef, msg: dm.NActionRQMessage) -> None:
        super().n_action(asce, requested_context(ctx, msg.sop_class_uid), msg)

    def n_delete(self, asce: Association, ctx: PContextDef, msg: dm.NDeleteRQMessage) -> None:
        super().n_delete(asce, requested_context(ctx, msg.sop_class_uid), msg)

    @staticmethod
    def _meta(asce: Association, ctx: PContextDef) -> UID:
        """The abstract syntax of the context the request came on, after checking that it
        groups the class the request names."""
        negotiated = asce.accepted_contexts.get(ctx.id)
        meta = UID(negotiated.sop_class) if negotiated is not None else UID(ctx.sop_class)
        if ctx.sop_class != meta and ctx.sop_class not in META_SOP_CLASSES.get(meta, ()):
            raise refusal(CLASS_NOT_SUPPORTED, f'{ctx.sop_class} on a {meta} context')
        return meta

    def _session(self, asce: Association, uid: UID | None = None) -> FilmSession:
        with self._lock:
            session = self._sessions.get(asce)
        if session is None or (uid is not None and session.uid != uid):
            raise refusal(NO_SUCH_INSTANCE, f'no film session {uid or ""} on this association')
        return session

    def _last_film_box(self, asce: Association, uid: UID) -> tuple[FilmSession, FilmBox]:
        session = self._session(asce)
        boxes = [box for box in session.film_boxes if box.uid == uid]
        if not boxes:
            raise refusal(NO_SUCH_INSTANCE, f'no film box {uid} in the film session')
        if boxes[0] is not session.film_boxes[-1]:
            raise refusal(statuses.PROCESSING_FAILURE, f'film box {uid} is not the last one '
                          'created (PS3.4 H.4.2.2.2)')
        return session, boxes[0]

    # -- the operations ----------------------------------------------------------------------------

    def on_n_create(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    attribute_list: Dataset | None) -> NReply:
        meta = self._meta(asce, ctx)
        attributes = attribute_list if attribute_list is not None else Dataset()
        if ctx.sop_class == FILM_SESSION:
            return self._create_session(asce, ctx, sop_instance_uid, attributes)
        if ctx.sop_class == FILM_BOX and meta in IMAGE_BOX_CLASSES:
            return self._create_film_box(asce, ctx, meta, sop_instance_uid, attributes)
        return super().on_n_create(asce, ctx, sop_instance_uid, attribute_list)

    def _create_session(self, asce: Association, ctx: PContextDef, uid: UID,
                        attributes: Dataset) -> NReply:
        with self._lock:
            if self._sessions.get(asce) is not None:
                raise refusal(statuses.PROCESSING_FAILURE, 'a film session exists already on '
                              'this association (PS3.4 H.4.1.2.1.3)')
        _check_enumerated(attributes)
        status, _ = consult(asce.ae.on_n_create(ctx, uid, attributes), dm.NCreateRSPMessage)
        if status is not None and status.is_failure:
            return status, None
        stored = deep_copy(attributes)
        for keyword, value in SESSION_DEFAULTS.items():
            if keyword not in stored or stored[keyword].value in (None, ''):
                setattr(stored, keyword, value)
        stored.ReferencedFilmBoxSequence = []
        with self._lock:
            self._sessions[asce] = FilmSession(uid, stored, ctx)
        if 'MemoryAllocation' in attributes and (status is None or status.is_success):
            status = MEMORY_ALLOCATION_NOT_SUPPORTED
        return _success(status), None

    def _create_film_box(self, asce: Association, ctx: PContextDef, meta: UID, uid: UID,
                         attributes: Dataset) -> NReply:
        for keyword in ('ImageDisplayFormat', 'ReferencedFilmSessionSequence'):
            if keyword not in attributes or not attributes[keyword].value:
                raise refusal(MISSING_ATTRIBUTE, f'a film box without {keyword}')
        count = image_box_count(attributes.ImageDisplayFormat)
        if count is None or count > self.max_image_boxes:
            raise refusal(INVALID_ATTRIBUTE_VALUE, 'Image Display Format '
                          f'{attributes.ImageDisplayFormat!r} (STANDARD, ROW or COL here)')
        reference = attributes.ReferencedFilmSessionSequence[0]
        with self._lock:
            session = self._sessions.get(asce)
        if (session is None or reference.get('ReferencedSOPInstanceUID') != session.uid
                or reference.get('ReferencedSOPClassUID') != FILM_SESSION):
            raise refusal(INVALID_ATTRIBUTE_VALUE, 'the Referenced Film Session is not this '
                          "association's film session (PS3.4 H.4.1.2.1.3)")
        _check_enumerated(attributes)
        status, _ = consult(asce.ae.on_n_create(ctx, uid, attributes), dm.NCreateRSPMessage)
        if status is not None and status.is_failure:
            return status, None
        stored = deep_copy(attributes)
        for keyword, value in FILM_BOX_DEFAULTS.items():
            if keyword not in stored or stored[keyword].value in (None, ''):
                setattr(stored, keyword, value)
        box_class = IMAGE_BOX_CLASSES[meta]
        boxes: dict[UID, Dataset] = {}
        stored.ReferencedImageBoxSequence = []
        for position in range(1, count + 1):
            box = Dataset()
            box.ImageBoxPosition = position
            box_uid = generate_uid()
            boxes[box_uid] = box
            reference = Dataset()
            reference.ReferencedSOPClassUID = box_class
            reference.ReferencedSOPInstanceUID = box_uid
            stored.ReferencedImageBoxSequence.append(reference)
        film = Dataset()
        film.ReferencedSOPClassUID = FILM_BOX
        film.ReferencedSOPInstanceUID = uid
        with self._lock:
            if self._sessions.get(asce) is not session:
                raise refusal(INVALID_ATTRIBUTE_VALUE, 'the film session was deleted meanwhile')
            session.film_boxes.append(FilmBox(uid, stored, boxes, box_class))
            session.attributes.ReferencedFilmBoxSequence.append(film)
        logger.debug('film box %s: %d image boxes (%s)', uid, count, stored.ImageDisplayFormat)
        return _success(status), deep_copy(stored)

    def on_n_set(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 modification_list: Dataset) -> NReply:
        self._meta(asce, ctx)
        if ctx.sop_class in (FILM_SESSION, FILM_BOX):
            if ctx.sop_class == FILM_SESSION:
                target = self._session(asce, sop_instance_uid).attributes
                settable, table = FILM_SESSION_SETTABLE, 'H.4-2'
            else:
                target = self._last_film_box(asce, sop_instance_uid)[1].attributes
                settable, table = FILM_BOX_SETTABLE, 'H.4-7'
            unknown = [e.keyword or str(e.tag) for e in modification_list
                       if e.keyword not in settable]
            if unknown:
                raise refusal(NO_SUCH_ATTRIBUTE, f'N-SET of {unknown} (PS3.4 Table {table})')
            _check_enumerated(modification_list)
        elif ctx.sop_class in IMAGE_SEQUENCES:
            target = self._image_box(asce, ctx, sop_instance_uid, modification_list)
        else:
            return super().on_n_set(asce, ctx, sop_instance_uid, modification_list)
        status, _ = consult(asce.ae.on_n_set(ctx, sop_instance_uid, modification_list),
                            dm.NSetRSPMessage)
        if status is not None and status.is_failure:
            return status, None
        with self._lock:
            for element in modification_list:
                target[element.tag] = deep_copy(element)
        return _success(status), None

    def _image_box(self, asce: Association, ctx: PContextDef, uid: UID,
                   modifications: Dataset) -> Dataset:
        """The image box ``uid`` of the last film box, once the N-SET is checked."""
        session = self._session(asce)
        film = session.film_boxes[-1] if session.film_boxes else None
        owner = [box for box in session.film_boxes if uid in box.image_boxes]
        if not owner:
            raise refusal(NO_SUCH_INSTANCE, f'no image box {uid} in the film session')
        if owner[0] is not film or film is None:
            raise refusal(statuses.PROCESSING_FAILURE, f'image box {uid} is not in the last '
                          'film box (PS3.4 H.4.3.1.2.1.3)')
        if film.image_box_class != ctx.sop_class:
            raise refusal(CLASS_NOT_SUPPORTED, f'image box {uid} is a {film.image_box_class}')
        box = film.image_boxes[uid]
        sequence = IMAGE_SEQUENCES[UID(ctx.sop_class)]
        for keyword in ('ImageBoxPosition', sequence):
            if keyword not in modifications:
                raise refusal(MISSING_ATTRIBUTE, f'an image box N-SET without {keyword}')
        if modifications.ImageBoxPosition != box.ImageBoxPosition:
            raise refusal(INVALID_ATTRIBUTE_VALUE, f'Image Box Position '
                          f'{modifications.ImageBoxPosition} of box {box.ImageBoxPosition}')
        images = modifications[sequence].value or []
        if len(images) > 1:
            raise refusal(INVALID_ATTRIBUTE_VALUE, f'{len(images)} images in one image box')
        for image in images:
            problem = image_problem(ctx.sop_class, image)
            if problem is not None:
                raise refusal(*problem)
        _check_enumerated(modifications)
        return box

    def on_n_get(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                 attribute_identifiers: list[BaseTag]) -> NReply:
        self._meta(asce, ctx)
        source: Dataset | None = None
        if ctx.sop_class == PRINTER:
            if sop_instance_uid != PRINTER_INSTANCE:
                raise refusal(NO_SUCH_INSTANCE, f'{sop_instance_uid} is not the Printer '
                              'instance (PS3.4 H.4.6.5)')
            with self._lock:
                source = deep_copy(self.printer)
        elif ctx.sop_class == PRINT_JOB:
            with self._lock:
                job = self.jobs.get(sop_instance_uid)
                source = deep_copy(job.attributes) if job is not None else None
            if source is None:
                raise refusal(NO_SUCH_INSTANCE, f'no print job {sop_instance_uid}')
        else:
            return super().on_n_get(asce, ctx, sop_instance_uid, attribute_identifiers)
        status, reply = consult(asce.ae.on_n_get(ctx, sop_instance_uid, attribute_identifiers),
                                dm.NGetRSPMessage)
        if status is not None and (status.is_failure or reply is not None):
            return status, reply
        assert source is not None
        return _success(status), select_attributes(source, attribute_identifiers)

    def on_n_action(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID,
                    action_type_id: int, action_information: Dataset | None) -> NReply:
        self._meta(asce, ctx)
        if ctx.sop_class not in (FILM_SESSION, FILM_BOX):
            return super().on_n_action(asce, ctx, sop_instance_uid, action_type_id,
                                       action_information)
        if action_type_id != PRINT:
            raise refusal(NO_SUCH_ACTION, f'action type {action_type_id} (PS3.4 H.4.1.2.4)')
        if ctx.sop_class == FILM_SESSION:
            session = self._session(asce, sop_instance_uid)
            films = list(session.film_boxes)
            if not films:
                raise refusal(NO_FILM_BOX, 'the film session has no film box')
            empty = SESSION_EMPTY_PAGE
        else:
            session, film = self._last_film_box(asce, sop_instance_uid)
            films, empty = [film], FILM_BOX_EMPTY_PAGE
        status, _ = consult(asce.ae.on_n_action(ctx, sop_instance_uid, action_type_id,
                                                action_information), dm.NActionRSPMessage)
        if status is not None and status.is_failure:
            return status, None
        job = self._print(asce, session, films)
        if status is None and not any(self._has_image(box) for film in films
                                      for box in film.image_boxes.values()):
            status = empty
        reply = None
        if any(context.sop_class == PRINT_JOB for context in asce.accepted_contexts.values()):
            reference = Dataset()
            reference.ReferencedSOPClassUID = PRINT_JOB
            reference.ReferencedSOPInstanceUID = job.uid
            reply = Dataset()
            reply.add_new(REFERENCED_PRINT_JOB_SEQUENCE, 'SQ', [reference])
        return _success(status), reply

    @staticmethod
    def _has_image(box: Dataset) -> bool:
        return any(box.get(keyword) for keyword in IMAGE_SEQUENCES.values())

    def _print(self, asce: Association, session: FilmSession, films: list[FilmBox]) -> PrintJob:
        """Copy the films into a new print job (PS3.4 H.4.1.2.4.3, H.4.2.2.4.3)."""
        now = datetime.datetime.now()
        with self._lock:
            attributes = Dataset()
            attributes.ExecutionStatus = 'DONE'
            attributes.ExecutionStatusInfo = 'NORMAL'
            attributes.PrintPriority = session.attributes.get('PrintPriority', 'MED')
            attributes.CreationDate = now.strftime('%Y%m%d')
            attributes.CreationTime = now.strftime('%H%M%S')
            attributes.PrinterName = self.printer.get('PrinterName', '')
            attributes.Originator = str(getattr(asce, 'remote_ae', '') or '').strip()
            copies = [(deep_copy(film.attributes),
                       [deep_copy(box) for box in film.image_boxes.values()])
                      for film in films]
            job = PrintJob(UID(generate_uid()), attributes,
                           deep_copy(session.attributes), copies)
            self.jobs[job.uid] = job
            while len(self.jobs) > max(self.max_jobs, 1):
                del self.jobs[next(iter(self.jobs))]
            for film in films:
                film.printed = True
        logger.info('print job %s: %d film(s) from %s', job.uid, len(films),
                    attributes.Originator)
        return job

    def on_n_delete(self, asce: Association, ctx: PContextDef, sop_instance_uid: UID) -> NReply:
        self._meta(asce, ctx)
        if ctx.sop_class == FILM_SESSION:
            session = self._session(asce, sop_instance_uid)
            film = None
        elif ctx.sop_class == FILM_BOX:
            session, film = self._last_film_box(asce, sop_instance_uid)
        else:
            return super().on_n_delete(asce, ctx, sop_instance_uid)
        status, _ = consult(asce.ae.on_n_delete(ctx, sop_instance_uid), dm.NDeleteRSPMessage)
        if status is not None and status.is_failure:
            return status, None
        with self._lock:
            if film is None:
                self._sessions.pop(asce, None)
            elif film in session.film_boxes:
                session.film_boxes.remove(film)
                references = session.attributes.ReferencedFilmBoxSequence
                session.attributes.ReferencedFilmBoxSequence = [
                    item for item in references if item.ReferencedSOPInstanceUID != film.uid]
        return _success(status), None

    # -- the printer's status --------------------------------------------------------------------

    def report_printer_status(self, printer_status: str, info: str | None = None) -> int:
        """Change the Printer Status (NORMAL, WARNING, FAILURE) and its Printer Status Info,
        and report it (Printer N-EVENT-REPORT, PS3.4 H.4.6.2.1) on every open association
        that has a film session, whose SCU must be reading it (it waits dcm_timeout for each
        answer). Returns how many reports were answered; a failed one is logged."""
        if printer_status not in PrinterEvent.__members__:
            raise ValueError(f'Printer Status {printer_status!r}: NORMAL, WARNING or FAILURE')
        event = PrinterEvent[printer_status]
        with self._lock:
            self.printer.PrinterStatus = printer_status
            self.printer.PrinterStatusInfo = info or 'NORMAL'
            name = self.printer.get('PrinterName')
            targets = [(assoc, session.context) for assoc, session in self._sessions.items()
                       if getattr(assoc, 'association_established', False)]
        information = None
        if event != PrinterEvent.NORMAL:
            information = Dataset()
            information.PrinterStatusInfo = info or printer_status
            if name:
                information.PrinterName = name
        answered = 0
        for assoc, context in targets:
            try:
                status = send_event_report(assoc, context, PRINTER, PRINTER_INSTANCE,
                                           int(event), information)
            except (NetDICOMError, OSError) as exc:
                logger.warning('printer status not reported to %s: %s',
                               getattr(assoc, 'remote_ae', '?'), exc)
                continue
            answered += status.is_success
        return answered
