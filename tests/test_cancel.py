"""C-CANCEL (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3) in both roles.

Requester: closing a C-FIND/C-MOVE generator or a C-GET operation before its final response
sends a C-CANCEL-RQ and reads the responses up to the final one, so the association serves the
next request. Acceptor: a C-CANCEL-RQ arriving between two responses stops the handler's
iterator and is answered FE00H with the counts so far; one for another message is ignored;
a request arriving meanwhile waits for the running one to end (the association's deferred
messages).

The handlers below never run out (they are bounded only so that a broken cancel fails the test
instead of hanging it), so the cancel always lands while the operation runs.
"""

from __future__ import annotations

import threading
import time

import pytest
from aetools import dataset, fast, p_data, raw_associate, read_message, remote, serving
from pydicom.dataset import Dataset
from ulpeer import A_RELEASE_RP, A_RELEASE_RQ

import pynetdicom2
from pynetdicom2 import applicationentity as ae
from pynetdicom2 import commands, statuses, uids
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import DCMTimeoutError, NetDICOMError
from pynetdicom2.operations import MessageRouter
from pynetdicom2.services import query as query_service  # aliased: query() is defined below
from pynetdicom2.services import retrieve

CT = uids.CT_IMAGE_STORAGE
ECHO = uids.VERIFICATION_SOP_CLASS
FIND = uids.STUDY_ROOT_FIND_SOP_CLASS
MOVE = uids.STUDY_ROOT_MOVE_SOP_CLASS
GET = uids.STUDY_ROOT_GET_SOP_CLASS
IMPLICIT = uids.ImplicitVRLittleEndian

#: The handlers stop after this many seconds: a cancel that does not work fails the test
#: instead of hanging it.
BOUND_SECONDS = 10.0


def query() -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = 'STUDY'
    ds.StudyInstanceUID = ''
    return ds


class Endless(ae.AE):
    """A Q/R SCP whose matches do not run out; it notes when its iterators are closed."""

    def __init__(self, find_count: int | None = None) -> None:
        super().__init__('QRSCP', 0, host='127.0.0.1')
        self.find_count = find_count
        self.closed = threading.Event()
        self.produced = 0
        self.destination: dict | None = None
        self.aborted: list = []
        self.add_scp(sc.qr_find_scp).add_scp(sc.qr_get_scp).add_scp(sc.qr_move_scp)
        self.add_scp(sc.verification_scp).add_scu(sc.storage_scu, [CT])

    def on_abort(self, asce, exc):
        self.aborted.append(exc)

    def _watched(self, items):
        try:
            yield from items
        finally:
            self.closed.set()

    def _endless(self):
        deadline = time.monotonic() + BOUND_SECONDS
        number = 0
        # As fast as it can: the DUL must still notice the C-CANCEL-RQ between responses.
        while time.monotonic() < deadline:
            yield number
            number += 1

    def _matches(self, count):
        for number in (range(count) if count is not None else self._endless()):
            self.produced += 1
            match = Dataset()
            match.QueryRetrieveLevel = 'STUDY'
            match.StudyInstanceUID = f'1.2.3.{number}'
            yield match, statuses.C_FIND_PENDING

    def _instances(self):
        for _ in self._endless():
            self.produced += 1
            yield dataset(CT)

    def on_receive_find(self, context, ds):
        return self._watched(self._matches(self.find_count))

    def on_receive_get(self, context, ds):
        return sc.MAX_SUB_OPERATIONS, self._watched(self._instances())

    def on_receive_move(self, context, ds, destination):
        return self.destination, sc.MAX_SUB_OPERATIONS, self._watched(self._instances())


def qr_client(directory=None) -> ae.ClientAE:
    client = fast(ae.ClientAE('QRSCU') if directory is None
                  else ae.ClientStorageAE(directory, 'QRSCU'))
    for service in (sc.qr_find_scu, sc.qr_move_scu, sc.qr_get_scu, sc.verification_scu):
        client.add_scu(service)
    return client.add_scu(sc.storage_scu, [CT])


@pytest.fixture
def cancels(monkeypatch):
    """The final responses the requester read after each C-CANCEL-RQ it sent."""
    finals = []
    original = query_service.cancel_request

    def spy(*args, **kwargs):
        rsp = original(*args, **kwargs)
        finals.append(rsp)
        return rsp

    # C-FIND cancels from the query module, C-MOVE and C-GET from the retrieve module.
    monkeypatch.setattr(query_service, 'cancel_request', spy)
    monkeypatch.setattr(retrieve, 'cancel_request', spy)
    return finals


# --- requester: closing the SCU generators ------------------------------------------------------


