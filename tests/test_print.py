"""Basic Print Management (PS3.4 Annex H) on loopback: ``print_management_scu`` against
``PrintManagement``.

A film session, a film box whose N-CREATE makes its image boxes (PS3.4 H.4.2.2.1.3), images
put in them with N-SET, prints of the film box and of the session (N-ACTION), the Printer
(N-GET of its well-known instance, N-EVENT-REPORT of its status) and the Print Job; each
request names its own SOP class on the Meta SOP class context, and is refused with the
standard's statuses when it breaks PS3.4 H.4's rules.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import pytest
from aetools import fast, remote, serving
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids
from pynetdicom2.exceptions import EventHandlingError
from pynetdicom2.services import nsupport
from pynetdicom2.services import printmanagement as pm

GRAY = uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META_SOP_CLASS
COLOR = uids.BASIC_COLOR_PRINT_MANAGEMENT_META_SOP_CLASS
PRINTER = uids.PRINTER_SOP_CLASS
PRINT_JOB = uids.PRINT_JOB_SOP_CLASS
PIXELS = bytes(range(256)) * 4  # 32 x 32, 8 bits


class Printer(ae.AE):
    """A printer AE whose hooks record what they are asked and answer ``answers[name]``."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        super().__init__('PRINTER', 0, host='127.0.0.1')
        self.scp = sc.PrintManagement()
        self.add_scp(self.scp)
        self.answers = answers or {}
        self.calls: queue.Queue[tuple] = queue.Queue()

    def _hook(self, name: str, context, *args):
        self.calls.put((name, context.sop_class, *args))
        answer = self.answers.get(name, sc.UNRECOGNIZED_OPERATION)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def on_n_create(self, context, sop_instance_uid, attribute_list):
        return self._hook('create', context, sop_instance_uid)

    def on_n_set(self, context, sop_instance_uid, modification_list):
        return self._hook('set', context, sop_instance_uid)

    def on_n_action(self, context, sop_instance_uid, action_type_id, action_information):
        return self._hook('action', context, sop_instance_uid, action_type_id)

    def on_n_delete(self, context, sop_instance_uid):
        return self._hook('delete', context, sop_instance_uid)

    def calls_made(self) -> list[tuple]:
        found = []
        while not self.calls.empty():
            found.append(self.calls.get_nowait())
        return found


class Modality(ae.ClientAE):
    """A print SCU that records the N-EVENT-REPORTs its hook is given."""

    def __init__(self, sop_classes: list[str] | None = None) -> None:
        super().__init__('MODALITY')
        fast(self)
        self.add_scu(sc.print_management_scu, sop_classes)
        self.reports: queue.Queue[tuple] = queue.Queue()

    def on_n_event_report(self, context, sop_instance_uid, event_type_id, event_information):
        self.reports.put((context.sop_class, sop_instance_uid, event_type_id,
                          event_information))
        return statuses.SUCCESS


def session_attributes(**extra: Any) -> Dataset:
    ds = Dataset()
    ds.NumberOfCopies = 1
    ds.PrintPriority = 'HIGH'
    ds.MediumType = 'BLUE FILM'
    ds.FilmSessionLabel = 'CHEST'
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    return ds


def image_boxes(film) -> list[tuple[str, str]]:
    return [(item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID)
            for item in film.data_set.ReferencedImageBoxSequence]


