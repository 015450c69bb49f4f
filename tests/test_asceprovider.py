"""Associations end to end on loopback: negotiation on the wire, DIMSE exchange, release (with
collisions), abort, rejection, timeouts and malformed input.

The acceptor side is our AE; the requester side is our ClientAE or a raw requester that
speaks bytes (aetools.raw_associate). Requester-side edge cases use a scripted acceptor on a
helper thread (ulpeer.Listener).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aetools import (
    connect,
    dataset,
    fast,
    p_data,
    raw_associate,
    read_message,
    remote,
    rq_pdu,
    serving,
)
from ulpeer import A_RELEASE_RP, A_RELEASE_RQ, TIMEOUT, Listener, ScriptedPeer, a_abort

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import asceprovider, negotiation, pdu, statuses, uids
from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import sopclass as sc
from pynetdicom2.exceptions import (
    AssociationAbortedError,
    AssociationError,
    AssociationRejectedError,
    AssociationReleasedError,
    ClassNotSupportedError,
    NetDICOMError,
)
from pynetdicom2.fsm import PContextDef, States
from pynetdicom2.userdataitems import (
    AsynchronousOperationsWindowSubItem,
    ImplementationClassUIDSubItem,
    ImplementationVersionNameSubItem,
    MaximumLengthSubItem,
    ScpScuRoleSelectionSubItem,
    UserIdentityNegotiationSubItem,
    UserIdentityNegotiationSubItemAc,
)

ECHO = uids.VERIFICATION_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE
IMPLICIT = uids.ImplicitVRLittleEndian
EXPLICIT = uids.ExplicitVRLittleEndian


class RecordingAE(ae.AE):
    """An AE that records what its hooks saw, and signals each call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault('host', '127.0.0.1')
        super().__init__(*args, **kwargs)
        self.acceptors: list[asceprovider.AssociationAcceptor] = []
        self.aborts: list[AssociationAbortedError] = []
        self.timeouts: list[Exception] = []
        self.aborted = threading.Event()
        self.timed_out = threading.Event()
        self.reject_with: tuple[int, int, int] | None = None

    def on_association_request(self, asce, rq):
        with self.lock:
            self.acceptors.append(asce)
        if self.reject_with is not None:
            raise AssociationRejectedError(*self.reject_with)

    def on_abort(self, asce, exc):
        self.aborts.append(exc)
        self.aborted.set()

    def on_dcm_timeout(self, asce, exc):
        self.timeouts.append(exc)
        self.timed_out.set()


def echo_server(**kwargs: Any) -> RecordingAE:
    return RecordingAE('SCP', 0, **kwargs).add_scp(sc.verification_scp)


def echo_client() -> ae.ClientAE:
    return fast(ae.ClientAE('SCU')).add_scu(sc.verification_scu)


@contextlib.contextmanager
def scripted_acceptor(script: Callable[[ScriptedPeer], None]) -> Iterator[tuple[str, int]]:
    """Run ``script`` against the one connection a requester makes to the yielded address."""
    errors: list[BaseException] = []
    with Listener() as listener:

        def run() -> None:
            try:
                with listener.accept() as peer:
                    script(peer)
            except BaseException as exc:  # reported in the test's thread
                errors.append(exc)

        thread = threading.Thread(target=run, name='test-scripted-acceptor')
        thread.start()
        try:
            yield listener.address
        finally:
            thread.join(TIMEOUT * 2)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def a_associate_ac(
    contexts: list[tuple[int, int, str]], max_length: int = 16384, user_items: list | None = None
) -> bytes:
    items: list = [pdu.ApplicationContextItem(negotiation.APPLICATION_CONTEXT_NAME)]
    items += [
        pdu.PresentationContextItemAC(cid, result, pdu.TransferSyntaxSubItem(ts))
        for cid, result, ts in contexts
    ]
    items.append(pdu.UserInformationItem([MaximumLengthSubItem(max_length), *(user_items or [])]))
    return pdu.AAssociateAcPDU('SCP', 'SCU', items).encode()


