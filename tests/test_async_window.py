"""The Asynchronous Operations Window (PS3.7 D.3.3.3) and one association shared by threads.

Negotiation both ways (proposed or not, clipped, 0 as unlimited), requests performed at once
by an acceptor and answered out of order, threads sharing one association (stores, finds
and a C-CANCEL at once), an abort with 16 operations outstanding, and strict one-at-a-time
with a peer that grants no window. Interoperability at window 1 with DCMTK and pynetdicom is
in tests/interop/test_async_window_interop.py.
"""

from __future__ import annotations

import os
import threading

import pytest
from aetools import dataset, fast, remote, serving
from pydicom.dataset import Dataset
from wireobserver import WireObserver

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import apps, commands, negotiation, statuses, uids
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import (
    AssociationAbortedError,
    DIMSEProcessingError,
    NetDICOMError,
)
from pynetdicom2.loopback import write_dataset
from pynetdicom2.services import query as query_service
from pynetdicom2.services.base import response_for
from pynetdicom2.userdataitems import AsynchronousOperationsWindowSubItem

CT = uids.CT_IMAGE_STORAGE
FIND = uids.STUDY_ROOT_FIND_SOP_CLASS
ECHO = uids.VERIFICATION_SOP_CLASS
TIMEOUT = 10.0


def client(window=(16, 16)) -> ae.ClientAE:
    scu = fast(ae.ClientAE('SCU', async_window=window))
    for service in (sc.verification_scu, sc.qr_find_scu):
        scu.add_scu(service)
    return scu.add_scu(sc.storage_scu, [CT])


# --- negotiation --------------------------------------------------------------------------------


def _window_item(user_info):
    return next((i for i in user_info.user_data
                 if isinstance(i, AsynchronousOperationsWindowSubItem)), None)


def test_the_requester_sends_a_window_item_only_when_it_proposes_one():
    assert _window_item(negotiation.requester_user_information(16384)) is None
    items = negotiation.requester_user_information(16384, async_window=(16, 4)).user_data
    assert [i.item_type for i in items][:3] == [0x51, 0x52, 0x53]   # in sub-item type order
    assert (items[2].max_num_ops_invoked, items[2].max_num_ops_performed) == (16, 4)


@pytest.mark.parametrize('proposed, ours, reply', [
    (None, (16, 16), None),        # nothing proposed: no item, one at a time
    ((16, 16), (1, 1), (1, 1)),
    ((16, 2), (8, 4), (4, 2)),     # they invoke what we perform, we invoke what they perform
    ((2, 1), (16, 16), (2, 1)),    # never above the proposal
    ((0, 0), (4, 8), (8, 4)),      # 0 proposed: unlimited, so ours bounds it
    ((3, 0), (0, 0), (3, 0)),      # 0 ours: unlimited, so theirs bounds it (0 stays unlimited)
    ((0, 0), (0, 0), (0, 0)),
])
def test_the_acceptor_answers_a_window_within_the_proposal(proposed, ours, reply):
    rq = negotiation.pdu.AAssociateRqPDU('SCP', 'SCU', [
        negotiation.pdu.ApplicationContextItem(negotiation.APPLICATION_CONTEXT_NAME),
        *negotiation.presentation_context_items([(1, ECHO, uids.ImplicitVRLittleEndian)]),
        negotiation.requester_user_information(16384, async_window=proposed)])
    result = negotiation.negotiate_as_acceptor(rq, negotiation.AcceptorCapabilities(
        scp_classes={ECHO}, scu_classes=(), transfer_syntaxes=[uids.ImplicitVRLittleEndian],
        max_pdu_length=16384, max_operations=ours))
    item = _window_item(result.ac_items[-1])
    if reply is None:
        assert item is None and result.async_window == (1, 1)
    else:
        assert (item.max_num_ops_invoked, item.max_num_ops_performed) == reply
        assert result.async_window == reply