def test_print_end_to_end():
    printer = Printer()
    with serving(printer), Modality().request_association(remote(printer)) as assoc:
        job = assoc.get_scu(GRAY)
        session = job('create_film_session', 1, session_attributes())
        film = job('create_film_box', session.sop_instance_uid, 2, 'STANDARD\\2,1')
        boxes = image_boxes(film)
        sets = [job('set_image_box', uid, sc.grayscale_image_box(position, 32, 32, PIXELS),
                    2 + position)
                for position, (_, uid) in enumerate(boxes, 1)]
        printed = job('print_film_box', film.sop_instance_uid, 5)
        whole = job('print_film_session', session.sop_instance_uid, 6)
        got = job('get_printer', 7, ['PrinterStatus', 'PrinterName'])
        on_its_own = assoc.get_scu(PRINTER)('get_printer', 8)
        reference = printed.data_set[pm.REFERENCED_PRINT_JOB_SEQUENCE].value[0]
        job_state = assoc.get_scu(PRINT_JOB)('get_print_job',
                                             reference.ReferencedSOPInstanceUID, 9)
        deleted_film = job('delete_film_box', film.sop_instance_uid, 10)
        deleted = job('delete_film_session', session.sop_instance_uid, 11)
    assert session.status.is_success and session.sop_instance_uid
    assert film.status.is_success and film.message.sop_class_uid == uids.BASIC_FILM_BOX_SOP_CLASS
    assert [cls for cls, _ in boxes] == [uids.BASIC_GRAYSCALE_IMAGE_BOX_SOP_CLASS] * 2
    assert film.data_set.ImageDisplayFormat == 'STANDARD\\2,1'
    assert film.data_set.FilmOrientation == 'PORTRAIT'  # the SCP's default
    assert [rsp.status.is_success for rsp in sets] == [True, True]
    assert sets[0].message.sop_class_uid == uids.BASIC_GRAYSCALE_IMAGE_BOX_SOP_CLASS
    assert printed.status.is_success and whole.status.is_success
    assert reference.ReferencedSOPClassUID == PRINT_JOB
    assert got.data_set.PrinterStatus == 'NORMAL' and 'PrinterStatusInfo' not in got.data_set
    assert on_its_own.data_set.PrinterName == 'PYNETDICOM2'
    assert job_state.status.is_success and job_state.data_set.ExecutionStatus == 'DONE'
    assert job_state.data_set.Originator == 'MODALITY'
    assert deleted_film.status.is_success and deleted.status.is_success
    jobs = list(printer.scp.jobs.values())
    assert len(jobs) == 2
    film_box, images = jobs[0].films[0]
    assert film_box.ImageDisplayFormat == 'STANDARD\\2,1'
    assert [image.ImageBoxPosition for image in images] == [1, 2]
    pixels = images[1].BasicGrayscaleImageSequence[0]
    assert (pixels.Rows, pixels.Columns, bytes(pixels.PixelData)) == (32, 32, PIXELS)
    assert jobs[0].film_session.FilmSessionLabel == 'CHEST'
    assert jobs[0].attributes.PrintPriority == 'HIGH'
    # The hooks were asked with the SOP class each request named.
    named = [(name, cls) for name, cls, *_ in printer.calls_made()]
    assert named == [('create', uids.BASIC_FILM_SESSION_SOP_CLASS),
                     ('create', uids.BASIC_FILM_BOX_SOP_CLASS),
                     ('set', uids.BASIC_GRAYSCALE_IMAGE_BOX_SOP_CLASS),
                     ('set', uids.BASIC_GRAYSCALE_IMAGE_BOX_SOP_CLASS),
                     ('action', uids.BASIC_FILM_BOX_SOP_CLASS),
                     ('action', uids.BASIC_FILM_SESSION_SOP_CLASS),
                     ('delete', uids.BASIC_FILM_BOX_SOP_CLASS),
                     ('delete', uids.BASIC_FILM_SESSION_SOP_CLASS)]


def test_color_print_and_the_image_box_class_of_the_meta_class():
    printer = Printer()
    rgb = bytes(range(256)) * 3  # 16 x 16 pixels, three planes
    modality = Modality([COLOR])  # no Print Job context
    with serving(printer), modality.request_association(remote(printer)) as assoc:
        job = assoc.get_scu(COLOR)
        session = job('create_film_session', 1).sop_instance_uid
        film = job('create_film_box', session, 2, 'ROW\\1,2')
        boxes = image_boxes(film)
        colored = job('set_image_box', boxes[0][1], sc.color_image_box(1, 16, 16, rgb), 3)
        gray_here = job('set_image_box', boxes[1][1],
                        sc.grayscale_image_box(2, 16, 16, PIXELS),
                        4, uids.BASIC_GRAYSCALE_IMAGE_BOX_SOP_CLASS)
        printed = job('print_film_box', film.sop_instance_uid, 5)
    assert [cls for cls, _ in boxes] == [uids.BASIC_COLOR_IMAGE_BOX_SOP_CLASS] * 3
    assert colored.status.is_success
    assert int(gray_here.status) == 0x0122  # a grayscale image box on a color context
    assert printed.status.is_success
    assert printed.data_set is None  # no Print Job context: no Action Reply (H.4.2.2.4.1)
    image = next(iter(printer.scp.jobs.values())).films[0][1][0].BasicColorImageSequence[0]
    assert image.PhotometricInterpretation == 'RGB' and image.SamplesPerPixel == 3


def bad_image(**change: Any) -> Dataset:
    box = sc.grayscale_image_box(1, 32, 32, PIXELS)
    image = box.BasicGrayscaleImageSequence[0]
    for keyword, value in change.items():
        if value is None:
            delattr(image, keyword)
        else:
            setattr(image, keyword, value)
    return box


