"""Storage Commitment Push Model (PS3.4 Annex J), both roles, on loopback.

The requester (a listening AE with ``storage_commitment_scu`` and ``StorageCommitment()``)
sends an N-ACTION to the performer; the performer answers it, asks its
``on_commitment_request`` hook where to report, and sends the result as an N-EVENT-REPORT on a
new association that proposes the SCP role (PS3.4 J.3.3.1.3), where the requester's
``on_commitment_response`` receives it. Message IDs and the responses' Message ID Being
Responded To are checked on the messages themselves.

Every report is complete when the requester's association is released: the performer sends
it from the thread serving that association, before it reads the release request.
"""

from __future__ import annotations

import logging
import queue

import pytest
from aetools import fast, remote, serving
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import dsutils, uids
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import EventHandlingError, NetDICOMError
from pynetdicom2.userdataitems import ScpScuRoleSelectionSubItem

COMMITMENT = uids.STORAGE_COMMITMENT_SOP_CLASS
INSTANCE = sc.STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE
CT = uids.CT_IMAGE_STORAGE
MR = uids.MR_IMAGE_STORAGE
GET_TIMEOUT = 5.0


class RecordingCommitment(sc.StorageCommitment):
    """StorageCommitment that also records the N-EVENT-REPORT-RQs it answers."""

    def __init__(self) -> None:
        self.reports: queue.Queue[dm.NEventReportRQMessage] = queue.Queue()
        self.contexts: list = []

    def n_event_report(self, asce, ctx, msg):  # type: ignore[override]
        self.reports.put(msg)
        self.contexts.append(ctx)
        sc.StorageCommitment.n_event_report(asce, ctx, msg)


class Requester(ae.AE):
    """The AE that asks for commitment and receives the result."""

    def __init__(self, register_scu: bool = True) -> None:
        super().__init__('MODALITY', 0, host='127.0.0.1')
        self.commitment = RecordingCommitment()
        self.add_scp(self.commitment)
        if register_scu:
            self.add_scu(sc.storage_commitment_scu)
        self.results: queue.Queue[tuple] = queue.Queue()
        self.requests: list = []
        self.refuse = False

    def on_association_request(self, asce, rq):
        self.requests.append(rq)

    def on_commitment_response(self, transaction_uid, success_iter, failure_iter):
        if self.refuse:
            raise EventHandlingError('not now')
        self.results.put((transaction_uid, list(success_iter), list(failure_iter)))


class Performer(ae.AE):
    """The archive: commits what it was told to, reports where it was told to."""

    def __init__(self) -> None:
        super().__init__('ARCHIVE', 0, host='127.0.0.1')
        self.add_scp(sc.StorageCommitment()).add_scp(sc.verification_scp)
        self.report_to: object = None
        self.failed: set[str] = set()
        self.asked: list[tuple[str, list]] = []
        self.refuse = False

    def on_commitment_request(self, remote_aet, uids_iter):
        pairs = list(uids_iter)
        self.asked.append((remote_aet, pairs))
        if self.refuse:
            raise EventHandlingError('disk on fire')
        success = [(c, i) for c, i in pairs if i not in self.failed]
        failure = [(c, i, self.NO_SUCH_OBJECT) for c, i in pairs if i in self.failed]
        return self.report_to, success, failure

    NO_SUCH_OBJECT = sc.StorageCommitment.NO_SUCH_OBJECT_INSTANCE


def client(requester: Requester) -> ae.AE:
    return fast(requester)


def _plain_requester() -> ae.ClientAE:
    """A requester that does not listen: it cannot receive the result."""
    scu = fast(ae.ClientAE('MODALITY'))
    return scu.add_scu(sc.storage_commitment_scu).add_scu(sc.verification_scu)


def instances(count: int) -> list[tuple[str, str]]:
    return [(CT if n % 2 else MR, generate_uid()) for n in range(count)]


def request(requester: Requester, performer: Performer, transaction_uid: str, pairs, msg_id=1):
    with client(requester).request_association(remote(performer)) as assoc:
        return assoc.get_scu(COMMITMENT)(transaction_uid, pairs, msg_id)


