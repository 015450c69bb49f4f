"""The query/retrieve families beyond the three Q/R information models, over loopback.

Our Q/R SCUs talk to our Q/R SCPs registered for other classes: Relevant Patient Information
Query (PS3.4 Q), Substance Administration Query (V), Composite Instance Root Retrieve (Y) and
Retrieve Without Bulk Data (Z), and the models of non-patient objects (hanging protocols,
color palettes, implant templates, procedure protocols, protocol approvals, inventories).
Checked: every FIND, MOVE and GET class negotiates and answers through the same hooks (which
see the class in ``context.sop_class``); a C-GET of any retrieve class, Composite Instance
Root Retrieve alone included, proposes the storage SCP role and receives its instances
(before, such a C-GET ended A702H); a C-MOVE of hanging protocols reaches a storage SCP;
``commands.get`` with a non-patient root asks for the storage class it retrieves.
"""

from __future__ import annotations

import logging

import pytest
from aetools import dataset, fast, remote, serving
from pydicom.dataset import Dataset

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import commands, negotiation, statuses, uids
from pynetdicom2 import sopclass as sc

CT = uids.CT_IMAGE_STORAGE
HANGING = uids.HANGING_PROTOCOL_STORAGE
ROOT_GET = uids.COMPOSITE_INSTANCE_ROOT_RETRIEVE_GET_SOP_CLASS
#: The retrieve classes of PS3.4 C.6 that a requester always proposed the SCP role for.
CLASSIC_GETS = {uids.PATIENT_ROOT_GET_SOP_CLASS, uids.STUDY_ROOT_GET_SOP_CLASS,
                uids.PATIENT_STUDY_ONLY_GET_SOP_CLASS}


def serving_classes(service, classes):
    """A service that runs ``service`` for ``classes`` (``service`` itself is left as it is)."""

    @sc.sop_classes(classes)
    def scp(asce, ctx, msg):
        service(asce, ctx, msg)

    return scp


class FamilyArchive(ae.AE):
    """A Q/R SCP of every family over a few data sets, recording the classes it was asked on."""

    def __init__(self, items: list[Dataset]) -> None:
        super().__init__('FAMILIES', 0, host='127.0.0.1')
        self.items = items
        self.asked: list[str] = []
        self.destinations: dict[str, dict] = {}
        self.add_scp(serving_classes(sc.qr_find_scp, uids.ALL_FIND_SOP_CLASSES))
        self.add_scp(serving_classes(sc.qr_move_scp, uids.ALL_MOVE_SOP_CLASSES))
        self.add_scp(serving_classes(sc.qr_get_scp, uids.ALL_GET_SOP_CLASSES))
        self.add_scu(sc.storage_scu, sorted({item.SOPClassUID for item in items}))

    def matches(self, context, ds: Dataset) -> list[Dataset]:
        self.asked.append(context.sop_class)
        keys = [keyword for keyword in ('SOPClassUID', 'SOPInstanceUID') if ds.get(keyword)]
        return [item for item in self.items
                if all(item.get(keyword) == ds.get(keyword) for keyword in keys)]

    def on_receive_find(self, context, ds):
        for item in self.matches(context, ds):
            match = Dataset()
            match.SOPClassUID = item.SOPClassUID
            match.SOPInstanceUID = item.SOPInstanceUID
            yield match, statuses.C_FIND_PENDING

    def on_receive_get(self, context, ds):
        found = self.matches(context, ds)
        return len(found), iter(found)

    def on_receive_move(self, context, ds, destination):
        found = self.matches(context, ds)
        return self.destinations.get(destination), len(found), iter(found)


def identifier(**keys: str) -> Dataset:
    ds = Dataset()
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


def client_of(service, classes, directory=None, storage=(CT,)) -> ae.ClientAE:
    client = fast(ae.ClientAE('FAMSCU') if directory is None
                  else ae.ClientStorageAE(directory, 'FAMSCU'))
    client.add_scu(service, list(classes))
    if storage:
        client.add_scu(sc.storage_scu, list(storage))
    return client


# --- the groups ---------------------------------------------------------------------------------