def expect_rq(peer: ScriptedPeer) -> pdu.AAssociateRqPDU:
    rq = pdu.decode_pdu(peer.read_pdu())
    assert isinstance(rq, pdu.AAssociateRqPDU)
    return rq


# --- building blocks ----------------------------------------------------------------------------


def test_build_pres_context_def_list_takes_pairs_or_a_dict():
    pairs = [
        (1, asceprovider.PContextDef(1, ECHO, IMPLICIT)),
        (3, asceprovider.PContextDefList(3, CT, (EXPLICIT, IMPLICIT))),
    ]
    for argument in (pairs, dict(pairs)):
        items = list(asceprovider.build_pres_context_def_list(argument))
        assert [(i.context_id, i.abs_sub_item.name, [t.name for t in i.ts_sub_items])
                for i in items] == [(1, ECHO, [IMPLICIT]), (3, CT, [EXPLICIT, IMPLICIT])]


def test_remote_ae_config_hides_secrets_and_dicts_are_checked():
    config = asceprovider.RemoteAEConfig('PACS', 'host', 104, username='u', password='secret',
                                         jwt='token')
    assert 'secret' not in repr(config) and 'token' not in repr(config)
    client = echo_client()
    assoc = asceprovider.AssociationRequester(client, 16384, {'aet': 'A', 'address': 'h',
                                                             'port': 1})
    assert assoc.remote_ae == asceprovider.RemoteAEConfig('A', 'h', 1)
    assoc.kill()
    with pytest.raises(NetDICOMError, match='expected a RemoteAEConfig'):
        asceprovider.AssociationRequester(client, 16384, {'aet': 'A', 'host': 'h'})


def test_unsupported_request_responses_cover_every_request():
    for field, rsp in asceprovider.UNSUPPORTED_REQUEST_RESPONSES.items():
        assert dm.MESSAGE_TYPE[field | 0x8000] is rsp


# --- establishment ------------------------------------------------------------------------------


def test_echo_then_release_ends_every_thread():
    with serving(echo_server()) as srv:
        with echo_client().request_association(remote(srv)) as assoc:
            assert assoc.association_established
            assert assoc.get_scu(ECHO)(1) == statuses.SUCCESS
            assert assoc.peer_max_pdu_length == 65536
            assert list(assoc.accepted_contexts.values()) == [PContextDef(1, ECHO, EXPLICIT)]
        assert not assoc.association_established
        assert not assoc.dul.is_alive()
        (acceptor,) = srv.acceptors
        assert acceptor.remote_ae == 'SCU' and acceptor.local_ae == 'SCP'
        assert acceptor.sop_classes_as_scp == {1: (1, ECHO, EXPLICIT)}


def test_rejection_by_the_hook_reaches_the_requester():
    with serving(echo_server()) as srv:
        srv.reject_with = (2, 1, 3)
        with pytest.raises(AssociationRejectedError) as raised:
            with echo_client().request_association(remote(srv)):
                pytest.fail('the association was rejected')
    assert (raised.value.result, raised.value.source, raised.value.diagnostic) == (2, 1, 3)


def test_called_ae_title_checked_when_required():
    with serving(echo_server()) as srv:
        srv.require_called_aet = True
        with pytest.raises(AssociationRejectedError) as raised:
            with echo_client().request_association(remote(srv, aet='OTHER')):
                pass
        assert (raised.value.result, raised.value.source, raised.value.diagnostic) == (1, 1, 7)
        with echo_client().request_association(remote(srv)) as assoc:
            assert assoc.get_scu(ECHO)(1).is_success


def test_called_ae_title_not_checked_by_default():
    with serving(echo_server()) as srv:
        with echo_client().request_association(remote(srv, aet='ANY')) as assoc:
            assert assoc.get_scu(ECHO)(1).is_success


def test_connection_refused_is_an_abort_with_the_os_error_as_cause():
    with socket.socket() as unused:
        unused.bind(('127.0.0.1', 0))
        port = unused.getsockname()[1]
    with pytest.raises(AssociationAbortedError, match='cannot connect') as raised:
        with echo_client().request_association({'aet': 'X', 'address': '127.0.0.1',
                                                'port': port}):
            pass
    assert isinstance(raised.value.__cause__, OSError)