def test_commitment_result_comes_back_on_a_new_association():
    requester, performer = Requester(), Performer()
    pairs = instances(3)
    performer.failed = {pairs[1][1]}
    transaction = generate_uid()
    with serving(requester), serving(performer):
        performer.report_to = remote(requester)
        status = request(requester, performer, transaction, pairs, msg_id=7)
        assert status.is_success
        tuid, success, failure = requester.results.get(timeout=GET_TIMEOUT)
    assert performer.asked == [('MODALITY', pairs)]
    assert tuid == transaction
    assert success == [pairs[0], pairs[2]]
    assert failure == [(*pairs[1], 0x0112)]
    # The report: its own Message ID, on its own association, from the performer's AE title.
    report = requester.commitment.reports.get_nowait()
    assert report.message_id == 1
    assert report.event_type_id == 2
    assert report.sop_class_uid == COMMITMENT
    assert report.affected_sop_instance_uid == INSTANCE
    assert [rq.calling_ae_title for rq in requester.requests] == ['ARCHIVE']
    # PS3.4 J.3.3.1.3: the performer proposed the SCP role.
    roles = [
        item for variable in requester.requests[0].variable_items
        if hasattr(variable, 'user_data') for item in variable.user_data
        if isinstance(item, ScpScuRoleSelectionSubItem)
    ]
    assert [(r.sop_class_uid, r.scu_role, r.scp_role) for r in roles] == [(COMMITMENT, 0, 1)]


def test_all_committed_is_event_type_1_without_a_failed_sequence():
    requester, performer = Requester(), Performer()
    pairs = instances(2)
    with serving(requester), serving(performer):
        performer.report_to = remote(requester)
        assert request(requester, performer, generate_uid(), pairs).is_success
        _, success, failure = requester.results.get(timeout=GET_TIMEOUT)
    assert (success, failure) == (pairs, [])
    report = requester.commitment.reports.get_nowait()
    assert report.event_type_id == 1
    ts = requester.commitment.contexts[0].supported_ts
    information = dsutils.decode(report.data_set, ts.is_implicit_VR, ts.is_little_endian)
    assert 'FailedSOPSequence' not in information
    assert len(information.ReferencedSOPSequence) == 2


def test_the_report_may_go_to_a_remote_ae_config_and_the_action_response_echoes_the_request():
    requester, performer = Requester(), Performer()
    with serving(requester), serving(performer):
        from pynetdicom2.asceprovider import RemoteAEConfig

        performer.report_to = RemoteAEConfig(**remote(requester))
        with client(requester).request_association(remote(performer)) as assoc:
            pc_id = assoc.sop_classes_as_scu[COMMITMENT][0]
            rq = dm.NActionRQMessage()
            rq.message_id = 42
            rq.sop_class_uid = COMMITMENT
            rq.requested_sop_instance_uid = INSTANCE
            rq.action_type_id = 1
            information = Dataset()
            information.TransactionUID = generate_uid()
            item = Dataset()
            item.ReferencedSOPClassUID = CT
            item.ReferencedSOPInstanceUID = generate_uid()
            information.ReferencedSOPSequence = [item]
            ts = assoc.accepted_contexts[pc_id].supported_ts
            rq.data_set = dsutils.encode(information, ts.is_implicit_VR, ts.is_little_endian)
            assoc.send(rq, pc_id)
            rsp, rsp_pc = assoc.receive()
        assert isinstance(rsp, dm.NActionRSPMessage) and rsp_pc == pc_id
        assert rsp.message_id_being_responded_to == 42
        assert rsp.status == 0
        assert rsp.action_type_id == 1
        assert rsp.sop_class_uid == COMMITMENT
        assert rsp.affected_sop_instance_uid == INSTANCE
        assert requester.results.get(timeout=GET_TIMEOUT)[0] == information.TransactionUID


def raw_action(assoc, action_type=1, instance=INSTANCE, information=None, msg_id=3):
    pc_id = assoc.sop_classes_as_scu[COMMITMENT][0]
    rq = dm.NActionRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = COMMITMENT
    rq.requested_sop_instance_uid = instance
    rq.action_type_id = action_type
    if information is not None:
        rq.data_set = dsutils.encode(information, False, True)
    assoc.send(rq, pc_id)
    rsp, _ = assoc.receive()
    assert rsp.message_id_being_responded_to == msg_id
    return rsp.status