@pytest.mark.parametrize('change, expected', [
    ({'SamplesPerPixel': 3}, 0x0106),
    ({'PhotometricInterpretation': 'RGB'}, 0x0106),
    ({'BitsAllocated': 12}, 0x0106),
    ({'HighBit': 3}, 0x0106),
    ({'PixelData': b'\0' * 10}, 0x0106),
    ({'PixelData': None}, 0x0120),
    ({'Rows': None}, 0x0120),
])
def test_images_are_checked(change, expected):
    printer = Printer()
    with serving(printer), Modality().request_association(remote(printer)) as assoc:
        job = assoc.get_scu(GRAY)
        session = job('create_film_session', 1).sop_instance_uid
        film = job('create_film_box', session, 2)
        box = image_boxes(film)[0][1]
        rsp = job('set_image_box', box, bad_image(**change), 3)
    assert int(rsp.status) == expected
    assert printer.calls_made()[-1][0] == 'create'  # refused before the hook


def test_print_refusals():
    printer = Printer()
    with serving(printer), Modality().request_association(remote(printer)) as assoc:
        job = assoc.get_scu(GRAY)
        memory = job('create_film_session', 1, session_attributes(MemoryAllocation=1024))
        session = memory.sop_instance_uid
        second = job('create_film_session', 2)
        empty_session = job('print_film_session', session, 3)
        no_format = job('create_film_box', session, 4, '')
        slide = job('create_film_box', session, 5, 'SLIDE')
        other_session = job('create_film_box', generate_uid(), 6)
        first = job('create_film_box', session, 7, 'COL\\1')
        last = job('create_film_box', session, 8, 'STANDARD\\1,1')
        first_box = image_boxes(first)[0][1]
        earlier = job('set_image_box', first_box, sc.grayscale_image_box(1, 32, 32, PIXELS), 9)
        last_box = image_boxes(last)[0][1]
        position = job('set_image_box', last_box, sc.grayscale_image_box(2, 32, 32, PIXELS), 10)
        unknown = job('set_image_box', generate_uid(), sc.grayscale_image_box(1, 1, 1, b'\0'),
                      11)
        ds = Dataset()
        ds.ImageDisplayFormat = 'STANDARD\\3,3'
        not_settable = job('set_film_box', last.sop_instance_uid, ds, 12)
        ds = Dataset()
        ds.MaxDensity = 300
        settable = job('set_film_box', last.sop_instance_uid, ds, 13)
        earlier_film = job('print_film_box', first.sop_instance_uid, 14)
        empty_film = job('print_film_box', last.sop_instance_uid, 15)
        ds = Dataset()
        ds.PrintPriority = 'URGENT'
        priority = job('set_film_session', session, ds, 16)
    assert int(memory.status) == 0xB600 and memory.status.is_warning
    assert int(second.status) == 0x0110  # one film session per association (H.4.1.2.1.3)
    assert int(empty_session.status) == 0xC600
    assert int(no_format.status) == 0x0120
    assert int(slide.status) == 0x0106
    assert int(other_session.status) == 0x0106
    assert first.status.is_success and last.status.is_success
    assert int(earlier.status) == 0x0110  # not in the last film box
    assert int(position.status) == 0x0106
    assert int(unknown.status) == 0x0112
    assert int(not_settable.status) == 0x0105
    assert settable.status.is_success
    assert int(earlier_film.status) == 0x0110
    assert int(empty_film.status) == 0xB603 and empty_film.status.is_warning
    assert int(priority.status) == 0x0106


def test_other_operations_and_instances():
    printer = Printer()
    client = fast(ae.ClientAE('MODALITY')).add_scu(sc.NServiceSCU([GRAY, PRINTER]))
    with serving(printer), client.request_association(remote(printer)) as assoc:
        generic = assoc.get_scu(GRAY)
        wrong_instance = assoc.get_scu(PRINTER)('n_get', generate_uid(), 1)
        session_on_printer = assoc.get_scu(PRINTER)('n_create', Dataset(), 2)
        get_session = generic('n_get', generate_uid(), 3)  # names the Meta class itself
        report = generic('n_event_report', generate_uid(), 1, 4)
    assert int(wrong_instance.status) == 0x0112
    assert int(session_on_printer.status) == 0x0211  # the Printer has no N-CREATE
    assert int(get_session.status) == 0x0211
    assert int(report.status) == 0x0211


def context_of(assoc, sop_class) -> sc.PContextDef:
    pc_id, ts = assoc.sop_classes_as_scu[sop_class]
    return sc.PContextDef(pc_id, sop_class, ts)


