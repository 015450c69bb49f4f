"""Basic Print Management (PS3.4 Annex H) against pynetdicom, both roles, each side through
its public API.

* pynetdicom's SCU (``send_n_create``, ``send_n_set``, ``send_n_action``, ``send_n_get``,
  ``send_n_delete`` with ``meta_uid``: each request names its own SOP class on the Meta SOP
  class context) -> our ``PrintManagement``: film session, film box and its image boxes,
  prints, the Printer and the Print Job; our Printer status report reaches pynetdicom's
  ``EVT_N_EVENT_REPORT`` handler on its association;
* our ``print_management_scu`` -> pynetdicom's print SCP (``EVT_N_CREATE``, ``EVT_N_SET``,
  ``EVT_N_ACTION``, ``EVT_N_GET``, ``EVT_N_DELETE`` handlers): the classes our requests
  name, the image boxes pynetdicom's film box returns, and a Printer report pynetdicom sends
  while it answers our N-GET, confirmed through our ``on_n_event_report`` hook.
"""

from __future__ import annotations

import queue

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses, uids

from .conftest import PEER_TIMEOUT, interop_required

try:
    from pynetdicom import evt
except ImportError:  # pragma: no cover - pynetdicom is a test dependency
    if interop_required('pynetdicom'):
        raise
    pytest.skip('pynetdicom is not installed (pip install pynetdicom): no peer',
                allow_module_level=True)

from .pynetdicom_peers import TheirServer, bounded, finish, their_ae  # noqa: E402

pytestmark = pytest.mark.interop

OUR_AET = 'OURSCP'
THEIR_AET = 'PYNDSCP'
GRAY = uids.BASIC_GRAYSCALE_PRINT_MANAGEMENT_META_SOP_CLASS
COLOR = uids.BASIC_COLOR_PRINT_MANAGEMENT_META_SOP_CLASS
FILM_SESSION = uids.BASIC_FILM_SESSION_SOP_CLASS
FILM_BOX = uids.BASIC_FILM_BOX_SOP_CLASS
GRAY_BOX = uids.BASIC_GRAYSCALE_IMAGE_BOX_SOP_CLASS
PRINTER = uids.PRINTER_SOP_CLASS
PRINTER_INSTANCE = uids.PRINTER_SOP_INSTANCE
PRINT_JOB = uids.PRINT_JOB_SOP_CLASS
PIXELS = bytes(range(256)) * 4  # 32 x 32, 8 bits


def image_box(position: int) -> Dataset:
    return sc.grayscale_image_box(position, 32, 32, PIXELS)


# --- pynetdicom -> us ---------------------------------------------------------------------------


def test_pynetdicom_print_scu_to_our_scp(serve):
    reports: queue.Queue[tuple] = queue.Queue()

    def on_report(event):
        reports.put((event.request.AffectedSOPClassUID, event.request.AffectedSOPInstanceUID,
                     event.event_type, event.event_information.PrinterStatusInfo))
        return 0x0000, None

    scp = sc.PrintManagement()
    ours = bounded(ae.AE(OUR_AET, 0, bind_and_activate=False)).add_scp(scp)
    peer = their_ae('PYNDSCU')
    for uid in (GRAY, PRINT_JOB):
        peer.add_requested_context(uid)
    session_uid, film_uid = generate_uid(), generate_uid()
    session_attributes = Dataset()
    session_attributes.NumberOfCopies = 2
    session_attributes.FilmSessionLabel = 'PYND'
    film_attributes = Dataset()
    film_attributes.ImageDisplayFormat = 'STANDARD\\2,1'
    reference = Dataset()
    reference.ReferencedSOPClassUID = FILM_SESSION
    reference.ReferencedSOPInstanceUID = session_uid
    film_attributes.ReferencedFilmSessionSequence = [reference]
    with serve(ours) as port:
        assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET,
                               evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
        try:
            assert assoc.is_established
            session = assoc.send_n_create(session_attributes, FILM_SESSION, session_uid,
                                          meta_uid=GRAY)
            film = assoc.send_n_create(film_attributes, FILM_BOX, film_uid, meta_uid=GRAY)
            boxes = film[1].ReferencedImageBoxSequence
            sets = [assoc.send_n_set(image_box(position), item.ReferencedSOPClassUID,
                                     item.ReferencedSOPInstanceUID, meta_uid=GRAY)
                    for position, item in enumerate(boxes, 1)]
            printed = assoc.send_n_action(None, 1, FILM_BOX, film_uid, meta_uid=GRAY)
            printer = assoc.send_n_get([0x21100010, 0x21100030], PRINTER, PRINTER_INSTANCE,
                                       meta_uid=GRAY)
            job_uid = printed[1][0x21000500].value[0].ReferencedSOPInstanceUID
            job = assoc.send_n_get([0x21000020, 0x21000030], PRINT_JOB, job_uid)
            answered = scp.report_printer_status('FAILURE', 'NO FILM')
            report = reports.get(timeout=PEER_TIMEOUT)
            bad_box = assoc.send_n_set(image_box(3), GRAY_BOX, boxes[0].ReferencedSOPInstanceUID,
                                       meta_uid=GRAY)
            deleted = assoc.send_n_delete(FILM_SESSION, session_uid, meta_uid=GRAY)
        finally:
            finish(assoc)
    assert session[0].Status == 0 and film[0].Status == 0
    assert [item.ReferencedSOPClassUID for item in boxes] == [GRAY_BOX, GRAY_BOX]
    assert [status.Status for status, _ in sets] == [0, 0]
    assert printed[0].Status == 0
    assert printer[0].Status == 0 and printer[1].PrinterStatus == 'NORMAL'
    assert job[0].Status == 0 and job[1].ExecutionStatus == 'DONE'
    assert answered == 1
    assert report == (PRINTER, PRINTER_INSTANCE, 3, 'NO FILM')
    assert bad_box[0].Status == 0x0106  # Image Box Position 3 in box 1
    assert deleted.Status == 0  # (send_n_delete returns the status alone)
    (printed_job,) = scp.jobs.values()
    film_box, images = printed_job.films[0]
    assert printed_job.film_session.FilmSessionLabel == 'PYND'
    assert [bytes(image.BasicGrayscaleImageSequence[0].PixelData) for image in images] == [
        PIXELS, PIXELS]