@pytest.mark.parametrize(
    ('answer', 'error', 'fields'),
    [
        (bytes((0x03, 0, 0, 0, 0, 4, 0, 1, 2, 2)), AssociationRejectedError, (1, 2, 2)),
        (a_abort(2, 1), AssociationAbortedError, (2, 1)),
    ],
    ids=['rejected', 'aborted'],
)
def test_requester_reports_rejection_and_abort(answer, error, fields):
    def script(peer: ScriptedPeer) -> None:
        expect_rq(peer)
        peer.send(answer)
        peer.expect_closed()

    with scripted_acceptor(script) as (host, port):
        with pytest.raises(error) as raised:
            with echo_client().request_association({'aet': 'SCP', 'address': host, 'port': port}):
                pass
    exc = raised.value
    got = (
        (exc.result, exc.source, exc.diagnostic) if error is AssociationRejectedError
        else (exc.source, exc.reason_diag)
    )
    assert got == fields


def test_request_carries_our_user_information_and_identity():
    seen: list[pdu.AAssociateRqPDU] = []

    def script(peer: ScriptedPeer) -> None:
        seen.append(expect_rq(peer))
        peer.send(a_associate_ac([(1, 0, IMPLICIT)]))
        peer.expect(A_RELEASE_RQ)
        peer.send(A_RELEASE_RP)
        peer.expect_closed()

    client = fast(ae.ClientAE('SCU', [IMPLICIT, EXPLICIT], max_pdu_length=0))
    client.add_scu(sc.verification_scu)
    with scripted_acceptor(script) as (host, port):
        config = asceprovider.RemoteAEConfig('SCP', host, port, username='u', password='p')
        with client.request_association(config):
            pass
    (rq,) = seen
    (info,) = [i for i in rq.variable_items if isinstance(i, pdu.UserInformationItem)]
    kinds = [type(i) for i in info.user_data]
    assert kinds == [MaximumLengthSubItem, ImplementationClassUIDSubItem,
                     ImplementationVersionNameSubItem, UserIdentityNegotiationSubItem]
    assert info.user_data[0].maximum_length_received == 0
    assert info.user_data[3].primary_field == 'u' and info.user_data[3].secondary_field == 'p'
    (context,) = [i for i in rq.variable_items if isinstance(i, pdu.PresentationContextItemRQ)]
    assert [t.name for t in context.ts_sub_items] == [IMPLICIT, EXPLICIT]  # the user's order


def test_acceptor_answers_with_its_own_user_information():
    user_items = [
        MaximumLengthSubItem(8192),
        ImplementationClassUIDSubItem('1.2.3.4'),
        AsynchronousOperationsWindowSubItem(4, 4),
        ScpScuRoleSelectionSubItem(ECHO, 1, 1),
        UserIdentityNegotiationSubItem('admin', 'hunter2', 2, 1),
    ]
    with serving(echo_server(max_pdu_length=32768)) as srv:
        peer, ac = raw_associate(srv.local_ae.port, user_items=user_items)
        with peer:
            assert isinstance(ac, pdu.AAssociateAcPDU)
            (info,) = [i for i in ac.variable_items if isinstance(i, pdu.UserInformationItem)]
            by_type = {type(i): i for i in info.user_data}
            assert by_type[MaximumLengthSubItem].maximum_length_received == 32768
            assert by_type[ImplementationClassUIDSubItem].implementation_class_uid == (
                asceprovider.IMPLEMENTATION_UID
            )
            assert by_type[ImplementationVersionNameSubItem].implementation_version_name == (
                asceprovider.IMPLEMENTATION_VERSION_NAME
            )
            window = by_type[AsynchronousOperationsWindowSubItem]
            assert (window.max_num_ops_invoked, window.max_num_ops_performed) == (1, 1)
            role = by_type[ScpScuRoleSelectionSubItem]
            assert (role.scu_role, role.scp_role) == (1, 0)
            assert by_type[UserIdentityNegotiationSubItemAc].server_response == ''
            assert b'hunter2' not in ac.encode()
            peer.send(A_RELEASE_RQ)
            peer.expect(A_RELEASE_RP)
        (acceptor,) = srv.acceptors
        assert acceptor.user_identity.primary_field == 'admin'
        assert acceptor.peer_max_pdu_length == 8192 and acceptor.max_pdu_length == 32768