def test_leaving_a_find_loop_cancels_it(cancels):
    srv = Endless()
    with serving(srv):
        with qr_client().request_association(remote(srv)) as assoc:
            for match, status in assoc.get_scu(FIND)(query(), 1):
                assert status.is_pending and match.StudyInstanceUID == '1.2.3.0'
                break
            assert srv.closed.is_set()
            assert assoc.get_scu(ECHO)(2).is_success  # the association is in order
    assert [rsp.status for rsp in cancels] == [0xFE00]
    assert cancels[0].message_id_being_responded_to == 1
    assert not srv.aborted


def test_closing_a_find_generator_explicitly(cancels):
    srv = Endless()
    with serving(srv):
        with qr_client().request_association(remote(srv)) as assoc:
            results = assoc.get_scu(FIND)(query(), 7)
            assert next(results)[1].is_pending
            results.close()
            results.close()  # idempotent
            assert list(results) == []
            assert assoc.get_scu(ECHO)(8).is_success
    assert [rsp.status for rsp in cancels] == [0xFE00]
    assert cancels[0].message_id_being_responded_to == 7


def test_a_finished_find_sends_no_cancel(cancels):
    srv = Endless(find_count=2)
    with serving(srv):
        with qr_client().request_association(remote(srv)) as assoc:
            results = assoc.get_scu(FIND)(query(), 1)
            assert [int(s) for _, s in results] == [0xFF00, 0xFF00, 0]
            results.close()
            unstarted = assoc.get_scu(FIND)(query(), 2)
            unstarted.close()  # nothing was sent, nothing to cancel
            assert assoc.get_scu(ECHO)(3).is_success
    assert cancels == []


def test_closing_a_get_cancels_it_and_reports_the_counts(tmp_path, cancels):
    srv = Endless()
    with serving(srv):
        with qr_client(tmp_path).request_association(remote(srv)) as assoc:
            with assoc.get_scu(GET)(query(), 1) as get:
                for _ctx, _data in get:
                    break
            assert srv.closed.is_set()
            assert assoc.get_scu(ECHO)(2).is_success
    assert int(get.status) == 0xFE00 and get.status.is_cancel
    rsp = get.response
    assert rsp.num_of_completed_sub_ops >= 1
    assert rsp.num_of_remaining_sub_ops == sc.MAX_SUB_OPERATIONS - rsp.num_of_completed_sub_ops
    assert rsp.num_of_failed_sub_ops == 0
    # every sub-operation answered before the cancel took effect was kept
    assert len(list(tmp_path.glob('*.dcm'))) == rsp.num_of_completed_sub_ops


def test_dropping_a_get_operation_cancels_it(tmp_path, cancels):
    srv = Endless()
    with serving(srv):
        with qr_client(tmp_path).request_association(remote(srv)) as assoc:
            for _ctx, _data in assoc.get_scu(GET)(query(), 1):
                break
            assert assoc.get_scu(ECHO)(2).is_success
    assert [rsp.status for rsp in cancels] == [0xFE00]


def test_leaving_a_move_loop_cancels_it(tmp_path, cancels):
    srv = Endless()
    destination = ae.StorageAE(tmp_path, 'DEST', 0, host='127.0.0.1').add_scp(sc.storage_scp)
    with serving(destination) as dest:
        srv.destination = remote(dest)
        with serving(srv):
            with qr_client().request_association(remote(srv)) as assoc:
                for status, rsp in assoc.get_scu(MOVE)(query(), 'DEST', 1):
                    assert status.is_pending and rsp.num_of_completed_sub_ops == 1
                    break
                assert srv.closed.is_set()
                assert assoc.get_scu(ECHO)(2).is_success
    final = cancels[0]
    assert final.status == 0xFE00
    assert final.num_of_remaining_sub_ops + final.num_of_completed_sub_ops == (
        sc.MAX_SUB_OPERATIONS)
    assert len(list(tmp_path.glob('*.dcm'))) == final.num_of_completed_sub_ops


def test_commands_find_stopped_early_cancels_and_releases():
    srv = Endless()
    with serving(srv):
        found = commands.find('SCU', remote(srv), query())
        assert next(found).StudyInstanceUID == '1.2.3.0'
        found.close()
        assert srv.closed.is_set()
        for _match in pynetdicom2.find('SCU', remote(srv), query()):
            break
    assert srv.aborted == []  # released, not aborted


def test_a_cancel_that_gets_no_answer_aborts_the_association():
    release = threading.Event()
    stuck = threading.Event()

    class Stuck(Endless):
        def on_receive_find(self, context, ds):
            yield Dataset(), statuses.C_FIND_PENDING
            stuck.set()
            release.wait(5)  # stuck: the C-CANCEL-RQ gets no answer in time

    srv = Stuck()
    try:
        with serving(srv):
            client = qr_client()
            client.dcm_timeout = 0.3
            with client.request_association(remote(srv)) as assoc:
                results = assoc.get_scu(FIND)(query(), 1)
                next(results)
                assert stuck.wait(5)
                results.close()  # logged, not raised
                assert not assoc.association_established
            release.set()
    finally:
        release.set()


# --- acceptor: a C-CANCEL-RQ from a raw peer ----------------------------------------------------


