"""Observers (pynetdicom2.events): what each side of an association reports, and when."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from aetools import fast, remote, serving
from ulpeer import TIMEOUT

from pynetdicom2 import pdu, sopclass, uids
from pynetdicom2.applicationentity import AE, ClientAE
from pynetdicom2.events import Event, Notice, Observers
from pynetdicom2.exceptions import AssociationRejectedError


class Recorder:
    """Records every notice of every event; ``wait_for(event)`` blocks until one came."""

    def __init__(self, observers: Observers) -> None:
        self.notices: list[Notice] = []
        self._cond = threading.Condition()
        for event in Event:
            observers.add(event, self)

    def __call__(self, notice: Notice) -> None:
        with self._cond:
            self.notices.append(notice)
            self._cond.notify_all()

    def wait_for(self, event: Event) -> Notice:
        with self._cond:
            assert self._cond.wait_for(lambda: self.of(event), TIMEOUT), f'no {event.value}'
            return self.of(event)[0]

    def of(self, event: Event) -> list[Notice]:
        return [notice for notice in self.notices if notice.event is event]

    def names(self, *events: Event) -> list[str]:
        return [notice.event.name for notice in self.notices if notice.event in events]


def echo_server() -> AE:
    return AE('SCP', 0, host='127.0.0.1').add_scp(sopclass.verification_scp)


def client() -> ClientAE:
    return fast(ClientAE('SCU')).add_scu(sopclass.verification_scu)


ASSOCIATION_EVENTS = (
    Event.ASSOCIATION_REQUESTED, Event.ASSOCIATION_ACCEPTED, Event.ASSOCIATION_REJECTED,
    Event.ASSOCIATION_RELEASED, Event.ASSOCIATION_ABORTED,
)


def test_observers_registry() -> None:
    observers = Observers()
    assert not observers.pdu_sent
    seen: list[Notice] = []
    observers.add(Event.PDU_SENT, seen.append)
    observers.add(Event.PDU_SENT, seen.append)
    observers.notify(Event.PDU_SENT, pdu='x')
    assert [notice.pdu for notice in seen] == ['x', 'x']
    observers.remove(Event.PDU_SENT, seen.append)
    observers.remove(Event.PDU_SENT, seen.append)
    assert observers.pdu_sent == ()
    with pytest.raises(ValueError, match='does not observe'):
        observers.remove(Event.PDU_SENT, seen.append)
    with pytest.raises(TypeError, match='not a pynetdicom2.events.Event'):
        observers.add('PDU sent', seen.append)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='not callable'):
        observers.add(Event.PDU_SENT, 'print')  # type: ignore[arg-type]


def test_a_failing_observer_is_logged_and_the_others_still_run(caplog: Any) -> None:
    observers = Observers()
    seen: list[Notice] = []

    def broken(notice: Notice) -> None:
        raise RuntimeError('observer bug')

    observers.add(Event.DIMSE_SENT, broken)
    observers.add(Event.DIMSE_SENT, seen.append)
    with caplog.at_level(logging.ERROR, logger='pynetdicom2.events'):
        observers.notify(Event.DIMSE_SENT, context_id=1)
    assert len(seen) == 1
    assert 'an observer of DIMSE message sent failed' in caplog.text


def test_both_sides_report_a_whole_association_in_order() -> None:
    server = echo_server()
    server_seen = Recorder(server.observers)
    requester = client()
    client_seen = Recorder(requester.observers)
    with serving(server) as srv:
        with requester.request_association(remote(srv)) as assoc:
            assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
        server_seen.wait_for(Event.CONNECTION_CLOSED)
    for seen in (client_seen, server_seen):
        assert seen.names(*ASSOCIATION_EVENTS) == [
            'ASSOCIATION_REQUESTED', 'ASSOCIATION_ACCEPTED', 'ASSOCIATION_RELEASED']
        assert seen.names(Event.CONNECTION_OPENED, Event.CONNECTION_CLOSED) == [
            'CONNECTION_OPENED', 'CONNECTION_CLOSED']
        assert all(notice.association is not None for notice in seen.notices)
    assert [type(n.message).__name__ for n in client_seen.of(Event.DIMSE_SENT)] == [
        'CEchoRQMessage']
    assert [type(n.message).__name__ for n in client_seen.of(Event.DIMSE_RECEIVED)] == [
        'CEchoRSPMessage']
    assert [type(n.message).__name__ for n in server_seen.of(Event.DIMSE_RECEIVED)] == [
        'CEchoRQMessage']
    assert server_seen.of(Event.DIMSE_RECEIVED)[0].context_id == 1
    # PDUs: RQ, P-DATA, RQ-release one way; AC, P-DATA, RP the other.
    assert [type(n.pdu).__name__ for n in client_seen.of(Event.PDU_SENT)] == [
        'AAssociateRqPDU', 'PDataTfPDU', 'AReleaseRqPDU']
    assert [type(n.pdu).__name__ for n in server_seen.of(Event.PDU_SENT)] == [
        'AAssociateAcPDU', 'PDataTfPDU', 'AReleaseRpPDU']
    assert [type(n.pdu).__name__ for n in server_seen.of(Event.PDU_RECEIVED)] == [
        'AAssociateRqPDU', 'PDataTfPDU', 'AReleaseRqPDU']
    accepted = server_seen.of(Event.ASSOCIATION_ACCEPTED)[0]
    assert isinstance(accepted.pdu, pdu.AAssociateAcPDU)
    assert accepted.association.remote_ae == 'SCU'
    opened = server_seen.of(Event.CONNECTION_OPENED)[0]
    assert opened.address[0] == '127.0.0.1'
    # State machine transitions, PS3.8 Table 9-10, requester side.
    assert [n.transition for n in client_seen.of(Event.STATE_CHANGED)] == [
        ('EVT_1', 'STA_1', 'STA_4'), ('EVT_2', 'STA_4', 'STA_5'), ('EVT_3', 'STA_5', 'STA_6'),
        ('EVT_11', 'STA_6', 'STA_7'), ('EVT_13', 'STA_7', 'STA_1')]
    assert [n.transition for n in server_seen.of(Event.STATE_CHANGED)][:3] == [
        ('EVT_5', 'STA_1', 'STA_2'), ('EVT_6', 'STA_2', 'STA_3'), ('EVT_7', 'STA_3', 'STA_6')
    ] or [n.transition for n in server_seen.of(Event.STATE_CHANGED)][:2] == [
        ('EVT_6', 'STA_2', 'STA_3'), ('EVT_7', 'STA_3', 'STA_6')]


def test_a_rejection_is_reported_with_its_pdu() -> None:
    server = echo_server()
    server.require_called_aet = True
    server_seen = Recorder(server.observers)
    requester = client()
    client_seen = Recorder(requester.observers)
    with serving(server) as srv:
        with pytest.raises(AssociationRejectedError):
            with requester.request_association(remote(srv, aet='NOT-SCP')):
                pass
        server_seen.wait_for(Event.CONNECTION_CLOSED)
    for seen in (client_seen, server_seen):
        assert seen.names(*ASSOCIATION_EVENTS) == ['ASSOCIATION_REQUESTED',
                                                   'ASSOCIATION_REJECTED']
        rejected = seen.of(Event.ASSOCIATION_REJECTED)[0]
        assert isinstance(rejected.pdu, pdu.AAssociateRjPDU)
        assert (rejected.pdu.result, rejected.pdu.source, rejected.pdu.reason_diag) == (1, 1, 7)


def test_an_abort_is_reported_on_both_sides() -> None:
    server = echo_server()
    server_seen = Recorder(server.observers)
    requester = client()
    client_seen = Recorder(requester.observers)
    with serving(server) as srv:
        with requester.request_association(remote(srv)) as assoc:
            assoc.abort()
        aborted = server_seen.wait_for(Event.ASSOCIATION_ABORTED)
        server_seen.wait_for(Event.CONNECTION_CLOSED)
    assert isinstance(aborted.reason, pdu.AAbortPDU) and aborted.reason.source == 0
    assert client_seen.names(*ASSOCIATION_EVENTS)[-1] == 'ASSOCIATION_ABORTED'
    assert server_seen.names(*ASSOCIATION_EVENTS) == [
        'ASSOCIATION_REQUESTED', 'ASSOCIATION_ACCEPTED', 'ASSOCIATION_ABORTED']


def test_observers_added_later_and_removed_take_effect_on_the_next_association() -> None:
    server = echo_server()
    requester = client()
    accepted: list[Notice] = []
    with serving(server) as srv:
        with requester.request_association(remote(srv)):
            pass
        requester.observers.add(Event.ASSOCIATION_ACCEPTED, accepted.append)
        with requester.request_association(remote(srv)):
            pass
        requester.observers.remove(Event.ASSOCIATION_ACCEPTED, accepted.append)
        with requester.request_association(remote(srv)):
            pass
    assert len(accepted) == 1

