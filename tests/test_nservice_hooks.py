"""The AE's DIMSE-N hooks (PS3.7 10.1): ``add_scp(NServiceSCP([classes]))`` and an AE that
overrides ``on_n_get`` ... ``on_n_event_report`` (pynetdicom2/applicationentity.py), as for
``on_receive_store``; NServiceSCP (pynetdicom2/services/nservices.py) asks them by default."""

from __future__ import annotations

from typing import Any

from aetools import fast, remote
from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import statuses
from pynetdicom2.exceptions import EventHandlingError

THING = '1.2.826.0.1.3680043.8.498.1.99'
INSTANCE = '1.2.826.0.1.3680043.8.498.1.99.1'


class HookedAE(ae.AE):
    """Every DIMSE-N hook, recording what it was asked."""

    def __init__(self) -> None:
        super().__init__('HOOKS', 0, host='127.0.0.1')
        self.calls: list[tuple[Any, ...]] = []

    def on_n_get(self, context: Any, sop_instance_uid: Any, attribute_identifier_list: Any) -> Any:
        self.calls.append(('get', sop_instance_uid, list(attribute_identifier_list)))
        ds = Dataset()
        ds.PatientName = 'Hook^Get'
        return statuses.SUCCESS, ds

    def on_n_set(self, context: Any, sop_instance_uid: Any, modification_list: Any) -> Any:
        self.calls.append(('set', sop_instance_uid, modification_list.PatientID))
        return statuses.SUCCESS, None

    def on_n_action(self, context: Any, sop_instance_uid: Any, action_type_id: Any,
                    action_information: Any) -> Any:
        if action_type_id == 9:
            raise EventHandlingError('no such action', status=0x0123)
        self.calls.append(('action', action_type_id))
        reply = Dataset()
        reply.PatientID = 'done'
        return statuses.SUCCESS, reply

    def on_n_create(self, context: Any, sop_instance_uid: Any, attribute_list: Any) -> Any:
        self.calls.append(('create', str(sop_instance_uid), attribute_list.PatientID))
        return statuses.SUCCESS  # a bare status

    def on_n_delete(self, context: Any, sop_instance_uid: Any) -> Any:
        self.calls.append(('delete', sop_instance_uid))
        return 0x0000, None  # a plain code

    def on_n_event_report(self, context: Any, sop_instance_uid: Any, event_type_id: Any,
                          event_information: Any) -> Any:
        self.calls.append(('event', event_type_id))
        return statuses.SUCCESS, None


def test_an_nservice_scp_asks_the_ae_hooks() -> None:
    server = fast(HookedAE().add_scp(sc.NServiceSCP([THING])))
    requester = fast(ae.ClientAE('SCU').add_scu(sc.NServiceSCU([THING])))
    modifications = Dataset()
    modifications.PatientID = 'P1'
    with server, requester.request_association(remote(server)) as assoc:
        thing = assoc.get_scu(THING)
        got = thing('n_get', INSTANCE, 1, ['PatientName'])
        assert got.status.is_success and got.data_set.PatientName == 'Hook^Get'
        assert thing('n_set', INSTANCE, modifications, 2).status.is_success
        acted = thing('n_action', INSTANCE, 7, 3)
        assert acted.status.is_success and acted.data_set.PatientID == 'done'
        assert thing('n_action', INSTANCE, 9, 4).status.value == 0x0123
        created = thing('n_create', modifications, 5)
        assert created.status.is_success and created.sop_instance_uid
        assert thing('n_delete', INSTANCE, 6).status.is_success
        assert thing('n_event_report', INSTANCE, 2, 7).status.is_success
    assert server.calls == [
        ('get', INSTANCE, [0x00100010]),
        ('set', INSTANCE, 'P1'),
        ('action', 7),
        ('create', str(created.sop_instance_uid), 'P1'),
        ('delete', INSTANCE),
        ('event', 2),
    ]


def test_without_hooks_an_nservice_scp_answers_unrecognised_operation() -> None:
    server = fast(ae.AE('PLAIN', 0, host='127.0.0.1').add_scp(sc.NServiceSCP([THING])))
    requester = fast(ae.ClientAE('SCU').add_scu(sc.n_get_scu, [THING]))
    with server, requester.request_association(remote(server)) as assoc:
        assert assoc.get_scu(THING)(INSTANCE, 1).status.value == 0x0211


def test_a_subclass_method_still_wins_over_the_hook() -> None:
    class Own(sc.NServiceSCP):
        sop_classes = [THING]

        def on_n_delete(self, asce: Any, ctx: Any, sop_instance_uid: Any) -> Any:
            return 0x0112, None  # no such SOP instance

    server = fast(HookedAE().add_scp(Own()))
    requester = fast(ae.ClientAE('SCU').add_scu(sc.NServiceSCU([THING])))
    with server, requester.request_association(remote(server)) as assoc:
        thing = assoc.get_scu(THING)
        assert thing('n_delete', INSTANCE, 1).status.value == 0x0112
        assert thing('n_get', INSTANCE, 2).status.is_success  # not overridden: the hook
    assert server.calls == [('get', INSTANCE, [])]