def test_acceptor_context_results_on_the_wire():
    contexts = [
        (1, ECHO, [uids.JPEG_BASELINE_PROCESS_1, IMPLICIT]),
        (3, '1.2.3.4', [IMPLICIT]),
        (5, ECHO, [uids.JPEG_BASELINE_PROCESS_1]),
        (6, ECHO, [IMPLICIT]),
    ]
    with serving(echo_server()) as srv:
        peer, ac = raw_associate(srv.local_ae.port, contexts)
        with peer:
            results = [(i.context_id, i.result_reason) for i in ac.variable_items
                       if isinstance(i, pdu.PresentationContextItemAC)]
            assert results == [(1, 0), (3, 3), (5, 4), (6, 2)]
            peer.send(A_RELEASE_RQ)
            peer.expect(A_RELEASE_RP)


def test_rejected_request_structure_is_answered_with_an_rj():
    with serving(echo_server()) as srv:
        peer = connect(srv.local_ae.port)
        with peer:
            items = [
                pdu.ApplicationContextItem('1.2.3.4'),
                *negotiation.presentation_context_items([(1, ECHO, IMPLICIT)]),
                pdu.UserInformationItem([MaximumLengthSubItem(0)]),
            ]
            peer.send(pdu.AAssociateRqPDU('SCP', 'RAW', items).encode())
            assert peer.read_pdu() == bytes((0x03, 0, 0, 0, 0, 4, 0, 1, 1, 2))
            # PS3.8 9.2: the requester closes the transport; the acceptor waits for it


# --- DIMSE on an established association -------------------------------------------------------


def test_unsupported_requests_are_answered_0122():
    with serving(echo_server()) as srv:
        with echo_client().request_association(remote(srv)) as assoc:
            find = dm.CFindRQMessage()
            find.message_id = 7
            find.sop_class_uid = ECHO
            find.priority = 0
            find.data_set = b'\x08\x00\x52\x00\x00\x00\x00\x00'
            assoc.send(find, 1)
            rsp, pc_id = assoc.receive()
            assert isinstance(rsp, dm.CFindRSPMessage)
            assert (rsp.status, rsp.message_id_being_responded_to, pc_id) == (0x0122, 7, 1)
            echo = dm.CEchoRQMessage()
            echo.message_id = 8
            echo.sop_class_uid = '1.2.3.4'
            assoc.send(echo, 1)
            rsp, _ = assoc.receive()
            assert isinstance(rsp, dm.CEchoRSPMessage) and rsp.status == 0x0122
            # and the association carries on
            assert assoc.get_scu(ECHO)(9).is_success


def test_c_cancel_between_requests_is_not_answered():
    with serving(echo_server()) as srv:
        with echo_client().request_association(remote(srv)) as assoc:
            cancel = dm.CCancelRQMessage()
            cancel.message_id_being_responded_to = 3
            assoc.send(cancel, 1)
            assert assoc.get_scu(ECHO)(4).is_success


@pytest.mark.parametrize(
    'bad_pdus',
    [
        # a command set that does not decode
        [bytes.fromhex('04 00 0000000a 00000006 01 03 ffffffff')],
        # a response where a request is expected
        'response',
        # a PDV on a context that was not accepted
        [bytes.fromhex('04 00 00000008 00000004 03 03 0000')],
    ],
    ids=['undecodable', 'response', 'unknown-context'],
)
def test_malformed_dimse_aborts_the_association_and_the_server_serves_on(bad_pdus):
    with serving(echo_server()) as srv:
        peer, ac = raw_associate(srv.local_ae.port)
        with peer:
            assert isinstance(ac, pdu.AAssociateAcPDU)
            if bad_pdus == 'response':
                rsp = dm.CEchoRSPMessage()
                rsp.message_id_being_responded_to = 1
                rsp.status = 0
                bad_pdus = p_data(rsp)
            for raw in bad_pdus:
                peer.send(raw)
            answer = pdu.decode_pdu(peer.read_pdu())
            assert isinstance(answer, pdu.AAbortPDU)
            peer.expect_closed()
        with echo_client().request_association(remote(srv)) as assoc:
            assert assoc.get_scu(ECHO)(1).is_success