def _find_request(msg_id: int) -> dm.CFindRQMessage:
    rq = dm.CFindRQMessage()
    rq.message_id = msg_id
    rq.sop_class_uid = FIND
    rq.priority = 0
    rq.data_set = pynetdicom2.dsutils.encode(query(), True, True)
    return rq


def _cancel_request(msg_id: int) -> dm.CCancelRQMessage:
    cancel = dm.CCancelRQMessage()
    cancel.message_id_being_responded_to = msg_id
    return cancel


def _send(peer, *messages) -> None:
    for msg in messages:
        for chunk in p_data(msg, 1):
            peer.send(chunk)


def _until_final(peer, msg_id: int) -> list[dm.DIMSEMessage]:
    responses = []
    while True:
        rsp = read_message(peer)
        responses.append(rsp)
        assert rsp.message_id_being_responded_to == msg_id
        if rsp.status not in (0xFF00, 0xFF01):
            return responses


@pytest.fixture
def raw_find():
    """``(server, peer)``: an Endless SCP and a raw peer associated on a C-FIND context."""
    def connect(srv):
        peer, _ = raw_associate(srv.local_ae.port, [(1, FIND, [IMPLICIT]), (3, ECHO, [IMPLICIT])])
        return peer
    return connect


def test_scp_answers_a_cancel_with_fe00_and_closes_the_handler(raw_find):
    srv = Endless()
    with serving(srv):
        with raw_find(srv) as peer:
            _send(peer, _find_request(3), _cancel_request(3))
            responses = _until_final(peer, 3)
            assert responses[-1].status == 0xFE00
            assert responses[-1].data_set is None
            assert srv.closed.is_set()
            peer.send(A_RELEASE_RQ)
            peer.expect(A_RELEASE_RP)


def test_scp_ignores_a_cancel_of_another_message(raw_find):
    srv = Endless(find_count=300)
    with serving(srv):
        with raw_find(srv) as peer:
            _send(peer, _find_request(3), _cancel_request(4))
            responses = _until_final(peer, 3)
            assert [r.status for r in responses] == [0xFF00] * 300 + [0]
            peer.send(A_RELEASE_RQ)
            peer.expect(A_RELEASE_RP)


def test_a_request_during_a_find_is_answered_after_it(raw_find):
    srv = Endless(find_count=300)
    echo = dm.CEchoRQMessage()
    echo.message_id = 4
    echo.sop_class_uid = ECHO
    with serving(srv):
        with raw_find(srv) as peer:
            _send(peer, _find_request(3))
            for chunk in p_data(echo, 3):
                peer.send(chunk)
            responses = _until_final(peer, 3)
            assert len(responses) == 301 and responses[-1].status == 0
            answer = read_message(peer)
            assert isinstance(answer, dm.CEchoRSPMessage)
            assert answer.message_id_being_responded_to == 4 and answer.status == 0
            peer.send(A_RELEASE_RQ)
            peer.expect(A_RELEASE_RP)


def test_cancel_check_consumes_its_cancel_and_leaves_the_rest_in_order():
    echo, find = dm.CEchoRQMessage(), _find_request(5)
    arrived = [(find, 1), (echo, 3), (_cancel_request(9), 1), (_cancel_request(5), 1),
               (echo, 5)]

    def fetch(timeout):
        if not arrived:
            raise DCMTimeoutError('nothing yet')
        return arrived.pop(0)

    router = MessageRouter(fetch, lambda primitive: NetDICOMError(str(primitive)))
    assert router.wait_unclaimed(0) == (find, 1)   # the C-FIND: a cancel of it is expected
    box = router.cancel_mailbox(5)
    assert box is not None
    assert router.wait(box, 0)[0].message_id_being_responded_to == 5
    with pytest.raises(DCMTimeoutError):
        router.wait(box, 0)                        # consumed: asked again, no cancel
    # the rest, a cancel of nothing running among them, in arrival order
    rest = [router.wait_unclaimed(0) for _ in range(3)]
    assert [type(m).__name__ for m, _ in rest] == ['CEchoRQMessage', 'CCancelRQMessage',
                                                   'CEchoRQMessage']


def test_association_poll_defer_and_receive_order():
    with serving(ae.AE('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)) as srv:
        client = fast(ae.ClientAE('SCU')).add_scu(sc.verification_scu)
        with client.request_association(remote(srv)) as assoc:
            assert assoc.poll() is None
            first, second = dm.CEchoRQMessage(), dm.CEchoRQMessage()
            assoc.defer(first, 1)
            assoc.defer(second, 1)
            # the deferred messages stand in front of anything new, in their order ...
            assert assoc.receive(1) == (first, 1)
            assoc.defer(first, 1)
            assert assoc.receive(1) == (second, 1)
            assert assoc.receive(1) == (first, 1)
            assert assoc.get_scu(ECHO)(1).is_success