def test_malformed_requests_are_refused_with_their_status():
    requester, performer = Requester(), Performer()
    good = Dataset()
    good.TransactionUID = generate_uid()
    good.ReferencedSOPSequence = [Dataset()]
    good.ReferencedSOPSequence[0].ReferencedSOPClassUID = CT
    good.ReferencedSOPSequence[0].ReferencedSOPInstanceUID = generate_uid()
    no_transaction = Dataset()
    no_transaction.ReferencedSOPSequence = good.ReferencedSOPSequence
    with serving(requester), serving(performer):
        ts_client = ae.ClientAE('SCU', [uids.ExplicitVRLittleEndian])
        ts_client.add_scu(sc.storage_commitment_scu)
        with ts_client.request_association(remote(performer)) as assoc:
            assert raw_action(assoc, action_type=2, information=good) == 0x0123
            assert raw_action(assoc, instance='1.2.3.4', information=good) == 0x0112
            assert raw_action(assoc, information=None) == 0x0115
            assert raw_action(assoc, information=no_transaction) == 0x0115
            assert raw_action(assoc, information=Dataset()) == 0x0115
    assert performer.asked == []
    assert requester.results.empty()


def test_a_refusing_hook_answers_processing_failure_and_reports_nothing():
    requester, performer = Requester(), Performer()
    performer.refuse = True
    with serving(requester), serving(performer):
        performer.report_to = remote(requester)
        assert int(request(requester, performer, generate_uid(), instances(1))) == 0x0110
    assert requester.results.empty() and requester.requests == []


def test_no_remote_means_no_report():
    requester, performer = Requester(), Performer()
    with serving(requester), serving(performer):
        performer.report_to = None
        assert request(requester, performer, generate_uid(), instances(1)).is_success
    assert len(performer.asked) == 1
    assert requester.results.empty() and requester.requests == []


def test_an_unreachable_report_destination_is_logged_and_the_association_goes_on(caplog):
    requester, performer = Requester(), Performer()
    with serving(requester):
        gone = remote(requester)
    with serving(performer):
        performer.connect_timeout = 2.0
        performer.report_to = gone
        with caplog.at_level(logging.WARNING, logger='pynetdicom2.sopclass'):
            with _plain_requester().request_association(remote(performer)) as assoc:
                assert assoc.get_scu(COMMITMENT)(generate_uid(), instances(1), 1).is_success
                assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(2).is_success
    assert 'could not send the storage commitment result' in caplog.text




def test_a_refused_report_is_answered_processing_failure(caplog):
    requester, performer = Requester(), Performer()
    requester.refuse = True
    with serving(requester), serving(performer):
        performer.report_to = remote(requester)
        with caplog.at_level(logging.WARNING, logger='pynetdicom2.sopclass'):
            assert request(requester, performer, generate_uid(), instances(1)).is_success
    assert requester.commitment.reports.qsize() == 1
    assert 'was answered (0x110) Failure' in caplog.text


def test_results_reach_an_ae_that_only_registered_storage_commitment():
    """The AE listening for results need not be the commitment SCU that asked (a separate
    ClientAE may ask): registering StorageCommitment() is enough to grant the SCP role the
    reporter proposes (PS3.4 J.3.3.1.3), since that service performs the N-EVENT-REPORT."""
    requester, performer = Requester(register_scu=False), Performer()
    with serving(requester), serving(performer):
        performer.report_to = remote(requester)
        transaction = generate_uid()
        with _plain_requester().request_association(remote(performer)) as assoc:
            assert assoc.get_scu(COMMITMENT)(transaction, instances(1), 1).is_success
        assert requester.results.get(timeout=GET_TIMEOUT)[0] == transaction