def test_the_groups_hold_each_family_once():
    for group, size in ((uids.ALL_FIND_SOP_CLASSES, 16), (uids.ALL_MOVE_SOP_CLASSES, 12),
                        (uids.ALL_GET_SOP_CLASSES, 13)):
        assert len(group) == len(set(group)) == size
    assert set(sc.FIND_SOP_CLASSES) <= set(uids.ALL_FIND_SOP_CLASSES)
    assert set(sc.MOVE_SOP_CLASSES) <= set(uids.ALL_MOVE_SOP_CLASSES)
    assert set(sc.GET_SOP_CLASSES) <= set(uids.ALL_GET_SOP_CLASSES)
    assert set(uids.RELEVANT_PATIENT_INFORMATION_QUERY_SOP_CLASSES) == {
        '1.2.840.10008.5.1.4.37.1', '1.2.840.10008.5.1.4.37.2', '1.2.840.10008.5.1.4.37.3'}
    assert uids.SUBSTANCE_ADMINISTRATION_QUERY_SOP_CLASSES == (
        '1.2.840.10008.5.1.4.41', '1.2.840.10008.5.1.4.42')
    # PS3.6 Annex A: each family's FIND, MOVE and GET end in .2, .3, .4 after its storage .1
    for family in ('HANGING_PROTOCOL', 'COLOR_PALETTE', 'GENERIC_IMPLANT_TEMPLATE',
                   'IMPLANT_ASSEMBLY_TEMPLATE', 'IMPLANT_TEMPLATE_GROUP'):
        storage = getattr(uids, f'{family}_STORAGE')
        assert storage.endswith('.1') and storage in uids.STORAGE_SOP_CLASSES
        for offset, operation in enumerate(('FIND', 'MOVE', 'GET'), start=2):
            assert getattr(uids, f'{family}_{operation}_SOP_CLASS') == f'{storage[:-2]}.{offset}'
    assert uids.COMPOSITE_INSTANCE_ROOT_RETRIEVE_MOVE_SOP_CLASS == '1.2.840.10008.5.1.4.1.2.4.2'
    assert ROOT_GET == '1.2.840.10008.5.1.4.1.2.4.3'
    assert uids.COMPOSITE_INSTANCE_RETRIEVE_WITHOUT_BULK_DATA_GET_SOP_CLASS == (
        '1.2.840.10008.5.1.4.1.2.5.3')


def test_the_default_registrations_are_the_originals():
    assert sc.qr_find_scu.sop_classes == sc.FIND_SOP_CLASSES
    assert sc.qr_get_scp.sop_classes == sc.GET_SOP_CLASSES


# --- C-GET role selection for every retrieve class (PS3.4 C.4.3.1) --------------------------------


@pytest.mark.parametrize('get_class', uids.ALL_GET_SOP_CLASSES)
def test_every_get_class_proposes_the_storage_scp_role(get_class):
    registry = [(get_class, [uids.ExplicitVRLittleEndian]), (CT, [uids.ExplicitVRLittleEndian])]
    proposal, roles = negotiation.select_proposal(registry, {get_class}, set())
    assert [ctx.sop_class for ctx in proposal.values()] == [get_class, CT]
    assert [(r.sop_class_uid, r.scu_role, r.scp_role) for r in roles] == [(CT, 0, 1)]


def test_a_find_or_move_class_alone_proposes_no_role():
    registry = [(uids.HANGING_PROTOCOL_FIND_SOP_CLASS, [uids.ExplicitVRLittleEndian]),
                (uids.HANGING_PROTOCOL_MOVE_SOP_CLASS, [uids.ExplicitVRLittleEndian]),
                (CT, [uids.ExplicitVRLittleEndian])]
    scu = {uids.HANGING_PROTOCOL_FIND_SOP_CLASS, uids.HANGING_PROTOCOL_MOVE_SOP_CLASS}
    proposal, roles = negotiation.select_proposal(registry, scu, set())
    assert len(proposal) == 2 and roles == []


def test_a_non_patient_get_keeps_its_storage_class_when_contexts_run_short():
    """Hanging Protocol Storage is rarely received, but not by a Hanging Protocol GET SCU."""
    classes = [*uids.STORAGE_SOP_CLASSES, uids.HANGING_PROTOCOL_GET_SOP_CLASS]
    registry = [(uid, [uids.ExplicitVRLittleEndian]) for uid in classes]
    assert negotiation.rarely_received(HANGING)
    proposal, roles = negotiation.select_proposal(
        registry, {uids.HANGING_PROTOCOL_GET_SOP_CLASS}, set())
    proposed = {ctx.sop_class for ctx in proposal.values()}
    assert len(proposal) == 128 and HANGING in proposed
    assert uids.COLOR_PALETTE_STORAGE not in proposed  # rare, and retrieved by nothing here
    assert negotiation.retrieved_by(uids.DEFINED_PROCEDURE_PROTOCOL_GET_SOP_CLASS) == (
        uids.CT_DEFINED_PROCEDURE_PROTOCOL_STORAGE, uids.XA_DEFINED_PROCEDURE_PROTOCOL_STORAGE)
    assert negotiation.retrieved_by(ROOT_GET) == ()


# --- over loopback ------------------------------------------------------------------------------


def test_composite_instance_root_retrieve_get_alone_receives_the_instances(tmp_path, caplog):
    items = [dataset(CT, StudyInstanceUID='1.2.3.4') for _ in range(3)]
    client = client_of(sc.qr_get_scu, [ROOT_GET], tmp_path / 'in')
    caplog.set_level(logging.WARNING, logger='pynetdicom2')
    with serving(FamilyArchive(items)) as srv:
        with client.request_association(remote(srv)) as assoc:
            assert set(assoc.sop_classes_as_scp) and ROOT_GET not in CLASSIC_GETS
            get = assoc.get_scu(ROOT_GET)(identifier(QueryRetrieveLevel='STUDY',
                                                     StudyInstanceUID='1.2.3.4'), 1)
            received = [data for _, data in get]
    assert int(get.status) == 0 and get.response.num_of_completed_sub_ops == 3
    assert get.response.num_of_failed_sub_ops == 0
    assert len(received) == 3 and srv.asked == [ROOT_GET]
    assert sorted(p.name for p in (tmp_path / 'in').iterdir()) == sorted(
        f'{item.SOPInstanceUID}.dcm' for item in items)
    assert 'failed sub-operations' not in caplog.text