def test_idle_association_is_aborted_after_network_timeout():
    with serving(echo_server(), network_timeout=0.3) as srv:
        peer, _ = raw_associate(srv.local_ae.port)
        with peer:
            assert peer.read_pdu(timeout=TIMEOUT) == a_abort(0, 0)
        assert srv.timed_out.wait(TIMEOUT)


def test_exception_in_the_block_aborts_the_association():
    with serving(echo_server()) as srv:
        with pytest.raises(ZeroDivisionError):
            with echo_client().request_association(remote(srv)) as assoc:
                assert assoc.get_scu(ECHO)(1).is_success
                1 / 0  # noqa: B018
        assert srv.aborted.wait(TIMEOUT)
        assert (srv.aborts[0].source, srv.aborts[0].reason_diag) == (0, 0)
        assert not assoc.dul.is_alive()


def test_requester_abort_and_kill():
    with serving(echo_server()) as srv:
        client = echo_client()
        with client.request_association(remote(srv)) as assoc:
            assoc.abort(0)
            assert not assoc.association_established
            with pytest.raises(NetDICOMError):
                assoc.get_scu(ECHO)(1)
            # leaving the block must not fail on an aborted association
        assert srv.aborted.wait(TIMEOUT)


def test_peer_release_request_while_waiting_for_a_response_is_answered():
    def script(peer: ScriptedPeer) -> None:
        expect_rq(peer)
        peer.send(a_associate_ac([(1, 0, EXPLICIT)]))
        request = read_message(peer)
        assert isinstance(request, dm.CEchoRQMessage)
        peer.send(A_RELEASE_RQ)
        peer.expect(A_RELEASE_RP)  # then the release requester closes (AR-3)

    with scripted_acceptor(script) as (host, port):
        with pytest.raises(AssociationReleasedError):
            with echo_client().request_association({'aet': 'SCP', 'address': host,
                                                    'port': port}) as assoc:
                assoc.get_scu(ECHO)(1)


def test_release_after_the_peers_own_release_request_answers_it():
    """The peer asked first (we are in Sta8): release() answers it, AR-4, and ends."""
    asked = threading.Event()

    def script(peer: ScriptedPeer) -> None:
        expect_rq(peer)
        peer.send(a_associate_ac([(1, 0, EXPLICIT)]))
        peer.send(A_RELEASE_RQ)
        asked.set()
        peer.expect(A_RELEASE_RP)

    with scripted_acceptor(script) as (host, port):
        with echo_client().request_association({'aet': 'SCP', 'address': host,
                                                'port': port}) as assoc:
            assert asked.wait(TIMEOUT)
            # The provider hands the indication up once in Sta8: wait for it, leave it.
            indication = assoc.dul.to_service_user.get(timeout=TIMEOUT)
            assoc.dul.to_service_user.put(indication)
            assert assoc.dul.state is States.STA_8
            assoc.release()
        assert not assoc.dul.is_alive()


def test_release_collision_on_the_requester_side():
    def script(peer: ScriptedPeer) -> None:
        expect_rq(peer)
        peer.send(a_associate_ac([(1, 0, EXPLICIT)]))
        peer.expect(A_RELEASE_RQ)
        peer.send(A_RELEASE_RQ)  # both ask at once (PS3.8 9.2.4)
        peer.expect(A_RELEASE_RP)  # the requester answers first (Sta9, AR-9)
        peer.send(A_RELEASE_RP)
        peer.expect_closed()

    with scripted_acceptor(script) as (host, port):
        with echo_client().request_association({'aet': 'SCP', 'address': host, 'port': port}):
            pass


