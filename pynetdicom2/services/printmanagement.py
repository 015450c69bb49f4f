"""Basic Print Management (PS3.4 Annex H): the SCU, and what SCU and SCP share.

A Print Management SCU and SCP negotiate a Meta SOP class (PS3.4 H.3.2: Basic Grayscale or
Basic Color Print Management), one abstract syntax for the SOP classes it groups, while each
request names its own class (PS3.4 H.4): the SCU creates a Basic Film Session (N-CREATE), a
Basic Film Box in it (N-CREATE: the SCP creates its image boxes, as many as the Image Display
Format has, and returns them in the Referenced Image Box Sequence), puts an image in each
Basic Grayscale or Color Image Box (N-SET), prints the film box or the whole session
(N-ACTION type 1) and may read the Printer (N-GET on its well-known instance), whose status
changes the SCP reports (N-EVENT-REPORT); the optional Print Job class (PS3.4 H.4.5) follows
a print.

* Requester: :data:`print_management_scu` (:class:`PrintManagementSCU`), registered for the
  two Meta SOP classes, the Printer and the Print Job classes, runs an operation by name on
  the context it is fetched for (``assoc.get_scu(GRAYSCALE_META)('create_film_session',
  ...)``): the functions of this module (:func:`film_session_create` ...). Reports that
  reach it are answered through the AE's ``on_n_event_report`` hook
  (:func:`~pynetdicom2.services.nsupport.answer_event_report`).
* :func:`grayscale_image_box` and :func:`color_image_box` build an image box's N-SET;
  :func:`image_box_count` reads an Image Display Format; :func:`image_problem` checks an
  image the way the SCP does.
* Acceptor: :class:`~pynetdicom2.services.printscp.PrintManagement`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses, uids
from pynetdicom2.fsm import PContextDef
from pynetdicom2.services.nservices import NResponse, NServiceSCU
from pynetdicom2.services.nsupport import (
    INVALID_ATTRIBUTE_VALUE,
    MISSING_ATTRIBUTE,
    EventReport,
    exchange,
    n_request,
    receive_event_report,
)

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

GRAYSCALE_META = uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META_SOP_CLASS
COLOR_META = uids.BASIC_COLOR_PRINT_MANAGEMENT_META_SOP_CLASS
FILM_SESSION = uids.BASIC_FILM_SESSION_SOP_CLASS
FILM_BOX = uids.BASIC_FILM_BOX_SOP_CLASS
GRAYSCALE_IMAGE_BOX = uids.BASIC_GRAYSCALE_IMAGE_BOX_SOP_CLASS
COLOR_IMAGE_BOX = uids.BASIC_COLOR_IMAGE_BOX_SOP_CLASS
PRINTER = uids.PRINTER_SOP_CLASS
PRINTER_INSTANCE = uids.PRINTER_SOP_INSTANCE
PRINT_JOB = uids.PRINT_JOB_SOP_CLASS

#: The abstract syntaxes of print management: the two Meta SOP classes, and the Printer and
#: Print Job classes, which may also be negotiated alone (PS3.4 H.3.1).
PRINT_SOP_CLASSES = (GRAYSCALE_META, COLOR_META, PRINTER, PRINT_JOB)
#: The SOP classes each Meta SOP class groups (PS3.4 Tables H.3-1 and H.3-2).
META_SOP_CLASSES = {
    GRAYSCALE_META: frozenset({FILM_SESSION, FILM_BOX, GRAYSCALE_IMAGE_BOX, PRINTER}),
    COLOR_META: frozenset({FILM_SESSION, FILM_BOX, COLOR_IMAGE_BOX, PRINTER}),
}
#: The Image Box class of each Meta SOP class (PS3.4 H.4.2.2.1.3).
IMAGE_BOX_CLASSES = {GRAYSCALE_META: GRAYSCALE_IMAGE_BOX, COLOR_META: COLOR_IMAGE_BOX}
#: The image sequence of each Image Box class (PS3.4 Tables H.4-10 and H.4-11).
IMAGE_SEQUENCES = {GRAYSCALE_IMAGE_BOX: 'BasicGrayscaleImageSequence',
                   COLOR_IMAGE_BOX: 'BasicColorImageSequence'}
#: The Action Type ID of Print, for the Film Session and the Film Box (PS3.4 Tables H.4-3,
#: H.4-8).
PRINT = 1
#: (2100,0500) Referenced Print Job Sequence, the Action Reply of a print (PS3.4 H.4.1.2.4.1).
REFERENCED_PRINT_JOB_SEQUENCE = Tag(0x2100, 0x0500)


class PrinterEvent(enum.IntEnum):
    """The Event Type IDs of the Printer (PS3.4 Table H.4-16), named as Printer Status."""

    NORMAL = 1
    WARNING = 2
    FAILURE = 3


class PrintJobEvent(enum.IntEnum):
    """The Event Type IDs of the Print Job (PS3.4 Table H.4-14)."""

    PENDING = 1
    PRINTING = 2
    DONE = 3
    FAILURE = 4


#: The statuses of PS3.4 H.4 (film session, film box, image box), with their meanings.
PRINT_STATUS_MEANINGS = {
    0xB600: 'Memory allocation not supported',
    0xB601: 'Film session printing (collation) is not supported',
    0xB602: 'Film Session SOP Instance hierarchy does not contain Image Box SOP Instances '
            '(empty page)',
    0xB603: 'Film Box SOP Instance hierarchy does not contain Image Box SOP Instances '
            '(empty page)',
    0xB604: 'Image size is larger than image box size, the image has been demagnified',
    0xB605: 'Requested Min Density or Max Density outside of printer\'s operating range',
    0xB609: 'Image size is larger than the Image Box size, the image has been cropped to fit',
    0xB60A: 'Image size or Combined Print Image size is larger than the Image Box size, the '
            'image has been decimated to fit',
    0xC600: 'Film Session SOP Instance hierarchy does not contain Film Box SOP Instances',
    0xC601: 'Unable to create Print Job SOP Instance; print queue is full',
    0xC602: 'Unable to create Print Job SOP Instance; print queue is full',
    0xC603: 'Image size is larger than image box size',
    0xC605: 'Insufficient memory in printer to store the image',
    0xC613: 'Combined Print Image size is larger than the Image Box size',
    0xC616: 'There is an existing Film Box that has not been printed and N-ACTION at the Film '
            'Session level is not supported',
}
for _code, _meaning in PRINT_STATUS_MEANINGS.items():
    for _command in (dm.NCreateRSPMessage, dm.NSetRSPMessage, dm.NActionRSPMessage):
        statuses.add_status(_code, 'Warning' if _code < 0xC000 else 'Failure', _meaning,
                            command=_command)

#: PS3.4 H.4.1.2.1.2: memory allocation is not supported (N-CREATE of a film session).
MEMORY_ALLOCATION_NOT_SUPPORTED = statuses.Status(0xB600, dm.NCreateRSPMessage)
#: PS3.4 H.4.1.2.4.2: printing a session none of whose image boxes has an image.
SESSION_EMPTY_PAGE = statuses.Status(0xB602, dm.NActionRSPMessage)
#: PS3.4 H.4.2.2.4.2: printing a film box none of whose image boxes has an image.
FILM_BOX_EMPTY_PAGE = statuses.Status(0xB603, dm.NActionRSPMessage)
#: PS3.4 H.4.1.2.4.2: printing a session that has no film box.
NO_FILM_BOX = statuses.Status(0xC600, dm.NActionRSPMessage)


# --- what SCU and SCP share ----------------------------------------------------------------------

_FORMAT = re.compile(r'\s*(STANDARD|ROW|COL)\\(\d+(?:\s*,\s*\d+)*)\s*')


def image_box_count(image_display_format: str) -> int | None:
    """How many image boxes an Image Display Format (2010,0010) lays out (PS3.3 C.13.3):
    ``STANDARD\\C,R`` C columns of R rows, ``ROW\\R1,R2...`` rows of R1, R2 ... boxes,
    ``COL\\C1,C2...`` columns of C1, C2 ... boxes; None for a format this module does not
    lay out (SLIDE, SUPERSLIDE, CUSTOM\\i, or malformed).

    >>> image_box_count('STANDARD\\\\2,3'), image_box_count('ROW\\\\1,2'), image_box_count('SLIDE')
    (6, 3, None)
    """
    found = _FORMAT.fullmatch(str(image_display_format))
    if found is None:
        return None
    numbers = [int(part) for part in found.group(2).split(',')]
    if any(number < 1 for number in numbers):
        return None
    if found.group(1) == 'STANDARD':
        if len(numbers) != 2:
            return None
        return numbers[0] * numbers[1]
    return sum(numbers)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def image_problem(image_box_class: str, image: Dataset) -> tuple[statuses.Status, str] | None:
    """What an image (the item of a Basic Grayscale or Color Image Sequence) lacks or gets
    wrong of PS3.4 Tables H.4-10, H.4-11 (PS3.3 C.13.5: unsigned pixels; grayscale
    MONOCHROME1 or 2, 8 or 16 bits allocated; color RGB, 8 bits), as the status to refuse it
    with (0120H, 0106H), or None."""
    color = image_box_class == COLOR_IMAGE_BOX
    for keyword in ('SamplesPerPixel', 'PhotometricInterpretation', 'Rows', 'Columns',
                    'BitsAllocated', 'BitsStored', 'HighBit', 'PixelRepresentation',
                    'PixelData', *(('PlanarConfiguration',) if color else ())):
        if keyword not in image or image[keyword].value in (None, ''):
            return MISSING_ATTRIBUTE, f'an image without its {keyword}'
    samples, rows, columns = (_int(image.get(k)) for k in ('SamplesPerPixel', 'Rows', 'Columns'))
    allocated, stored, high = (_int(image.get(k)) for k in ('BitsAllocated', 'BitsStored',
                                                             'HighBit'))
    expected: tuple[int, str, tuple[int, ...]] = (
        (3, 'RGB', (8,)) if color else (1, 'MONOCHROME1 MONOCHROME2', (8, 16)))
    photometric = str(image.PhotometricInterpretation)
    if (samples != expected[0] or photometric not in expected[1].split()
            or allocated not in expected[2] or _int(image.PixelRepresentation) != 0
            or stored is None or not 0 < stored <= allocated or high != stored - 1
            or (color and _int(image.PlanarConfiguration) not in (0, 1))):
        return INVALID_ATTRIBUTE_VALUE, (
            f'an image of {samples} samples, {photometric}, {allocated}/{stored}/{high} bits')
    if not rows or not columns or rows < 1 or columns < 1:
        return INVALID_ATTRIBUTE_VALUE, f'an image of {rows} x {columns} pixels'
    if len(image.PixelData) < rows * columns * samples * (allocated // 8):
        return INVALID_ATTRIBUTE_VALUE, 'Pixel Data shorter than the image'
    return None


def _image(rows: int, columns: int, pixel_data: bytes, samples: int, photometric: str,
           bits: int) -> Dataset:
    image = Dataset()
    image.SamplesPerPixel = samples
    image.PhotometricInterpretation = photometric
    if samples == 3:
        image.PlanarConfiguration = 1
    image.Rows = rows
    image.Columns = columns
    image.BitsAllocated = 8 if bits <= 8 else 16
    image.BitsStored = bits
    image.HighBit = bits - 1
    image.PixelRepresentation = 0
    image.PixelData = pixel_data
    image['PixelData'].VR = 'OB' if bits <= 8 else 'OW'
    return image


def grayscale_image_box(position: int, rows: int, columns: int, pixel_data: bytes,
                        bits: int = 8, photometric: str = 'MONOCHROME2',
                        **attributes: Any) -> Dataset:
    """The N-SET of a Basic Grayscale Image Box (PS3.4 Table H.4-10): Image Box Position
    ``position`` and one image of ``rows`` x ``columns`` pixels (``bits`` stored, 8 or 12 in 8
    or 16 bits), with any other attribute of the table by keyword (``Polarity='REVERSE'``).

    >>> box = grayscale_image_box(1, 2, 2, bytes([0, 64, 128, 255]))
    >>> box.ImageBoxPosition, box.BasicGrayscaleImageSequence[0].Rows
    (1, 2)
    """
    ds = Dataset()
    ds.ImageBoxPosition = position
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.BasicGrayscaleImageSequence = [_image(rows, columns, pixel_data, 1, photometric, bits)]
    return ds


def color_image_box(position: int, rows: int, columns: int, pixel_data: bytes,
                    **attributes: Any) -> Dataset:
    """The N-SET of a Basic Color Image Box (PS3.4 Table H.4-11): Image Box Position
    ``position`` and one RGB image of ``rows`` x ``columns`` pixels, 8 bits, its planes one
    after the other (Planar Configuration 1: ``pixel_data`` holds every red value, then every
    green, then every blue)."""
    ds = Dataset()
    ds.ImageBoxPosition = position
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.BasicColorImageSequence = [_image(rows, columns, pixel_data, 3, 'RGB', 8)]
    return ds


# --- the requester -------------------------------------------------------------------------------


def _send(asce: Association, ctx: PContextDef, request_class: type[Any], sop_class: str,
          msg_id: int, instance: str | None, data_set: Dataset | None,
          response_class: type[dm.DIMSEResponseMessage], **fields: Any) -> NResponse:
    rq = n_request(request_class, sop_class, msg_id, instance)
    for name, value in fields.items():
        setattr(rq, name, value)
    return exchange(asce, ctx, rq, response_class, data_set)


def film_session_create(asce: Association, ctx: PContextDef, msg_id: int,
                        attributes: Dataset | None = None,
                        sop_instance_uid: str | None = None) -> NResponse:
    """Create the association's Basic Film Session (N-CREATE, PS3.4 H.4.1.2.1) with
    ``attributes`` (Number of Copies, Print Priority, Medium Type, Film Destination, Film
    Session Label ...; PS3.4 Table H.4-2); its UID, the SCP's without ``sop_instance_uid``,
    is ``NResponse.sop_instance_uid``."""
    rsp = _send(asce, ctx, dm.NCreateRQMessage, FILM_SESSION, msg_id, sop_instance_uid,
                attributes if attributes is not None else Dataset(), dm.NCreateRSPMessage)
    if rsp.sop_instance_uid is None and sop_instance_uid:
        return rsp._replace(sop_instance_uid=UID(sop_instance_uid))
    return rsp


def film_session_set(asce: Association, ctx: PContextDef, film_session_uid: str,
                     modifications: Dataset, msg_id: int) -> NResponse:
    """Update the Basic Film Session (N-SET, PS3.4 H.4.1.2.2)."""
    return _send(asce, ctx, dm.NSetRQMessage, FILM_SESSION, msg_id, film_session_uid,
                 modifications, dm.NSetRSPMessage)


def film_session_print(asce: Association, ctx: PContextDef, film_session_uid: str,
                       msg_id: int) -> NResponse:
    """Print every film of the session (N-ACTION type 1, PS3.4 H.4.1.2.4); with the Print
    Job class, ``NResponse.data_set`` references the print job."""
    return _send(asce, ctx, dm.NActionRQMessage, FILM_SESSION, msg_id, film_session_uid,
                 None, dm.NActionRSPMessage, action_type_id=PRINT)


def film_session_delete(asce: Association, ctx: PContextDef, film_session_uid: str,
                        msg_id: int) -> NResponse:
    """Delete the film session and everything in it (N-DELETE, PS3.4 H.4.1.2.3)."""
    return _send(asce, ctx, dm.NDeleteRQMessage, FILM_SESSION, msg_id, film_session_uid,
                 None, dm.NDeleteRSPMessage)


def film_box_create(asce: Association, ctx: PContextDef, film_session_uid: str, msg_id: int,
                    image_display_format: str = 'STANDARD\\1,1',
                    attributes: Dataset | None = None) -> NResponse:
    """Create a Basic Film Box in the film session (N-CREATE, PS3.4 H.4.2.2.1) laid out as
    ``image_display_format``, with other ``attributes`` of PS3.4 Table H.4-6 (Film
    Orientation, Film Size ID ...). The SCP creates its image boxes:
    ``NResponse.data_set.ReferencedImageBoxSequence``, in image box position order."""
    ds = Dataset()
    if attributes is not None:
        ds.update(attributes)
    ds.ImageDisplayFormat = image_display_format
    session = Dataset()
    session.ReferencedSOPClassUID = FILM_SESSION
    session.ReferencedSOPInstanceUID = film_session_uid
    ds.ReferencedFilmSessionSequence = [session]
    return _send(asce, ctx, dm.NCreateRQMessage, FILM_BOX, msg_id, None, ds,
                 dm.NCreateRSPMessage)


def film_box_set(asce: Association, ctx: PContextDef, film_box_uid: str,
                 modifications: Dataset, msg_id: int) -> NResponse:
    """Update the last film box created (N-SET, PS3.4 H.4.2.2.2)."""
    return _send(asce, ctx, dm.NSetRQMessage, FILM_BOX, msg_id, film_box_uid, modifications,
                 dm.NSetRSPMessage)


def film_box_print(asce: Association, ctx: PContextDef, film_box_uid: str,
                   msg_id: int) -> NResponse:
    """Print the last film box created (N-ACTION type 1, PS3.4 H.4.2.2.4)."""
    return _send(asce, ctx, dm.NActionRQMessage, FILM_BOX, msg_id, film_box_uid, None,
                 dm.NActionRSPMessage, action_type_id=PRINT)


def film_box_delete(asce: Association, ctx: PContextDef, film_box_uid: str,
                    msg_id: int) -> NResponse:
    """Delete the last film box created and its image boxes (N-DELETE, PS3.4 H.4.2.2.3)."""
    return _send(asce, ctx, dm.NDeleteRQMessage, FILM_BOX, msg_id, film_box_uid, None,
                 dm.NDeleteRSPMessage)


def image_box_set(asce: Association, ctx: PContextDef, image_box_uid: str,
                  modifications: Dataset, msg_id: int,
                  sop_class: str | None = None) -> NResponse:
    """Put an image in an image box of the last film box (N-SET, PS3.4 H.4.3.1.2.1,
    H.4.3.2.2.1): ``modifications`` from :func:`grayscale_image_box` or
    :func:`color_image_box`. The request names the Image Box class of the context's Meta SOP
    class, or ``sop_class`` (the Referenced SOP Class UID the film box returned)."""
    box_class = sop_class or IMAGE_BOX_CLASSES.get(UID(ctx.sop_class), GRAYSCALE_IMAGE_BOX)
    return _send(asce, ctx, dm.NSetRQMessage, box_class, msg_id, image_box_uid, modifications,
                 dm.NSetRSPMessage)


def printer_get(asce: Association, ctx: PContextDef, msg_id: int,
                attributes: Iterable[int | str] | None = None) -> NResponse:
    """Read the Printer (N-GET of its well-known instance, PS3.4 H.4.6.2.2): the attributes
    named (Printer Status, Printer Status Info, Printer Name ...), all for none."""
    fields = {'attribute_identifier_list': [Tag(tag) for tag in attributes]} if attributes else {}
    return _send(asce, ctx, dm.NGetRQMessage, PRINTER, msg_id, PRINTER_INSTANCE, None,
                 dm.NGetRSPMessage, **fields)


def print_job_get(asce: Association, ctx: PContextDef, print_job_uid: str, msg_id: int,
                  attributes: Iterable[int | str] | None = None) -> NResponse:
    """Read a Print Job (N-GET, PS3.4 H.4.5.2.2): its Execution Status and Info, Print
    Priority, Creation Date and Time, Printer Name, Originator."""
    fields = {'attribute_identifier_list': [Tag(tag) for tag in attributes]} if attributes else {}
    return _send(asce, ctx, dm.NGetRQMessage, PRINT_JOB, msg_id, print_job_uid, None,
                 dm.NGetRSPMessage, **fields)


def print_receive_event(asce: Association, ctx: PContextDef, timeout: float | None = None
                        ) -> EventReport:
    """Wait for the next N-EVENT-REPORT (a Printer or Print Job status, PS3.4 H.4.5.2.1,
    H.4.6.2.1), answer it through the AE's ``on_n_event_report`` hook and return it."""
    return receive_event_report(asce, timeout)