@pytest.mark.parametrize('client_window, server_window, agreed', [
    ((16, 16), (4, 4), (4, 4)),
    ((16, 16), None, (1, 1)),      # a server that states nothing answers (1, 1)
    (None, (4, 4), (1, 1)),        # nothing proposed, no window
    ((0, 0), (0, 0), (0, 0)),
])
def test_the_window_agreed_on_a_live_association(client_window, server_window, agreed):
    srv = ae.AE('SCP', 0, host='127.0.0.1', async_window=server_window)
    with serving(srv.add_scp(sc.verification_scp)):
        with client(client_window).request_association(remote(srv)) as assoc:
            assert assoc.async_window == agreed
            assert assoc.get_scu(ECHO)(assoc.new_message_id()).is_success


@pytest.mark.parametrize('window', [(1,), (-1, 1), (1, 65536), ('2', 2), 16])
def test_a_bad_window_is_refused_when_the_ae_is_made(window):
    with pytest.raises(NetDICOMError, match='async_window'):
        ae.ClientAE('SCU', async_window=window)


# --- an acceptor performing several requests at once ----------------------------------------


class Gate:
    """Counts the requests being performed at once and can hold them."""

    def __init__(self, hold: int = 0) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.barrier = threading.Barrier(hold) if hold else None

    def __enter__(self) -> Gate:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        if self.barrier is not None:
            self.barrier.wait(TIMEOUT)  # broken (an error) unless `hold` run at once
        return self

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.running -= 1


class GatedStorage(ae.StorageAE):
    def __init__(self, directory, gate: Gate, window=(4, 4)) -> None:
        super().__init__(directory, 'SCP', 0, host='127.0.0.1', async_window=window)
        self.gate = gate
        self.add_scp(sc.storage_scp).add_scp(sc.verification_scp)

    def on_receive_store(self, context, ds):
        with self.gate:
            return super().on_receive_store(context, ds)


def test_an_acceptor_performs_up_to_its_window_at_once(tmp_path):
    gate = Gate(hold=4)
    with serving(GatedStorage(tmp_path, gate)) as srv:
        with client().request_association(remote(srv)) as assoc:
            assert assoc.async_window == (4, 4)
            outcomes = list(assoc.store_many([dataset() for _ in range(12)]))
    assert [status.is_success for _, status in outcomes] == [True] * 12
    assert gate.most == 4 and len(os.listdir(tmp_path)) == 12


def test_without_a_window_one_request_at_a_time(tmp_path):
    gate = Gate()
    with serving(GatedStorage(tmp_path, gate, window=None)) as srv:
        with WireObserver(('127.0.0.1', srv.local_ae.port)) as wire:
            with client().request_association(wire.remote('SCP')) as assoc:
                assert assoc.async_window == (1, 1)
                outcomes = list(assoc.store_many([dataset() for _ in range(10)], window=8))
    assert all(status.is_success for _, status in outcomes)
    assert wire.rq_window == (16, 16) and wire.ac_window == (1, 1)
    assert wire.max_outstanding() == 1 and gate.most == 1 and not wire.errors


def test_responses_out_of_order_reach_their_requests():
    answered = [threading.Event() for _ in range(4)]
    barrier = threading.Barrier(4)

    @sc.sop_classes([CT])
    def reverse_order_scp(asce, ctx, msg):
        number = int(msg.affected_sop_instance_uid.rsplit('.', 1)[1])
        barrier.wait(TIMEOUT)              # all four are being performed at once
        if number < 3:
            assert answered[number + 1].wait(TIMEOUT)
        rsp = response_for(dm.CStoreRSPMessage, ctx, msg)
        rsp.affected_sop_instance_uid = msg.affected_sop_instance_uid
        rsp.status = int(statuses.SUCCESS)
        asce.send(rsp, ctx.id)
        answered[number].set()

    srv = ae.AE('SCP', 0, host='127.0.0.1', async_window=(4, 4)).add_scp(reverse_order_scp)
    sources = [dataset(SOPInstanceUID=f'1.2.826.0.1.3680043.2.1143.7.{n}') for n in range(4)]
    with serving(srv):
        with client().request_association(remote(srv)) as assoc:
            order = [source.SOPInstanceUID[-1] for source, _ in assoc.store_many(sources)]
    assert order == ['3', '2', '1', '0']