def test_an_unknown_action_type_is_0123():
    printer = Printer()
    with serving(printer), Modality().request_association(remote(printer)) as assoc:
        session = assoc.get_scu(GRAY)('create_film_session', 1).sop_instance_uid
        rq = nsupport.n_request(dm.NActionRQMessage, uids.BASIC_FILM_SESSION_SOP_CLASS, 2,
                                session)
        rq.action_type_id = 2
        rsp = nsupport.exchange(assoc, context_of(assoc, GRAY), rq, dm.NActionRSPMessage, None)
    assert int(rsp.status) == 0x0123


def test_the_hooks_decide():
    refusing = Printer({'action': EventHandlingError('queue full', status=0xC602),
                        'create': statuses.SUCCESS})
    with serving(refusing), Modality().request_association(remote(refusing)) as assoc:
        job = assoc.get_scu(GRAY)
        session = job('create_film_session', 1).sop_instance_uid
        film = job('create_film_box', session, 2)
        refused = job('print_film_box', film.sop_instance_uid, 3)
    assert int(refused.status) == 0xC602
    assert refusing.scp.jobs == {}


def test_the_film_session_ends_with_its_association():
    printer = Printer()
    with serving(printer):
        with Modality().request_association(remote(printer)) as assoc:
            session = assoc.get_scu(GRAY)('create_film_session', 1).sop_instance_uid
        with Modality().request_association(remote(printer)) as assoc:
            job = assoc.get_scu(GRAY)
            gone = job('create_film_box', session, 1)
            again = job('create_film_session', 2, None, session)
    assert int(gone.status) == 0x0106
    assert again.status.is_success and again.sop_instance_uid == session


def test_printer_status_reports_reach_the_scu_hook():
    printer = Printer()
    modality = Modality()
    with serving(printer), modality.request_association(remote(printer)) as assoc:
        job = assoc.get_scu(GRAY)
        job('create_film_session', 1)
        answered: queue.Queue[int] = queue.Queue()
        reporter = threading.Thread(
            target=lambda: answered.put(printer.scp.report_printer_status('WARNING', 'FILM JAM')))
        reporter.start()
        try:
            report = job('receive_event', 5)
        finally:
            reporter.join(10)
        got = job('get_printer', 2, ['PrinterStatus', 'PrinterStatusInfo'])
    assert answered.get_nowait() == 1
    assert report.sop_class_uid == PRINTER
    assert report.sop_instance_uid == uids.PRINTER_SOP_INSTANCE
    assert report.event_type_id == sc.PrinterEvent.WARNING and report.status.is_success
    assert report.information.PrinterStatusInfo == 'FILM JAM'
    cls, instance, event, info = modality.reports.get_nowait()
    assert (cls, instance, event) == (PRINTER, uids.PRINTER_SOP_INSTANCE, 2)
    assert (got.data_set.PrinterStatus, got.data_set.PrinterStatusInfo) == ('WARNING', 'FILM JAM')


@pytest.mark.parametrize('display_format, count', [
    ('STANDARD\\1,1', 1), ('STANDARD\\3,4', 12), ('ROW\\2', 2), ('ROW\\1,2,3', 6),
    ('COL\\2,2', 4), ('SLIDE', None), ('SUPERSLIDE', None), ('CUSTOM\\1', None),
    ('STANDARD\\0,1', None), ('STANDARD\\1', None), ('', None), ('ROW\\a', None),
])
def test_image_box_count(display_format, count):
    assert sc.image_box_count(display_format) == count


def test_limits_and_unsettable_session_attributes():
    printer = Printer()
    printer.scp.max_jobs = 2
    with serving(printer), Modality().request_association(remote(printer)) as assoc:
        job = assoc.get_scu(GRAY)
        session = job('create_film_session', 1).sop_instance_uid
        too_many = job('create_film_box', session, 2, 'STANDARD\\100,100')
        ds = Dataset()
        ds.ReferencedFilmBoxSequence = []
        tracked = job('set_film_session', session, ds, 3)
        film = job('create_film_box', session, 4).sop_instance_uid
        printed = [job('print_film_box', film, 5 + n).status for n in range(3)]
    assert int(too_many.status) == 0x0106
    assert int(tracked.status) == 0x0105  # the SCP keeps the film box references itself
    assert [int(status) for status in printed] == [0xB603] * 3  # empty pages, printed
    assert len(printer.scp.jobs) == 2  # the oldest job went first
    with pytest.raises(ValueError, match='NORMAL, WARNING or FAILURE'):
        printer.scp.report_printer_status('BROKEN')