def test_release_collision_on_the_acceptor_side():
    released = threading.Event()

    def releasing_scp(asce, ctx, msg):
        asce.release()
        released.set()

    releasing_scp.sop_classes = [ECHO]
    with serving(RecordingAE('SCP', 0).add_scp(releasing_scp)) as srv:
        peer, _ = raw_associate(srv.local_ae.port)
        with peer:
            echo = dm.CEchoRQMessage()
            echo.message_id = 1
            echo.sop_class_uid = ECHO
            for raw in p_data(echo):
                peer.send(raw)
            peer.expect(A_RELEASE_RQ)
            peer.send(A_RELEASE_RQ)  # collision: the requester answers first
            peer.send(A_RELEASE_RP)
            peer.expect(A_RELEASE_RP)  # then the acceptor (Sta12, AR-4); we close (AR-3)
        assert released.wait(TIMEOUT)


# --- limits -------------------------------------------------------------------------------------


def test_the_peers_maximum_length_bounds_what_we_send():
    sizes: list[int] = []

    def script(peer: ScriptedPeer) -> None:
        expect_rq(peer)
        # The smallest maximum we accept (negotiation.MIN_PEER_MAX_PDU_LENGTH).
        peer.send(a_associate_ac([(1, 0, EXPLICIT)], max_length=1024))
        decoder = dm.DIMSEDecoder({1: 1}, (), None)
        while True:
            raw = peer.read_pdu()
            sizes.append(len(raw) - 6)
            done = decoder.process(pdu.decode_pdu(raw))
            if done:
                break
        rq = done[0][0]
        rsp = dm.CStoreRSPMessage()
        rsp.message_id_being_responded_to = rq.message_id
        rsp.sop_class_uid = rq.sop_class_uid
        rsp.affected_sop_instance_uid = rq.affected_sop_instance_uid
        rsp.status = 0
        for raw in p_data(rsp):
            peer.send(raw)
        peer.expect(A_RELEASE_RQ)
        peer.send(A_RELEASE_RP)
        peer.expect_closed()

    client = fast(ae.ClientAE('SCU')).add_scu(sc.storage_scu, [CT])
    with scripted_acceptor(script) as (host, port):
        with client.request_association({'aet': 'SCP', 'address': host, 'port': port}) as assoc:
            assert assoc.get_scu(CT)(dataset(pixel_bytes=12000), 1).is_success
            assert (assoc.max_pdu_length, assoc.peer_max_pdu_length) == (65536, 1024)
    assert len(sizes) > 10 and max(sizes) <= 1024


def test_more_than_128_sop_classes_still_request_associations():
    with serving(echo_server()) as srv:
        big = fast(ae.AE('BIG', 0, host='127.0.0.1'))
        big.add_scp(sc.storage_scp).add_scp(sc.verification_scp).add_scu(sc.verification_scu)
        try:
            assert len(big.context_def_list) == len(uids.STORAGE_SOP_CLASSES) + 1
            with big.request_association(remote(srv)) as assoc:
                assert list(assoc.context_def_list) == [1]
                assert assoc.get_scu(ECHO)(1).is_success
        finally:
            big.quit()
        too_many = fast(ae.ClientAE('MANY')).add_scu(sc.storage_scu, uids.STORAGE_SOP_CLASSES)
        with pytest.raises(AssociationError, match='at most 128'):
            with too_many.request_association(remote(srv)):
                pass


def test_get_scu_refuses_classes_not_registered_or_not_accepted():
    with serving(echo_server()) as srv:
        client = echo_client().add_scu(sc.storage_scu, [CT])
        with client.request_association(remote(srv)) as assoc:
            with pytest.raises(ClassNotSupportedError, match='not accepted'):
                assoc.get_scu(CT)
            with pytest.raises(ClassNotSupportedError, match='not registered'):
                assoc.get_scu(uids.MR_IMAGE_STORAGE)


def test_protocol_version_without_bit_0_is_rejected():
    with serving(echo_server()) as srv:
        peer = connect(srv.local_ae.port)
        with peer:
            items = [
                pdu.ApplicationContextItem(negotiation.APPLICATION_CONTEXT_NAME),
                *negotiation.presentation_context_items([(1, ECHO, IMPLICIT)]),
                pdu.UserInformationItem([MaximumLengthSubItem(0)]),
            ]
            peer.send(pdu.AAssociateRqPDU('SCP', 'RAW', items, protocol_version=2).encode())
            # PS3.8 9.3.2: only bit 0 is tested; without it, rejected 1/2/2
            assert peer.read_pdu() == bytes((0x03, 0, 0, 0, 0, 4, 0, 1, 2, 2))