# --- threads sharing one association -----------------------------------------------------------


class SharedSCP(ae.StorageAE):
    """Stores, finds (five matches, or matches without end for PatientID ENDLESS) and echoes."""

    def __init__(self, directory) -> None:
        super().__init__(directory, 'SCP', 0, host='127.0.0.1', async_window=(8, 8))
        self.closed = threading.Event()
        for service in (sc.storage_scp, sc.verification_scp, sc.qr_find_scp):
            self.add_scp(service)

    def on_receive_find(self, context, ds):
        endless = ds.get('PatientID') == 'ENDLESS'
        try:
            number = 0
            while endless or number < 5:
                match = Dataset()
                match.QueryRetrieveLevel = 'STUDY'
                match.StudyInstanceUID = f'1.2.3.{number}'
                yield match, statuses.C_FIND_PENDING
                number += 1
                if number > 100_000:  # a cancel that never arrives fails the test
                    return
        finally:
            if endless:
                self.closed.set()


def _query(patient_id: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = 'STUDY'
    ds.PatientID = patient_id
    ds.StudyInstanceUID = ''
    return ds


def test_threads_share_one_association(tmp_path, monkeypatch):
    finals = []
    original = query_service.cancel_request

    def spy(*args, **kwargs):
        rsp = original(*args, **kwargs)
        finals.append(rsp.status)
        return rsp

    monkeypatch.setattr(query_service, 'cancel_request', spy)
    results: dict[str, object] = {}
    errors: list[BaseException] = []
    srv = SharedSCP(tmp_path)

    def storer(name, assoc):
        store = assoc.get_scu(CT)
        results[name] = [store(dataset(), assoc.new_message_id()).is_success for _ in range(10)]

    def finder(name, assoc):
        responses = list(assoc.get_scu(FIND)(_query(name), assoc.new_message_id()))
        results[name] = [status.is_pending for _, status in responses]

    def canceller(name, assoc):
        for _match, status in assoc.get_scu(FIND)(_query('ENDLESS'), assoc.new_message_id()):
            results[name] = status.is_pending
            break  # closing the generator sends C-CANCEL-RQ for this request only

    def echoer(name, assoc):
        results[name] = [assoc.get_scu(ECHO)(assoc.new_message_id()).is_success
                         for _ in range(10)]

    def run(work, name, assoc):
        try:
            work(name, assoc)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    with serving(srv):
        with client((8, 8)).request_association(remote(srv)) as assoc:
            assert assoc.async_window == (8, 8)
            workers = [threading.Thread(target=run, args=(work, name, assoc), name=name)
                       for work, name in [(storer, 's1'), (storer, 's2'), (finder, 'f1'),
                                          (finder, 'f2'), (canceller, 'c1'), (echoer, 'e1')]]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(TIMEOUT * 3)
            assert not errors, errors
            assert assoc.outstanding == 0
            assert assoc.get_scu(ECHO)(1).is_success   # in order afterwards
    assert results['s1'] == results['s2'] == [True] * 10
    assert results['f1'] == results['f2'] == [True] * 5 + [False]
    assert results['c1'] is True and results['e1'] == [True] * 10
    assert finals == [0xFE00] and srv.closed.is_set()
    assert len(os.listdir(tmp_path)) == 20


def test_a_message_id_outstanding_twice_is_refused(tmp_path):
    srv = SharedSCP(tmp_path)
    with serving(srv):
        with client((8, 8)).request_association(remote(srv)) as assoc:
            endless = assoc.get_scu(FIND)(_query('ENDLESS'), 7)
            next(endless)
            with pytest.raises(DIMSEProcessingError, match='message ID 7 is already'):
                assoc.get_scu(ECHO)(7)
            endless.close()
            assert assoc.get_scu(ECHO)(7).is_success


def test_an_abort_with_16_operations_outstanding(tmp_path):
    entered = threading.Semaphore(0)
    release = threading.Event()

    class Stalling(ae.StorageAE):
        def on_receive_store(self, context, ds):
            entered.release()
            release.wait(TIMEOUT)
            return super().on_receive_store(context, ds)

    srv = Stalling(tmp_path, 'SCP', 0, host='127.0.0.1', async_window=(16, 16))
    srv.add_scp(sc.storage_scp)
    outcomes: list[BaseException | statuses.Status] = []
    lock = threading.Lock()
    with serving(srv), client((16, 16)).request_association(remote(srv)) as assoc:

        def store() -> None:
            try:
                outcome = assoc.get_scu(CT)(dataset(pixel_bytes=4096), assoc.new_message_id())
            except BaseException as exc:
                outcome = exc
            with lock:
                outcomes.append(outcome)

        callers = [threading.Thread(target=store, name=f'caller-{n}') for n in range(16)]
        for caller in callers:
            caller.start()
        for _ in range(16):
            assert entered.acquire(timeout=TIMEOUT)  # 16 requests being performed at once
        assert assoc.outstanding == 16
        assoc.abort()
        for caller in callers:
            caller.join(TIMEOUT)
        release.set()
    assert len(outcomes) == 16
    assert all(isinstance(outcome, AssociationAbortedError) for outcome in outcomes), [
        repr(o) for o in outcomes if not isinstance(o, AssociationAbortedError)]
    # the acceptor's threads are joined (conftest checks no pynetdicom2 thread is left);
    # whatever it kept is whole, and no staged file is left
    for path in tmp_path.iterdir():
        assert path.suffix == '.dcm', path


# --- the pipelined store front ends -------------------------------------------------------------


def test_store_many_yields_why_a_source_was_not_sent(tmp_path):
    srv = ae.StorageAE(tmp_path / 'in', 'SCP', 0, host='127.0.0.1', async_window=(8, 8))
    not_a_dicom_file = tmp_path / 'notes.txt'
    not_a_dicom_file.write_text('not DICOM')
    mr = dataset(uids.MR_IMAGE_STORAGE)            # a class the client did not propose
    sources = [dataset(), mr, str(not_a_dicom_file), dataset()]
    with serving(srv.add_scp(sc.storage_scp)):
        with client((8, 8)).request_association(remote(srv)) as assoc:
            outcomes = dict((id(source), status) for source, status in
                            assoc.store_many(sources))
    assert outcomes[id(sources[0])].is_success and outcomes[id(sources[3])].is_success
    assert isinstance(outcomes[id(mr)], NetDICOMError)
    assert 'no accepted presentation context' in str(outcomes[id(mr)])
    assert isinstance(outcomes[id(sources[2])], NetDICOMError)
    assert len(os.listdir(tmp_path / 'in')) == 2


def test_commands_store_many_pipelines_through_the_window(tmp_path):
    gate = Gate(hold=8)   # eight performed at once, or the barrier breaks
    with serving(GatedStorage(tmp_path, gate, window=(8, 8))) as srv:
        with WireObserver(('127.0.0.1', srv.local_ae.port)) as wire:
            outcomes = list(commands.store_many('SCU', wire.remote('SCP'),
                                                [dataset() for _ in range(24)], window=8))
    assert [status.is_success for _, status in outcomes] == [True] * 24
    assert wire.rq_window == (8, 1) and wire.ac_window == (8, 1)
    assert wire.max_outstanding() == 8 and not wire.errors and gate.most == 8


def test_storescu_async_window_sends_ahead(tmp_path, capsys):
    files = [write_dataset(dataset(), tmp_path) for _ in range(12)]
    srv = ae.StorageAE(tmp_path / 'in', 'STORESCP', 0, host='127.0.0.1', async_window=(4, 4))
    with serving(srv.add_scp(sc.storage_scp)):
        with WireObserver(('127.0.0.1', srv.local_ae.port)) as wire:
                code = apps.storescu(['-aec', 'STORESCP', '--async-window', '4', '127.0.0.1',
                                  str(wire.port), *map(str, files)])
    assert code == 0 and 'sent 12, failed 0' in capsys.readouterr().out
    assert wire.ac_window == (4, 4) and 1 < wire.max_outstanding() <= 4


def test_threads_c_get_on_one_association_each_get_their_own(tmp_path):
    from pynetdicom2.loopback import LoopbackSCP, make_study, query

    studies = [make_study(1, 3, PatientID=f'P{n}') for n in range(3)]
    received: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    class Getter(ae.ClientAE):
        def on_receive_store(self, context, data):
            # a Dataset (nothing asks for files), from the thread answering the sub-operation
            instance = data.SOPInstanceUID
            received.setdefault(threading.current_thread().name, []).append(instance)
            return statuses.SUCCESS

    getter = fast(Getter('GETSCU', async_window=(8, 8)))
    getter.add_scu(sc.qr_get_scu).add_scu(sc.storage_scu, [CT])

    def get(assoc, patient):
        try:
            operation = assoc.get_scu(uids.STUDY_ROOT_GET_SOP_CLASS)(
                query(PatientID=patient, StudyInstanceUID=''), assoc.new_message_id())
            for _ in operation:
                pass
            assert operation.response.num_of_completed_sub_ops == 3
        except BaseException as exc:
            errors.append(exc)

    with LoopbackSCP(tmp_path / 'pacs') as pacs:
        pacs.async_window = (8, 8)
        for study in studies:
            pacs.add(*study)
        with getter.request_association(pacs.remote) as assoc:
            threads = [threading.Thread(target=get, args=(assoc, f'P{n}'), name=f'P{n}')
                       for n in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(TIMEOUT * 3)
    assert not errors, errors
    for n, study in enumerate(studies):
        assert sorted(received[f'P{n}']) == sorted(ds.SOPInstanceUID for ds in study)


def test_a_request_failing_on_a_performer_thread_aborts_the_association(caplog):
    @sc.sop_classes([CT])
    def broken_scp(asce, ctx, msg):
        raise RuntimeError('a bug in the service')

    srv = ae.AE('SCP', 0, host='127.0.0.1', async_window=(4, 4)).add_scp(broken_scp)
    with serving(srv):
        with pytest.raises(AssociationAbortedError):
            with client().request_association(remote(srv)) as assoc:
                assert assoc.async_window == (4, 4)
                list(assoc.store_many([dataset() for _ in range(3)]))
    assert 'a bug in the service' in caplog.text


def test_a_hook_decides_the_window_per_requester():
    class Picky(ae.AE):
        def on_async_window(self, asce, proposed):
            seen.append((asce.remote_ae, proposed))
            return (8, 8) if asce.remote_ae == 'FRIEND' else None

    seen: list = []
    server = Picky('SCP', 0, host='127.0.0.1', async_window=(1, 1))
    server.add_scp(sc.verification_scp)
    with serving(server) as srv:
        for title, expected in (('FRIEND', (4, 4)), ('STRANGER', (1, 1))):
            client = fast(ae.ClientAE(title, async_window=(4, 4))).add_scu(sc.verification_scu)
            with client.request_association(remote(srv)) as assoc:
                assert assoc.async_window == expected
        plain = fast(ae.ClientAE('PLAIN')).add_scu(sc.verification_scu)
        with plain.request_association(remote(srv)) as assoc:  # nothing proposed: no call
            assert assoc.async_window == (1, 1)
    assert seen == [('FRIEND', (4, 4)), ('STRANGER', (4, 4))]