def test_an_ae_without_storage_commitment_refuses_the_scp_role(caplog):
    listener, performer = ae.AE('MODALITY', 0, host='127.0.0.1'), Performer()
    listener.add_scp(sc.verification_scp)
    with serving(listener), serving(performer):
        performer.report_to = remote(listener)
        with caplog.at_level(logging.WARNING, logger='pynetdicom2.sopclass'):
            with _plain_requester().request_association(remote(performer)) as assoc:
                assert assoc.get_scu(COMMITMENT)(generate_uid(), instances(1), 1).is_success
    assert 'could not send the storage commitment result' in caplog.text


def report_message(event_type: int, information: Dataset | None, msg_id: int = 9):
    rq = dm.NEventReportRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = COMMITMENT
    rq.affected_sop_instance_uid = INSTANCE
    rq.event_type_id = event_type
    if information is not None:
        rq.data_set = dsutils.encode(information, False, True)
    return rq


def test_results_without_role_selection_and_malformed_ones():
    """A reporter that proposes no role (as pynetdicom does by default) reaches the
    StorageCommitment SCP too; the response echoes the request; bad reports fail."""
    requester = Requester()
    transaction = generate_uid()
    information = Dataset()
    information.TransactionUID = transaction
    failed = Dataset()
    failed.ReferencedSOPClassUID = CT
    failed.ReferencedSOPInstanceUID = generate_uid()
    failed.FailureReason = 0x0119
    information.FailedSOPSequence = [failed]
    reporter = ae.ClientAE('ARCHIVE', [uids.ExplicitVRLittleEndian])
    reporter.add_scu(sc.n_event_report_scu, [COMMITMENT])
    with serving(requester):
        with reporter.request_association(remote(requester)) as assoc:
            pc_id = assoc.sop_classes_as_scu[COMMITMENT][0]
            for event_type, data, expected in [
                (2, information, 0),
                (3, information, 0x0113),
                (1, None, 0x0110),
                (1, Dataset(), 0x0110),
            ]:
                assoc.send(report_message(event_type, data, msg_id=11), pc_id)
                rsp, _ = assoc.receive()
                assert isinstance(rsp, dm.NEventReportRSPMessage)
                assert rsp.message_id_being_responded_to == 11
                assert (rsp.status, rsp.event_type_id) == (expected, event_type)
                assert rsp.affected_sop_instance_uid == INSTANCE
                assert rsp.sop_class_uid == COMMITMENT
    tuid, success, failure = requester.results.get_nowait()
    assert (tuid, success) == (transaction, [])
    assert failure == [(CT, failed.ReferencedSOPInstanceUID, 0x0119)]
    assert requester.results.empty()


def test_the_default_hooks_refuse():
    plain = ae.AE('PLAIN', 0, bind_and_activate=False)
    with pytest.raises(EventHandlingError):
        plain.on_commitment_request('X', iter(()))
    with pytest.raises(EventHandlingError):
        plain.on_commitment_response('1.2', iter(()), iter(()))
    plain.quit()


def test_the_scu_needs_a_transaction_and_instances():
    with pytest.raises(NetDICOMError, match='transaction UID'):
        sc.storage_commitment_scu(None, None, generate_uid(), [], 1)
    with pytest.raises(NetDICOMError, match='transaction UID'):
        sc.storage_commitment_scu(None, None, '', instances(1), 1)


def test_contract_names():
    assert sc.STORAGE_COMMITMENT_PUSH_MODEL_SOP_CLASS == '1.2.840.10008.1.20.1.1'
    assert sc.StorageCommitment.sop_classes == [COMMITMENT]
    assert sc.StorageCommitment.store_in_file is False
    assert sc.storage_commitment_scu.sop_classes == [COMMITMENT]
    codes = sc.StorageCommitment
    assert (codes.PROCESSING_FAILURE, codes.NO_SUCH_OBJECT_INSTANCE, codes.RESOURCE_LIMITATION,
            codes.REFERENCED_SOP_CLASS_NOT_SUPPORTED, codes.CLASS_OR_INSTANCE_CONFLICT,
            codes.DUPLICATE_TRANSACTION_UID) == (0x0110, 0x0112, 0x0213, 0x0122, 0x0119, 0x0131)


# --- results on the requester's own association (PS3.4 J.3.3.1.2) -----------------------------