# --- us -> pynetdicom ---------------------------------------------------------------------------


def test_our_print_scu_to_pynetdicom_scp():
    seen: list[tuple] = []
    session_uid = generate_uid()
    film_uid = generate_uid()
    box_uids = [generate_uid(), generate_uid()]

    def on_create(event):
        cls = event.request.AffectedSOPClassUID
        seen.append(('create', cls, event.context.abstract_syntax))
        if cls == FILM_SESSION:
            reply = Dataset()
            reply.AffectedSOPInstanceUID = session_uid
            return 0x0000, reply
        reply = Dataset()
        reply.AffectedSOPInstanceUID = film_uid
        reply.ReferencedImageBoxSequence = []
        for uid in box_uids:
            item = Dataset()
            item.ReferencedSOPClassUID = GRAY_BOX
            item.ReferencedSOPInstanceUID = uid
            reply.ReferencedImageBoxSequence.append(item)
        seen.append(('film session', event.attribute_list.ReferencedFilmSessionSequence[0]
                     .ReferencedSOPInstanceUID))
        return 0x0000, reply

    def on_set(event):
        image = event.modification_list.BasicGrayscaleImageSequence[0]
        seen.append(('set', event.request.RequestedSOPClassUID,
                     event.request.RequestedSOPInstanceUID,
                     event.modification_list.ImageBoxPosition, bytes(image.PixelData) == PIXELS))
        return 0x0000, None

    def on_action(event):
        seen.append(('action', event.request.RequestedSOPClassUID, event.action_type))
        return 0x0000, None

    def on_get(event):
        seen.append(('get', event.request.RequestedSOPClassUID,
                     event.request.RequestedSOPInstanceUID))
        info = Dataset()
        info.PrinterStatusInfo = 'CHECK PRINTER'
        status, _ = event.assoc.send_n_event_report(info, 2, PRINTER, PRINTER_INSTANCE,
                                                    meta_uid=GRAY)
        seen.append(('report answered', status.Status))
        ds = Dataset()
        ds.PrinterStatus = 'WARNING'
        return 0x0000, ds

    def on_delete(event):
        seen.append(('delete', event.request.RequestedSOPClassUID))
        return 0x0000

    handlers = [(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set),
                (evt.EVT_N_ACTION, on_action), (evt.EVT_N_GET, on_get),
                (evt.EVT_N_DELETE, on_delete)]
    events: queue.Queue[tuple] = queue.Queue()

    class Modality(ae.ClientAE):
        def on_n_event_report(self, context, sop_instance_uid, event_type_id, information):
            events.put((context.sop_class, sop_instance_uid, event_type_id,
                        information.PrinterStatusInfo))
            return statuses.SUCCESS

    client = bounded(Modality('OURSCU')).add_scu(sc.print_management_scu, [GRAY])
    with TheirServer([GRAY], handlers) as port:
        with client.request_association({'aet': THEIR_AET, 'address': '127.0.0.1',
                                         'port': port}) as assoc:
            job = assoc.get_scu(GRAY)
            session = job('create_film_session', 1)
            film = job('create_film_box', session.sop_instance_uid, 2, 'STANDARD\\1,2')
            boxes = film.data_set.ReferencedImageBoxSequence
            sets = [job('set_image_box', item.ReferencedSOPInstanceUID, image_box(position),
                        2 + position) for position, item in enumerate(boxes, 1)]
            printed = job('print_film_box', film.sop_instance_uid, 5)
            printer = job('get_printer', 6, ['PrinterStatus'])
            deleted = job('delete_film_session', session.sop_instance_uid, 7)
    assert session.status.is_success and session.sop_instance_uid == session_uid
    assert film.status.is_success and film.sop_instance_uid == film_uid
    assert [s.status.is_success for s in sets] == [True, True]
    assert printed.status.is_success and deleted.status.is_success
    assert printer.data_set.PrinterStatus == 'WARNING'
    assert events.get_nowait() == (PRINTER, PRINTER_INSTANCE, 2, 'CHECK PRINTER')
    assert seen == [
        ('create', FILM_SESSION, GRAY),
        ('create', FILM_BOX, GRAY),
        ('film session', session_uid),
        ('set', GRAY_BOX, box_uids[0], 1, True),
        ('set', GRAY_BOX, box_uids[1], 2, True),
        ('action', FILM_BOX, 1),
        ('get', PRINTER, PRINTER_INSTANCE),
        ('report answered', 0x0000),
        ('delete', FILM_SESSION),
    ]