def test_every_find_class_answers_through_the_same_hook():
    items = [dataset(CT)]
    client = client_of(sc.qr_find_scu, uids.ALL_FIND_SOP_CLASSES, storage=())
    with serving(FamilyArchive(items)) as srv:
        with client.request_association(remote(srv)) as assoc:
            assert len(assoc.accepted_contexts) == len(uids.ALL_FIND_SOP_CLASSES)
            for number, find_class in enumerate(uids.ALL_FIND_SOP_CLASSES, start=1):
                results = list(assoc.get_scu(find_class)(identifier(SOPInstanceUID=''), number))
                assert [int(status) for _, status in results] == [0xFF00, 0], find_class
                assert results[0][0].SOPInstanceUID == items[0].SOPInstanceUID
    assert srv.asked == list(uids.ALL_FIND_SOP_CLASSES)


def test_relevant_patient_information_query_returns_its_one_match():
    """PS3.4 Q.2.1: at most one response with a match, then the final Success."""
    template = dataset(CT, PatientID='RPI-1')
    client = client_of(sc.qr_find_scu, uids.RELEVANT_PATIENT_INFORMATION_QUERY_SOP_CLASSES,
                       storage=())

    class Patients(FamilyArchive):
        def on_receive_find(self, context, ds):
            self.asked.append(context.sop_class)
            match = Dataset()
            match.PatientID = ds.PatientID
            match.PatientName = 'Relevant^Patient'
            yield match, statuses.C_FIND_PENDING

    with serving(Patients([template])) as srv:
        with client.request_association(remote(srv)) as assoc:
            general = assoc.get_scu(uids.GENERAL_RELEVANT_PATIENT_INFORMATION_QUERY_SOP_CLASS)
            results = list(general(identifier(PatientID='RPI-1', PatientName=''), 1))
    assert [int(status) for _, status in results] == [0xFF00, 0]
    assert results[0][0].PatientName == 'Relevant^Patient'
    assert srv.asked == [uids.GENERAL_RELEVANT_PATIENT_INFORMATION_QUERY_SOP_CLASS]


def test_every_get_class_retrieves_on_one_association(tmp_path):
    items = [dataset(CT) for _ in uids.ALL_GET_SOP_CLASSES]
    client = client_of(sc.qr_get_scu, uids.ALL_GET_SOP_CLASSES, tmp_path / 'in')
    with serving(FamilyArchive(items)) as srv:
        with client.request_association(remote(srv)) as assoc:
            for number, (get_class, item) in enumerate(zip(uids.ALL_GET_SOP_CLASSES, items), 1):
                get = assoc.get_scu(get_class)(identifier(SOPInstanceUID=item.SOPInstanceUID),
                                               number)
                assert len(list(get)) == 1 and int(get.status) == 0, get_class
    assert len(list((tmp_path / 'in').iterdir())) == len(items)
    assert srv.asked == list(uids.ALL_GET_SOP_CLASSES)


def test_hanging_protocol_move_reaches_a_storage_scp(tmp_path):
    protocol = dataset(HANGING, Modality='')
    destination = ae.StorageAE(tmp_path / 'dest', 'DEST', 0, host='127.0.0.1')
    destination.add_scp(sc.storage_scp)  # every storage class: hanging protocols included
    client = client_of(sc.qr_move_scu, [uids.HANGING_PROTOCOL_MOVE_SOP_CLASS], storage=())
    with serving(destination) as dest, serving(FamilyArchive([protocol])) as srv:
        srv.destinations['DEST'] = remote(dest)
        with client.request_association(remote(srv)) as assoc:
            move = assoc.get_scu(uids.HANGING_PROTOCOL_MOVE_SOP_CLASS)
            responses = list(move(identifier(SOPClassUID=HANGING), 'DEST', 1))
    status, final = responses[-1]
    assert int(status) == 0 and final.num_of_completed_sub_ops == 1
    assert [p.name for p in (tmp_path / 'dest').iterdir()] == [f'{protocol.SOPInstanceUID}.dcm']


def test_commands_get_of_hanging_protocols_asks_for_their_storage_class(tmp_path):
    protocol = dataset(HANGING, Modality='')
    with serving(FamilyArchive([protocol])) as srv:
        got = commands.get('FAMSCU', remote(srv), identifier(SOPClassUID=HANGING),
                           tmp_path / 'got', root=uids.HANGING_PROTOCOL_GET_SOP_CLASS)
    assert got == commands.CGetResponse(0, 1, 0, 0)
    assert [p.name for p in (tmp_path / 'got').iterdir()] == [f'{protocol.SOPInstanceUID}.dcm']