class SameAssociationPerformer(sc.MessageDispatcherSCP):
    """A performer that reports on the requester's association: before its N-ACTION-RSP
    (while the SCU waits for it) or after it; records the report's response."""

    sop_classes = [COMMITMENT]

    def __init__(self, before: bool) -> None:
        self.before = before
        self.answers: list = []

    def n_action(self, asce, ctx, msg):
        ts = ctx.supported_ts
        request = dsutils.decode(msg.data_set, ts.is_implicit_VR, ts.is_little_endian)
        result = Dataset()
        result.TransactionUID = request.TransactionUID
        result.ReferencedSOPSequence = request.ReferencedSOPSequence

        def report() -> None:
            self.answers.append(sc.n_event_report_scu(asce, ctx, INSTANCE, 1, 1, result))

        if self.before:
            report()
        rsp = dm.NActionRSPMessage()
        rsp.message_id_being_responded_to = msg.message_id
        rsp.sop_class_uid = COMMITMENT
        rsp.status = 0
        asce.send(rsp, ctx.id)
        if not self.before:
            report()


@pytest.mark.parametrize('before', [True, False], ids=['before-response', 'after-response'])
def test_a_result_on_the_requesters_association(before):
    requester, performer_scp = Requester(), SameAssociationPerformer(before)
    performer = ae.AE('ARCHIVE', 0, host='127.0.0.1').add_scp(performer_scp)
    pairs = instances(2)
    transaction = generate_uid()
    with serving(requester), serving(performer):
        with client(requester).request_association(remote(performer)) as assoc:
            assert assoc.get_scu(COMMITMENT)(transaction, pairs, 3).is_success
            if not before:
                sc.wait_for_event_report(assoc, timeout=GET_TIMEOUT)
            assert assoc.get_scu(COMMITMENT)(transaction, pairs, 4).is_success
            if not before:
                sc.wait_for_event_report(assoc, timeout=GET_TIMEOUT)
    results = [requester.results.get_nowait() for _ in range(2)]
    assert results == [(transaction, pairs, [])] * 2
    assert [answer.status.is_success for answer in performer_scp.answers] == [True, True]
    assert [answer.message.message_id_being_responded_to
            for answer in performer_scp.answers] == [1, 1]


def test_wait_for_event_report_refuses_anything_else_and_a_client_ae_answers_0122():
    from pynetdicom2.exceptions import DIMSEProcessingError

    class Chatty(sc.MessageDispatcherSCP):
        sop_classes = [COMMITMENT]

        def n_action(self, asce, ctx, msg):
            rsp = dm.NActionRSPMessage()
            rsp.message_id_being_responded_to = msg.message_id
            rsp.status = 0
            asce.send(rsp, ctx.id)
            self.answer = sc.n_event_report_scu(asce, ctx, INSTANCE, 1, 1, Dataset())
            asce.send(rsp, ctx.id)  # a second response: to a request no longer outstanding

    chatty = Chatty()
    performer = ae.AE('ARCHIVE', 0, host='127.0.0.1').add_scp(chatty)
    with serving(performer):
        with _plain_requester().request_association(remote(performer)) as assoc:
            assert assoc.get_scu(COMMITMENT)(generate_uid(), instances(1), 1).is_success
            sc.wait_for_event_report(assoc, timeout=GET_TIMEOUT)  # no SCP here: 0122H
            with pytest.raises(DIMSEProcessingError,
                               match='NActionRSPMessage to message 1, which is not a request'):
                sc.wait_for_event_report(assoc, timeout=GET_TIMEOUT)
    assert int(chatty.answer.status) == 0x0122


def test_a_destination_that_is_not_an_ae_is_logged(caplog):
    performer = Performer()
    with serving(performer):
        performer.report_to = 'MODALITY'  # an AE title is not enough to connect
        with caplog.at_level(logging.WARNING, logger='pynetdicom2.sopclass'):
            with _plain_requester().request_association(remote(performer)) as assoc:
                assert assoc.get_scu(COMMITMENT)(generate_uid(), instances(1), 1).is_success
    assert "on_commitment_request named 'MODALITY'" in caplog.text