def test_protocol_version_with_other_bits_is_accepted():
    with serving(echo_server()) as srv:
        peer = connect(srv.local_ae.port)
        with peer:
            items = [
                pdu.ApplicationContextItem(negotiation.APPLICATION_CONTEXT_NAME),
                *negotiation.presentation_context_items([(1, ECHO, IMPLICIT)]),
                pdu.UserInformationItem([MaximumLengthSubItem(0)]),
            ]
            peer.send(pdu.AAssociateRqPDU('SCP', 'RAW', items, protocol_version=3).encode())
            assert isinstance(pdu.decode_pdu(peer.read_pdu()), pdu.AAssociateAcPDU)
            peer.send(A_RELEASE_RQ)
            peer.expect(A_RELEASE_RP)


def test_a_maximum_length_of_0_means_unlimited_on_both_sides(tmp_path):
    srv = ae.StorageAE(tmp_path, 'SCP', 0, host='127.0.0.1', max_pdu_length=0)
    srv.add_scp(sc.storage_scp)
    client = fast(ae.ClientAE('SCU', max_pdu_length=0)).add_scu(sc.storage_scu, [CT])
    ds = dataset(pixel_bytes=300_000)
    with serving(srv):
        with client.request_association(remote(srv)) as assoc:
            assert assoc.peer_max_pdu_length == 0
            assert assoc.get_scu(CT)(ds, 1).is_success
    assert (tmp_path / f'{ds.SOPInstanceUID}.dcm').stat().st_size > 300_000


def test_quit_stops_an_association_quietly(caplog):
    import logging

    with caplog.at_level(logging.INFO, 'pynetdicom2'):
        with serving(echo_server()) as srv:
            peer, _ = raw_associate(srv.local_ae.port)
        with peer:
            assert peer.read_pdu() == a_abort(0, 0)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_unanswered_request_times_out_and_aborts():
    from pynetdicom2.exceptions import DCMTimeoutError

    def script(peer: ScriptedPeer) -> None:
        expect_rq(peer)  # and never answer
        assert peer.read_pdu() == a_abort(0, 0)
        peer.expect_closed()

    client = echo_client()
    client.connect_timeout = client.artim_timeout = 0.2
    with scripted_acceptor(script) as (host, port):
        with pytest.raises(DCMTimeoutError):
            with client.request_association({'aet': 'SCP', 'address': host, 'port': port}):
                pass


def test_an_unusable_identity_fails_before_connecting(tmp_path):
    from pynetdicom2.loopback import LoopbackSCP

    client = ae.ClientAE('SCU').add_scu(sc.verification_scu)
    with LoopbackSCP(tmp_path) as scp:
        bad = {'aet': scp.ae_title, 'address': scp.address, 'port': scp.port, 'password': 'pw'}
        with pytest.raises(AssociationError, match='password without a username'):
            with client.request_association(bad):
                pass
        assert scp.associations == []


def test_a_requester_gone_before_the_answer_ends_the_association_quietly(caplog):
    """The peer closes its connection while on_association_request runs: the A-ASSOCIATE-AC
    cannot be sent, which is an A-P-ABORT (PS3.8 Table 9-10, Evt17), not an error."""
    gone = threading.Event()

    class Slow(ae.AE):
        def on_association_request(self, asce, rq):
            assert gone.wait(TIMEOUT)
            asce.dul.join(TIMEOUT)  # the provider saw the close and ended

    server = Slow('SCP', 0, host='127.0.0.1').add_scp(sc.verification_scp)
    with serving(server):
        peer = connect(server.local_ae.port)
        peer.send(rq_pdu([(1, uids.VERIFICATION_SOP_CLASS, [uids.ImplicitVRLittleEndian])]))
        peer.close()
        gone.set()
    assert not [r for r in caplog.records if r.levelname in ('ERROR', 'CRITICAL')], caplog.text