class PrintManagementSCU(NServiceSCU):
    """The Print Management SCU: one object for the Meta SOP classes and the Printer and
    Print Job classes, an operation chosen by name (:attr:`functions`, each a function of
    this module without ``asce`` and ``ctx``).

    Usage (``printer`` the remote AE of a DICOM printer; ``pixels`` 256 x 256 bytes)::

        client.add_scu(sc.print_management_scu)
        with client.request_association(printer) as assoc:
            job = assoc.get_scu(GRAYSCALE_META)
            session = job('create_film_session', 1).sop_instance_uid
            film = job('create_film_box', session, 2, 'STANDARD\\\\1,1')
            box = film.data_set.ReferencedImageBoxSequence[0].ReferencedSOPInstanceUID
            job('set_image_box', box, sc.grayscale_image_box(1, 256, 256, pixels), 3)
            job('print_film_box', film.sop_instance_uid, 4).status.is_success
            job('get_printer', 5, ['PrinterStatus']).data_set.PrinterStatus   # 'NORMAL'
    """

    functions: ClassVar[dict[str, Callable[..., Any]]] = {
        'create_film_session': film_session_create,
        'set_film_session': film_session_set,
        'print_film_session': film_session_print,
        'delete_film_session': film_session_delete,
        'create_film_box': film_box_create,
        'set_film_box': film_box_set,
        'print_film_box': film_box_print,
        'delete_film_box': film_box_delete,
        'set_image_box': image_box_set,
        'get_printer': printer_get,
        'get_print_job': print_job_get,
        'receive_event': print_receive_event,
    }


#: The Print Management SCU for the two Meta SOP classes and the Printer and Print Job
#: classes: ``client.add_scu(sc.print_management_scu)``.
print_management_scu = PrintManagementSCU(PRINT_SOP_CLASSES)
