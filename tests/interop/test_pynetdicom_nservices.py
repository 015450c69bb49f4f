"""DIMSE-N services, MPPS and Storage Commitment against pynetdicom, both roles, each side
driven through its public API (pynetdicom's ``AE``, ``send_n_*`` and ``evt`` handlers).

* generic N-services on Basic Film Session (a class pynetdicom serves with all six
  operations): our ``NServiceSCU`` -> pynetdicom's handlers, and pynetdicom's ``send_n_*`` ->
  our ``NServiceSCP``;
* MPPS (N-CREATE then N-SET): pynetdicom -> our ``ModalityPerformedProcedureStep``, and our
  ``mpps_scu`` -> pynetdicom;
* Storage Commitment: pynetdicom's N-ACTION -> our ``StorageCommitment``, whose result comes
  back on a new association to pynetdicom's listening AE (``EVT_N_EVENT_REPORT``); and our
  ``storage_commitment_scu`` -> pynetdicom, whose result (sent by pynetdicom on its own
  association, with or without the SCP role proposed) reaches ``on_commitment_response``.
  The Message ID of each request and the Message ID Being Responded To of each response are
  checked where the peer exposes them.
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
    import pynetdicom
    from pynetdicom import build_role, evt
except ImportError:  # pragma: no cover - pynetdicom is a test dependency
    if interop_required('pynetdicom'):
        raise
    pytest.skip('pynetdicom is not installed (pip install pynetdicom): no peer',
                allow_module_level=True)

pytestmark = pytest.mark.interop

OUR_AET = 'OURSCP'
THEIR_AET = 'PYNDSCP'
FILM_SESSION = '1.2.840.10008.5.1.1.1'  # PS3.4 H.4.1: Basic Film Session SOP class
MPPS = sc.MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS
COMMITMENT = uids.STORAGE_COMMITMENT_SOP_CLASS
COMMITMENT_INSTANCE = sc.STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE
CT = uids.CT_IMAGE_STORAGE


def their_ae(ae_title: str) -> pynetdicom.AE:
    """A pynetdicom AE with every timeout bounded."""
    peer = pynetdicom.AE(ae_title)
    peer.acse_timeout = peer.dimse_timeout = peer.network_timeout = 10
    peer.connection_timeout = 10
    return peer


def remote(port: int, aet: str = THEIR_AET) -> dict:
    return {'aet': aet, 'address': '127.0.0.1', 'port': port}


def bounded(ours: ae.AEBase) -> ae.AEBase:
    ours.dcm_timeout = ours.artim_timeout = ours.connect_timeout = 10
    return ours


def finish(assoc) -> None:
    """Release a pynetdicom association that is still up (abort if that fails)."""
    if assoc.is_established:
        assoc.release()
    if assoc.is_established:
        assoc.abort()


class TheirServer:
    """pynetdicom serving ``contexts`` on 127.0.0.1 with ``handlers``; always shut down."""

    def __init__(self, contexts, handlers, ae_title: str = THEIR_AET, roles=False) -> None:
        self.ae = their_ae(ae_title)
        for uid in contexts:
            if roles:
                self.ae.add_supported_context(uid, scu_role=True, scp_role=True)
            else:
                self.ae.add_supported_context(uid)
        self.handlers = handlers
        self.server = None

    def __enter__(self) -> int:
        self.server = self.ae.start_server(('127.0.0.1', 0), block=False,
                                           evt_handlers=self.handlers)
        return self.server.server_address[1]

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()


def attributes(**elements) -> Dataset:
    ds = Dataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


# --- generic N-services ----------------------------------------------------------------------


def test_our_nservice_scu_to_pynetdicom():
    seen: list[tuple] = []
    session = generate_uid()

    def on_get(event):
        identifiers = event.request.AttributeIdentifierList
        if not isinstance(identifiers, list):  # pydicom gives one tag as itself
            identifiers = [identifiers]
        seen.append(('get', event.request.MessageID, event.request.RequestedSOPInstanceUID,
                     identifiers))
        return 0x0000, attributes(NumberOfCopies=2, FilmDestination='MAGAZINE')

    def on_set(event):
        seen.append(('set', event.request.MessageID, event.modification_list.NumberOfCopies))
        return 0x0000, None

    def on_action(event):
        seen.append(('action', event.request.MessageID, event.action_type))
        return 0x0000, attributes(PrintJobID='JOB1')

    def on_create(event):
        seen.append(('create', event.request.MessageID, event.attribute_list.FilmSessionLabel,
                     event.request.AffectedSOPInstanceUID))
        return 0x0000, attributes(AffectedSOPInstanceUID=session)

    def on_delete(event):
        seen.append(('delete', event.request.MessageID, event.request.RequestedSOPInstanceUID))
        return 0x0000

    def on_report(event):
        seen.append(('report', event.request.MessageID, event.event_type))
        return 0x0000, None

    handlers = [(evt.EVT_N_GET, on_get), (evt.EVT_N_SET, on_set),
                (evt.EVT_N_ACTION, on_action), (evt.EVT_N_CREATE, on_create),
                (evt.EVT_N_DELETE, on_delete), (evt.EVT_N_EVENT_REPORT, on_report)]
    client = bounded(ae.ClientAE('OURSCU')).add_scu(sc.NServiceSCU([FILM_SESSION]))
    with TheirServer([FILM_SESSION], handlers) as port:
        with client.request_association(remote(port)) as assoc:
            film = assoc.get_scu(FILM_SESSION)
            created = film('n_create', attributes(FilmSessionLabel='LABEL'), 1)
            got = film('n_get', session, 2, ['NumberOfCopies'])
            changed = film('n_set', session, attributes(NumberOfCopies=3), 3)
            printed = film('n_action', session, 1, 4)
            reported = film('n_event_report', session, 1, 5)
            deleted = film('n_delete', session, 6)
    assert created.status.is_success and created.sop_instance_uid == session
    assert got.status.is_success and got.data_set.NumberOfCopies == 2
    assert got.data_set.FilmDestination == 'MAGAZINE'
    assert changed.status.is_success and changed.data_set is None
    assert printed.data_set.PrintJobID == 'JOB1' and printed.message.action_type_id == 1
    assert reported.status.is_success and deleted.status.is_success
    for number, response in enumerate((created, got, changed, printed, reported, deleted), 1):
        assert response.message.message_id_being_responded_to == number
    assert seen == [
        ('create', 1, 'LABEL', None),
        ('get', 2, session, [0x20000010]),
        ('set', 3, 3),
        ('action', 4, 1),
        ('report', 5, 1),
        ('delete', 6, session),
    ]


class FilmSessions(sc.NServiceSCP):
    """Our Basic Film Session SCP for pynetdicom to talk to."""

    sop_classes = [FILM_SESSION]

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, Dataset] = {}
        self.log: list[tuple] = []

    def on_n_create(self, asce, ctx, sop_instance_uid, attribute_list):
        self.sessions[sop_instance_uid] = attribute_list
        self.log.append(('create', sop_instance_uid))
        return statuses.SUCCESS, None

    def on_n_get(self, asce, ctx, sop_instance_uid, attribute_identifiers):
        self.log.append(('get', sop_instance_uid, attribute_identifiers))
        if sop_instance_uid not in self.sessions:
            return 0x0112, None
        return statuses.SUCCESS, self.sessions[sop_instance_uid]

    def on_n_set(self, asce, ctx, sop_instance_uid, modification_list):
        self.sessions[sop_instance_uid].update(modification_list)
        self.log.append(('set', sop_instance_uid))
        return statuses.SUCCESS, None

    def on_n_action(self, asce, ctx, sop_instance_uid, action_type_id, action_information):
        self.log.append(('action', sop_instance_uid, action_type_id))
        return statuses.SUCCESS, attributes(PrintJobID='JOB7')

    def on_n_delete(self, asce, ctx, sop_instance_uid):
        self.log.append(('delete', sop_instance_uid))
        del self.sessions[sop_instance_uid]
        return statuses.SUCCESS, None

    def on_n_event_report(self, asce, ctx, sop_instance_uid, event_type_id, event_information):
        self.log.append(('report', sop_instance_uid, event_type_id))
        return statuses.SUCCESS, None


def test_pynetdicom_nservices_to_our_nservice_scp(serve):
    scp = FilmSessions()
    ours = ae.AE(OUR_AET, 0, bind_and_activate=False).add_scp(scp)
    peer = their_ae('PYNDSCU')
    peer.add_requested_context(FILM_SESSION)
    session = generate_uid()
    with serve(ours) as port:
        assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET)
        try:
            assert assoc.is_established
            created = assoc.send_n_create(
                attributes(FilmSessionLabel='L', NumberOfCopies=1), FILM_SESSION, session)
            got = assoc.send_n_get([0x20000010, 0x20000030], FILM_SESSION, session)
            changed = assoc.send_n_set(attributes(NumberOfCopies=4), FILM_SESSION, session)
            again = assoc.send_n_get([0x20000010], FILM_SESSION, session)
            printed = assoc.send_n_action(None, 1, FILM_SESSION, session)
            reported = assoc.send_n_event_report(
                attributes(ExecutionStatus='DONE'), 2, FILM_SESSION, session)
            deleted = assoc.send_n_delete(FILM_SESSION, session)
            missing = assoc.send_n_get([0x20000010], FILM_SESSION, session)
        finally:
            finish(assoc)
    assert created[0].Status == 0
    assert got[0].Status == 0 and got[1].NumberOfCopies == 1
    assert changed[0].Status == 0
    assert again[1].NumberOfCopies == 4 and again[1].FilmSessionLabel == 'L'
    assert printed[0].Status == 0 and printed[1].PrintJobID == 'JOB7'
    assert reported[0].Status == 0
    assert deleted.Status == 0
    assert missing[0].Status == 0x0112 and missing[1] is None
    assert [entry[0] for entry in scp.log] == [
        'create', 'get', 'set', 'get', 'action', 'report', 'delete', 'get']
    assert scp.log[1] == ('get', session, [0x20000010, 0x20000030])
    assert scp.log[3] == ('get', session, [0x20000010])
    assert scp.log[4] == ('action', session, 1)


# --- MPPS --------------------------------------------------------------------------------------


def mpps_in_progress() -> Dataset:
    ds = attributes(
        PatientName='Doe^John', PatientID='42', Modality='CT',
        PerformedStationAETitle='MODALITY', PerformedProcedureStepID='PPS1',
        PerformedProcedureStepStartDate='20240131', PerformedProcedureStepStartTime='101010',
        PerformedProcedureStepStatus='IN PROGRESS', PerformedProcedureStepEndDate='',
        PerformedProcedureStepEndTime='',
    )
    step = Dataset()
    step.StudyInstanceUID = generate_uid()
    ds.ScheduledStepAttributesSequence = [step]
    return ds


def mpps_completed() -> Dataset:
    return attributes(
        PerformedProcedureStepStatus='COMPLETED', PerformedProcedureStepEndDate='20240131',
        PerformedProcedureStepEndTime='103000',
    )


def test_pynetdicom_mpps_to_our_scp(serve):
    scp = sc.ModalityPerformedProcedureStep()
    ours = ae.AE(OUR_AET, 0, bind_and_activate=False).add_scp(scp)
    peer = their_ae('MODALITY')
    peer.add_requested_context(MPPS)
    step = generate_uid()
    with serve(ours) as port:
        assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET)
        try:
            assert assoc.is_established
            created, _ = assoc.send_n_create(mpps_in_progress(), MPPS, step)
            completed, _ = assoc.send_n_set(mpps_completed(), MPPS, step)
            late, _ = assoc.send_n_set(mpps_completed(), MPPS, step)
        finally:
            finish(assoc)
    assert (created.Status, completed.Status, late.Status) == (0, 0, 0x0110)
    assert scp.instances[step].PerformedProcedureStepStatus == 'COMPLETED'
    assert scp.instances[step].PatientID == '42'


def test_our_mpps_scu_to_pynetdicom():
    steps: dict[str, Dataset] = {}

    def on_create(event):
        uid = event.request.AffectedSOPInstanceUID or generate_uid()
        steps[uid] = event.attribute_list
        reply = Dataset()
        if event.request.AffectedSOPInstanceUID is None:
            reply.AffectedSOPInstanceUID = uid  # pynetdicom's way to return an assigned UID
        return 0x0000, reply

    def on_set(event):
        uid = event.request.RequestedSOPInstanceUID
        if uid not in steps:
            return 0x0112, None
        steps[uid].update(event.modification_list)
        return 0x0000, None

    client = bounded(ae.ClientAE('MODALITY')).add_scu(sc.mpps_scu)
    with TheirServer([MPPS], [(evt.EVT_N_CREATE, on_create), (evt.EVT_N_SET, on_set)]) as port:
        with client.request_association(remote(port)) as assoc:
            mpps = assoc.get_scu(MPPS)
            created = mpps('n_create', mpps_in_progress(), 1)
            done = mpps('n_set', created.sop_instance_uid, mpps_completed(), 2)
            unknown = mpps('n_set', generate_uid(), mpps_completed(), 3)
    assert created.status.is_success and created.sop_instance_uid in steps
    assert done.status.is_success
    assert int(unknown.status) == 0x0112
    assert steps[created.sop_instance_uid].PerformedProcedureStepStatus == 'COMPLETED'


# --- Storage Commitment ------------------------------------------------------------------------


class Archive(ae.AE):
    """Our performer: commits everything but the instances in ``missing``."""

    def __init__(self, report_port: int) -> None:
        super().__init__(OUR_AET, 0, bind_and_activate=False)
        self.add_scp(sc.StorageCommitment())
        self.report_port = report_port
        self.missing: set[str] = set()

    def on_commitment_request(self, remote_aet, uids_iter):
        pairs = list(uids_iter)
        success = [(c, i) for c, i in pairs if i not in self.missing]
        failure = [(c, i, sc.StorageCommitment.NO_SUCH_OBJECT_INSTANCE)
                   for c, i in pairs if i in self.missing]
        return remote(self.report_port, remote_aet), success, failure


def commitment_request(transaction: str, pairs) -> Dataset:
    ds = Dataset()
    ds.TransactionUID = transaction
    ds.ReferencedSOPSequence = [
        attributes(ReferencedSOPClassUID=c, ReferencedSOPInstanceUID=i) for c, i in pairs]
    return ds


@pytest.mark.parametrize('their_roles', [False, True], ids=['default-roles', 'both-roles'])
def test_pynetdicom_commitment_to_our_scp_reports_on_a_new_association(serve, their_roles):
    """Our report proposes the SCP role (PS3.4 J.3.3.1.3); pynetdicom accepts it whether
    its context configures role selection or not."""
    reports: queue.Queue = queue.Queue()

    def on_report(event):
        reports.put((event.request.MessageID, event.event_type, event.request.AffectedSOPClassUID,
                     event.request.AffectedSOPInstanceUID, event.event_information,
                     event.assoc.requestor.ae_title))
        return 0x0000, None

    pairs = [(CT, generate_uid()) for _ in range(3)]
    transaction = generate_uid()
    listener = TheirServer([COMMITMENT], [(evt.EVT_N_EVENT_REPORT, on_report)],
                           ae_title='PYNDSCU', roles=their_roles)
    with listener as report_port:
        archive = Archive(report_port)
        archive.missing = {pairs[2][1]}
        with serve(archive) as port:
            peer = their_ae('PYNDSCU')
            peer.add_requested_context(COMMITMENT)
            assoc = peer.associate('127.0.0.1', port, ae_title=OUR_AET)
            try:
                assert assoc.is_established
                status, _ = assoc.send_n_action(
                    commitment_request(transaction, pairs), 1, COMMITMENT, COMMITMENT_INSTANCE,
                    msg_id=17)
                # the report is sent before our AE reads the release request
            finally:
                finish(assoc)
        message_id, event_type, sop_class, instance, info, calling = reports.get(
            timeout=PEER_TIMEOUT)
    assert status.Status == 0
    assert (message_id, event_type) == (1, 2)
    assert (sop_class, instance, calling) == (COMMITMENT, COMMITMENT_INSTANCE, OUR_AET)
    assert info.TransactionUID == transaction
    assert [(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID)
            for i in info.ReferencedSOPSequence] == pairs[:2]
    (failed,) = info.FailedSOPSequence
    assert (failed.ReferencedSOPInstanceUID, failed.FailureReason) == (pairs[2][1], 0x0112)


class Modality(ae.AE):
    """Our requester: asks for commitment, takes the result."""

    def __init__(self, register_scu: bool = True) -> None:
        super().__init__('MODALITY', 0, bind_and_activate=False)
        self.add_scp(sc.StorageCommitment())
        if register_scu:
            self.add_scu(sc.storage_commitment_scu)
        self.results: queue.Queue = queue.Queue()

    def on_commitment_response(self, transaction_uid, success_iter, failure_iter):
        self.results.put((transaction_uid, list(success_iter), list(failure_iter)))


@pytest.mark.parametrize('listener_is_scu', [True, False], ids=['same-ae', 'scp-only-listener'])
@pytest.mark.parametrize('propose_scp_role', [False, True], ids=['no-role', 'scp-role'])
def test_our_commitment_scu_to_pynetdicom_which_reports_back(serve, propose_scp_role,
                                                             listener_is_scu):
    """The result comes back to our listening AE, which asked itself or let a ClientAE ask
    (then it registered only StorageCommitment(), and still grants the SCP role)."""
    asked: queue.Queue = queue.Queue()

    def on_action(event):
        asked.put((event.request.MessageID, event.action_type,
                   event.request.RequestedSOPInstanceUID, event.action_information))
        return 0x0000, None

    modality = bounded(Modality(register_scu=listener_is_scu))
    asking = modality if listener_is_scu else bounded(
        ae.ClientAE('MODALITY').add_scu(sc.storage_commitment_scu))
    pairs = [(CT, generate_uid()) for _ in range(2)]
    transaction = generate_uid()
    with serve(modality) as our_port, TheirServer(
            [COMMITMENT], [(evt.EVT_N_ACTION, on_action)]) as their_port:
        with asking.request_association(remote(their_port)) as assoc:
            status = assoc.get_scu(COMMITMENT)(transaction, pairs, 5)
        message_id, action_type, instance, information = asked.get(timeout=PEER_TIMEOUT)
        # pynetdicom's performer reports on an association of its own.
        reporter = their_ae('PYNDSCP')
        reporter.add_requested_context(COMMITMENT)
        roles = [build_role(COMMITMENT, scu_role=False, scp_role=True)] if propose_scp_role else []
        report_assoc = reporter.associate('127.0.0.1', our_port, ae_title='MODALITY',
                                          ext_neg=roles)
        try:
            assert report_assoc.is_established
            result = Dataset()
            result.TransactionUID = information.TransactionUID
            result.ReferencedSOPSequence = information.ReferencedSOPSequence[:1]
            failed = attributes(
                ReferencedSOPClassUID=pairs[1][0], ReferencedSOPInstanceUID=pairs[1][1],
                FailureReason=0x0110)
            result.FailedSOPSequence = [failed]
            report_status, _ = report_assoc.send_n_event_report(
                result, 2, COMMITMENT, COMMITMENT_INSTANCE)
        finally:
            finish(report_assoc)
        tuid, success, failure = modality.results.get(timeout=PEER_TIMEOUT)
    assert status.is_success
    assert (message_id, action_type, instance) == (5, 1, COMMITMENT_INSTANCE)
    assert [(i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID)
            for i in information.ReferencedSOPSequence] == pairs
    assert report_status.Status == 0
    assert (tuid, success, failure) == (transaction, pairs[:1], [(*pairs[1], 0x0110)])

