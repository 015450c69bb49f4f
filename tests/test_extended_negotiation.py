"""SOP class extended negotiation (PS3.7 D.3.3.5, D.3.3.6): the records of PS3.4, the 0x57
sub-item, the acceptor's answers, the requester's reading of them, and the Q/R SCP's
relational queries, each over loopback where a wire is involved.
"""

from __future__ import annotations

import logging
import threading

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import extendednegotiation as xn
from pynetdicom2 import pdu, pdudump, qrmatch, sopclass, uids
from pynetdicom2.applicationentity import AE, ClientAE, StorageAE
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.asceprovider_acceptor import agreed_options, current_association
from pynetdicom2.exceptions import ClassNotSupportedError, PDUProcessingError
from pynetdicom2.extendednegotiation import (
    OpaqueOptions,
    QueryOptions,
    RetrieveOptions,
    StorageOptions,
    WorklistOptions,
)
from pynetdicom2.loopback import make_dataset, make_study, query
from pynetdicom2.qrscp import QRSCP
from pynetdicom2.userdataitems import (
    GenericUserDataSubItem,
    SOPClassCommonExtendedNegotiationSubItem,
    SOPClassExtendedNegotiationSubItem,
)

FIND = uids.STUDY_ROOT_FIND_SOP_CLASS
MOVE = uids.STUDY_ROOT_MOVE_SOP_CLASS
GET = uids.STUDY_ROOT_GET_SOP_CLASS
CT = uids.CT_IMAGE_STORAGE
MWL = uids.MODALITY_WORK_LIST_INFORMATION_FIND_SOP_CLASS
#: A specialised storage class of an implementation (PS3.4 B.3.1.4, note), under pydicom's
#: example root: CT Image Storage is its related general class.
SPECIAL_CT = UID('1.2.826.0.1.3680043.8.498.77.1')
TIMEOUT = 10.0


# --- the records: bytes both ways ---------------------------------------------------------------

QUERY_FIELDS = ['relational', 'datetime_matching', 'fuzzy_matching', 'timezone_adjustment',
                'enhanced_conversion', 'empty_value_matching', 'multiple_value_matching']


@pytest.mark.parametrize('position', range(7))
def test_query_options_one_byte_per_sub_field(position):
    """PS3.4 Table C.5-1: byte N+1 is the Nth sub-field; sent up to the last one set."""
    options = QueryOptions(**{QUERY_FIELDS[position]: True})
    raw = bytes(position) + b'\x01'
    assert options.encode() == raw
    assert QueryOptions.decode(raw) == options
    assert QueryOptions.decode(raw).encode() == raw


def test_query_options_shorter_and_longer_fields():
    assert QueryOptions().encode() == b'\x00'  # at least the relational-queries byte
    assert QueryOptions.decode(b'') == QueryOptions()
    short = QueryOptions.decode(b'\x01\x01')  # bytes 3 to 7 missing: 0 (PS3.4 C.5.1.1)
    assert short == QueryOptions(relational=True, datetime_matching=True)
    assert short.encode() == b'\x01\x01'
    longer = bytes([1] * 7) + b'\x05\x06'  # a later edition's sub-fields are kept
    options = QueryOptions.decode(longer)
    assert all(options.flags().values()) and options.trailing == b'\x05\x06'
    assert options.encode() == longer
    assert QueryOptions.decode(b'\x01\x00\x00').encode() == b'\x01\x00\x00'  # length kept
    assert QueryOptions(relational=True, length=3).encode() == b'\x01\x00\x00'
    assert QueryOptions.decode(b'\x02') == QueryOptions()  # only 1 asks for an option


def test_retrieve_options():
    """PS3.4 Table C.5-3: relational-retrieval, Enhanced Multi-Frame Image Conversion."""
    assert RetrieveOptions(relational=True).encode() == b'\x01'
    assert RetrieveOptions(enhanced_conversion=True).encode() == b'\x00\x01'
    assert RetrieveOptions.decode(b'\x01') == RetrieveOptions(relational=True)
    longer = RetrieveOptions.decode(b'\x01\x01\x07')
    assert longer.flags() == {'relational': True, 'enhanced_conversion': True}
    assert longer.trailing == b'\x07' and longer.encode() == b'\x01\x01\x07'


def test_worklist_options():
    """PS3.4 K.5.1.1: two reserved bytes, always 1, then fuzzy matching and timezone."""
    assert WorklistOptions().encode() == b'\x01\x01\x00'
    assert WorklistOptions(fuzzy_matching=True).encode() == b'\x01\x01\x01'
    assert WorklistOptions(timezone_adjustment=True).encode() == b'\x01\x01\x00\x01'
    assert WorklistOptions.decode(b'\x01\x01\x00\x01') == WorklistOptions(
        timezone_adjustment=True)
    assert WorklistOptions.decode(b'\x01') == WorklistOptions()


def test_storage_options():
    """PS3.4 Tables B.3-1, B.3-2: level of support, signature level, coercion, each followed
    by a reserved byte."""
    assert StorageOptions().encode() == bytes([3, 0, 0, 0, 2, 0])  # an SCU only
    level2 = StorageOptions(level_of_support=2, digital_signature=1, element_coercion=0)
    assert level2.encode() == bytes([2, 0, 1, 0, 0, 0])
    assert StorageOptions.decode(bytes([2, 0xFF, 1, 0xFF, 0, 0xFF])) == level2  # reserved
    short = StorageOptions.decode(b'\x02')
    assert (short.level_of_support, short.digital_signature, short.element_coercion) == (2, 0, 0)
    assert short.encode() == b'\x02'
    longer = StorageOptions.decode(bytes([1, 0, 0, 0, 1, 0, 9, 9]))
    assert longer.trailing == b'\x09\x09' and longer.encode() == bytes([1, 0, 0, 0, 1, 0, 9, 9])
    with pytest.raises(ValueError, match='level_of_support'):
        StorageOptions(level_of_support=256)


@pytest.mark.parametrize(('sop_class', 'family', 'record'), [
    (uids.PATIENT_ROOT_FIND_SOP_CLASS, xn.FIND, QueryOptions),
    (uids.HANGING_PROTOCOL_FIND_SOP_CLASS, xn.FIND, QueryOptions),
    (uids.PATIENT_ROOT_MOVE_SOP_CLASS, xn.MOVE, RetrieveOptions),
    (uids.COMPOSITE_INSTANCE_ROOT_RETRIEVE_GET_SOP_CLASS, xn.GET, RetrieveOptions),
    (MWL, xn.WORKLIST, WorklistOptions),
    (CT, xn.STORAGE, StorageOptions),
    (uids.VERIFICATION_SOP_CLASS, None, OpaqueOptions),
    (SPECIAL_CT, None, OpaqueOptions),
])
def test_the_family_decides_the_record(sop_class, family, record):
    assert xn.service_family(sop_class) == family
    assert type(xn.parse_app_info(sop_class, b'\x01')) is record


def test_registered_private_storage_class_is_storage():
    uids.register_private_sop_class(SPECIAL_CT, 'Special CT Storage', storage=True)
    try:
        assert xn.service_family(SPECIAL_CT) == xn.STORAGE
    finally:
        uids.unregister_private_sop_class(SPECIAL_CT)


def test_options_for_uid_then_family():
    config = {xn.FIND: QueryOptions(relational=True), FIND: b'\x00\x01'}
    assert xn.options_for(config, FIND) == QueryOptions(datetime_matching=True)
    assert xn.options_for(config, uids.PATIENT_ROOT_FIND_SOP_CLASS).relational
    assert xn.options_for(config, MOVE) is None


# --- the 0x57 sub-item (PS3.7 D.3.3.6) ----------------------------------------------------------

def common_raw(sop_class: str, service: str, related: list[str], trailing: bytes = b'') -> bytes:
    """Table D.3-12, assembled by hand."""
    def pair(uid: str) -> bytes:
        return len(uid).to_bytes(2, 'big') + uid.encode()

    related_field = b''.join(pair(uid) for uid in related)
    body = (pair(sop_class) + pair(service) + len(related_field).to_bytes(2, 'big')
            + related_field + trailing)
    return b'\x57\x00' + len(body).to_bytes(2, 'big') + body


@pytest.mark.parametrize('related', [[], [CT], [CT, '1.2.840.10008.5.1.4.1.1.2.1']])
def test_common_sub_item_both_ways(related):
    raw = common_raw(SPECIAL_CT, xn.STORAGE_SERVICE_CLASS, related)
    item = SOPClassCommonExtendedNegotiationSubItem(SPECIAL_CT, xn.STORAGE_SERVICE_CLASS,
                                                     related)
    assert item.encode() == raw
    assert item.total_length == len(raw)
    decoded = SOPClassCommonExtendedNegotiationSubItem.decode(raw)
    assert decoded == item
    assert decoded.related_general_sop_class_uids == related
    # still a generic sub-item for code written before it had a class of its own
    assert isinstance(decoded, GenericUserDataSubItem) and decoded.user_data == raw[4:]
    assert pdu.UserInformationItem.sub_items(raw) == [item]


def test_common_sub_item_keeps_a_later_versions_fields():
    raw = common_raw('1.2.3', xn.STORAGE_SERVICE_CLASS, ['1.2.4'], trailing=b'\xaa\xbb')
    raw = raw[:1] + b'\x01' + raw[2:]  # sub-item version 1
    item = SOPClassCommonExtendedNegotiationSubItem.decode(raw)
    assert (item.reserved, item.trailing) == (1, b'\xaa\xbb')
    assert item.encode() == raw


def test_malformed_common_sub_item():
    """Strict when decoded alone; kept generic inside a user information item."""
    raw = bytes.fromhex('57 00 0002 0000')
    with pytest.raises(PDUProcessingError):
        SOPClassCommonExtendedNegotiationSubItem.decode(raw)
    overrun = bytes.fromhex('57 00 0005 0003 312e32')  # SOP class UID, then nothing
    with pytest.raises(PDUProcessingError, match='service class UID'):
        SOPClassCommonExtendedNegotiationSubItem.decode(overrun)
    kept = pdu.UserInformationItem.sub_items(raw + overrun)
    assert [type(item) for item in kept] == [GenericUserDataSubItem] * 2
    assert b''.join(item.encode() for item in kept) == raw + overrun


def test_pdudump_describes_the_common_sub_item():
    item = SOPClassCommonExtendedNegotiationSubItem(SPECIAL_CT, xn.STORAGE_SERVICE_CLASS, [CT])
    lines = pdudump._describe_user_items([item])
    assert lines == [f'common extended negotiation {SPECIAL_CT}: service class Storage '
                     f'Service Class (1.2.840.10008.4.2), related general SOP classes CT '
                     f'Image Storage ({CT})']


# --- the acceptor's answer (pure) ---------------------------------------------------------------

def rq_item(sop_class: str, app_info: bytes) -> SOPClassExtendedNegotiationSubItem:
    return SOPClassExtendedNegotiationSubItem(sop_class, app_info)


@pytest.mark.parametrize(('requested', 'offered', 'reply'), [
    (b'\x01', QueryOptions(relational=True, datetime_matching=True), b'\x01'),  # one byte
    (b'\x00', QueryOptions(relational=True), b'\x00'),                          # not asked
    (b'\x01\x01\x01', QueryOptions(relational=True, fuzzy_matching=True), b'\x01\x00\x01'),
    (b'\x01\x00\x00\x00\x00\x00\x00\x01\x01', QueryOptions(relational=True),
     b'\x01\x00\x00\x00\x00\x00\x00'),                                         # unknown bytes
    (b'\x01', QueryOptions(), b'\x00'),                                         # all refused
    (b'\x01\x01', b'\x01\x01\x01\x01\x01', b'\x01\x01'),                        # offer as bytes
])
def test_find_answer_is_clipped_byte_by_byte(requested, offered, reply):
    items, agreed = xn.negotiate([rq_item(FIND, requested)], {FIND},
                                 lambda uid, info: offered)
    assert [item.app_info for item in items] == [reply]
    assert agreed[FIND].encode() == reply


def test_retrieve_and_worklist_answers():
    granted = xn.answer(MOVE, b'\x01\x01', RetrieveOptions(relational=True))
    assert granted.encode() == b'\x01\x00'
    # PS3.4 Y.5.1: never relational-retrieval for Composite Instance Root Retrieve
    cirr = uids.COMPOSITE_INSTANCE_ROOT_RETRIEVE_MOVE_SOP_CLASS
    assert xn.answer(cirr, b'\x01', RetrieveOptions(relational=True)).encode() == b'\x00'
    worklist = xn.answer(MWL, b'\x01\x01\x01\x01', WorklistOptions(timezone_adjustment=True))
    assert worklist.encode() == b'\x01\x01\x00\x01'
    assert xn.answer(MWL, b'\x01\x01\x01', WorklistOptions()).encode() == b'\x01\x01\x00'


def test_storage_answer_is_the_acceptors_statement():
    reply = xn.answer(CT, bytes([3, 0, 0, 0, 2, 0]), xn.STORING_SCP)
    assert reply.encode() == bytes([2, 0, 0, 0, 0, 0])


def test_no_item_when_the_decision_is_none_or_the_context_was_refused():
    rq = [rq_item(FIND, b'\x01'), rq_item(MOVE, b'\x01'), rq_item(GET, b'\x01')]
    items, agreed = xn.negotiate(rq, {FIND, MOVE}, lambda uid, info: (
        None if uid == FIND else RetrieveOptions(relational=True)))
    assert [item.sop_class_uid for item in items] == [MOVE]  # FIND: None; GET: not accepted
    assert list(agreed) == [MOVE]


def test_only_the_first_item_of_a_class_counts(caplog):
    rq = [rq_item(FIND, b'\x00'), rq_item(FIND, b'\x01')]
    with caplog.at_level(logging.WARNING, 'pynetdicom2.extendednegotiation'):
        items, _ = xn.negotiate(rq, {FIND}, lambda uid, info: QueryOptions(relational=True))
    assert [item.app_info for item in items] == [b'\x00']
    assert 'second SOP class extended negotiation item' in caplog.text


def test_an_answer_of_the_wrong_family_sends_nothing(caplog):
    with caplog.at_level(logging.WARNING, 'pynetdicom2.extendednegotiation'):
        assert xn.answer(FIND, b'\x01', RetrieveOptions(relational=True)) is None
    assert 'not a QueryOptions' in caplog.text


def test_default_answers(tmp_path):
    class Plain:
        extended_negotiation: dict = {}

    assert xn.default_answer(Plain(), FIND, b'\x01') == QueryOptions()  # answered, all 0
    assert xn.default_answer(Plain(), MWL, b'\x01\x01\x01') == WorklistOptions()
    assert xn.default_answer(Plain(), CT, b'\x03') is None  # says nothing of what it keeps
    assert xn.default_answer(Plain(), uids.VERIFICATION_SOP_CLASS, b'\x01') is None
    server = StorageAE(tmp_path / 'in', 'STORE', 0, bind_and_activate=False)
    try:
        assert xn.default_answer(server, CT, b'\x03') == xn.STORING_SCP
    finally:
        server.quit()


def test_related_class_map_and_its_default():
    item = SOPClassCommonExtendedNegotiationSubItem(SPECIAL_CT, xn.STORAGE_SERVICE_CLASS, [CT])
    served = {CT}

    def decide(it):
        return xn.default_related_class(it, served)

    assert xn.related_class_map([item], {SPECIAL_CT}, served, decide) == {SPECIAL_CT: CT}
    assert xn.related_class_map([item], set(), served, decide) == {}  # not proposed
    assert xn.related_class_map([item], {SPECIAL_CT}, set(), decide) == {}  # CT not served
    other_service = SOPClassCommonExtendedNegotiationSubItem(SPECIAL_CT, '1.2.840.10008.4.3',
                                                             [CT])
    assert xn.default_related_class(other_service, served) is None
    assert xn.related_class_map([item], {SPECIAL_CT}, served, lambda it: '1.2.9') == {}


# --- the requester's reading (pure) -------------------------------------------------------------

def test_requester_clips_a_grant_beyond_its_proposal(caplog):
    rq = [rq_item(FIND, b'\x01\x00'), rq_item(MOVE, b'\x01')]
    ac = [rq_item(FIND, b'\x01\x01'), rq_item(GET, b'\x01'), rq_item(MOVE, b'\x00')]
    with caplog.at_level(logging.WARNING, 'pynetdicom2.extendednegotiation'):
        agreed = xn.read_reply(rq, ac)
    assert agreed == {FIND: QueryOptions(relational=True), MOVE: RetrieveOptions()}
    assert 'grants' in caplog.text and 'more than proposed' in caplog.text
    assert 'not proposed' in caplog.text  # the GET reply


def test_proposal_items_skip_what_user_data_already_proposes():
    config = {xn.FIND: QueryOptions(relational=True), xn.MOVE: RetrieveOptions(relational=True)}
    items = xn.proposal_items(config, [FIND, MOVE, CT, FIND], [rq_item(MOVE, b'\x00')])
    assert [(item.sop_class_uid, item.app_info) for item in items] == [(FIND, b'\x01')]


# --- over loopback ------------------------------------------------------------------------------

def remote(server: AE, **fields) -> RemoteAEConfig:
    return RemoteAEConfig(server.ae_title, '127.0.0.1', server.local_ae.port, **fields)


class RecordingAE(AE):
    """Verification and C-FIND; records the A-ASSOCIATE-RQ's user information sub-items and
    what the hook was asked; its answer per SOP class is ``answers`` (absent: default)."""

    def __init__(self) -> None:
        super().__init__('EXTNEG', 0, host='127.0.0.1')
        self.add_scp(sopclass.verification_scp).add_scp(sopclass.qr_find_scp)
        self.answers: dict = {}
        self.asked: list = []
        self.rq_types: list[int] = []
        self.seen: list = []
        self.done = threading.Event()

    def on_association_request(self, asce, rq) -> None:
        self.rq_types = [item.item_type for variable in rq.variable_items
                         if isinstance(variable, pdu.UserInformationItem)
                         for item in variable.user_data]

    def on_sop_class_extended_negotiation(self, asce, sop_class_uid, app_info):
        self.asked.append((sop_class_uid, app_info))
        if sop_class_uid in self.answers:
            answer = self.answers[sop_class_uid]
            if isinstance(answer, Exception):
                raise answer
            return answer
        return super().on_sop_class_extended_negotiation(asce, sop_class_uid, app_info)

    def on_receive_find(self, context, ds):
        self.seen.append((current_association() is not None, agreed_options(context.sop_class)))
        return iter(())


@pytest.fixture
def recording():
    server = RecordingAE()
    with server:
        yield server


def client_for(*classes: str, config: dict | None = None) -> ClientAE:
    client = ClientAE('XNSCU')
    client.add_scu(sopclass.verification_scu)
    if classes:
        client.add_scu(sopclass.qr_find_scu, list(classes))
    client.extended_negotiation = dict(config or {})
    for name in ('artim_timeout', 'dcm_timeout', 'connect_timeout'):
        setattr(client, name, TIMEOUT)
    return client


def test_requester_proposes_and_reads_the_reply(recording):
    recording.answers[FIND] = QueryOptions(relational=True, fuzzy_matching=True)
    client = client_for(FIND, uids.PATIENT_ROOT_FIND_SOP_CLASS,
                        config={xn.FIND: QueryOptions(relational=True, datetime_matching=True)})
    with client.request_association(remote(recording)) as assoc:
        # the acceptor granted relational (asked), not fuzzy matching (not asked), not
        # date-time matching (not offered); the Patient Root class got the default: all 0
        assert assoc.extended_negotiation == {
            FIND: QueryOptions(relational=True),
            uids.PATIENT_ROOT_FIND_SOP_CLASS: QueryOptions(),
        }
        assert assoc.extended_negotiation[FIND].encode() == b'\x01\x00'
        answers = list(assoc.get_scu(FIND)(query('STUDY', StudyInstanceUID=''), 1))
        assert answers[-1][1].is_success
    assert sorted(recording.asked) == sorted([(FIND, b'\x01\x01'),
                                              (uids.PATIENT_ROOT_FIND_SOP_CLASS, b'\x01\x01')])
    # PS3.7 Annex D order: 0x51, 0x52, 0x55, then 0x56 (after the version name)
    assert recording.rq_types == [0x51, 0x52, 0x55, 0x56, 0x56]
    # the hook of a request reads what its association agreed
    assert recording.seen == [(True, QueryOptions(relational=True))]
    assert current_association() is None and agreed_options(FIND) is None


def test_no_item_when_the_hook_says_none(recording):
    recording.answers[FIND] = None
    recording.answers[uids.PATIENT_ROOT_FIND_SOP_CLASS] = ValueError('hook failure')
    client = client_for(FIND, uids.PATIENT_ROOT_FIND_SOP_CLASS,
                        config={xn.FIND: QueryOptions(relational=True)})
    replies = []

    def on_response(ac):
        replies.extend(item for variable in ac.variable_items
                       if isinstance(variable, pdu.UserInformationItem)
                       for item in variable.user_data if item.item_type == 0x56)

    client.on_association_response = on_response
    with client.request_association(remote(recording)) as assoc:
        assert assoc.extended_negotiation == {}
        assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
    assert replies == []
    assert len(recording.asked) == 2


def test_no_proposal_no_reply(recording):
    with client_for(FIND).request_association(remote(recording)) as assoc:
        assert assoc.extended_negotiation == {}
    assert recording.asked == [] and 0x56 not in recording.rq_types


def test_association_keyword_overrides_the_aes_configuration(recording):
    from pynetdicom2.asceprovider_requester import AssociationRequester

    client = client_for(FIND, config={xn.FIND: QueryOptions(relational=True)})
    assoc = AssociationRequester(client, 16384, remote(recording),
                                 extended_negotiation={FIND: QueryOptions()})
    assoc.request()
    try:
        assert assoc.extended_negotiation == {FIND: QueryOptions()}
        assert recording.asked == [(FIND, b'\x00')]
    finally:
        assoc.release()


def test_specialised_storage_class_served_as_ct(tmp_path):
    """PS3.7 D.3.3.6: a class the SCP does not know, whose related general class it stores."""
    server = StorageAE(tmp_path / 'in', 'STORE', 0, host='127.0.0.1')
    server.add_scp(sopclass.storage_scp)
    client = ClientAE('XNSCU').add_scu(sopclass.storage_scu, [SPECIAL_CT])
    ds = make_dataset(SPECIAL_CT)
    common = SOPClassCommonExtendedNegotiationSubItem(SPECIAL_CT, xn.STORAGE_SERVICE_CLASS, [CT])
    with server:
        with client.request_association(remote(server)) as assoc:  # no 0x57: refused
            with pytest.raises(ClassNotSupportedError):
                assoc.get_scu(SPECIAL_CT)
        target = remote(server, user_data=[common,
                                           rq_item(SPECIAL_CT, bytes([3, 0, 0, 0, 2, 0]))])
        with client.request_association(target) as assoc:
            assert assoc.get_scu(SPECIAL_CT)(ds, 1).is_success
            # its 0x56 item is read as storage's (the 0x57 item names the service class),
            # and answered as CT Image Storage is: a level 2 SCP
            assert assoc.extended_negotiation == {SPECIAL_CT: xn.STORING_SCP}
    stored = tmp_path / 'in' / f'{ds.SOPInstanceUID}.dcm'
    assert stored.exists()
    from pydicom import dcmread
    assert dcmread(stored).SOPClassUID == SPECIAL_CT


def test_served_as_reads_the_general_class_family():
    reply = xn.answer(SPECIAL_CT, bytes([3, 0, 0, 0, 2, 0]), xn.STORING_SCP, served_as=CT)
    assert reply == xn.STORING_SCP
    # a class of no known family: what the hook offers is sent as it is
    assert xn.answer(SPECIAL_CT, b'\x03', b'\x07') == OpaqueOptions(b'\x07')
    rq = [SOPClassCommonExtendedNegotiationSubItem(SPECIAL_CT, xn.STORAGE_SERVICE_CLASS),
          rq_item(SPECIAL_CT, b'\x03')]
    assert xn.read_reply(rq, [rq_item(SPECIAL_CT, b'\x02')]) == {
        SPECIAL_CT: StorageOptions(2, 0, 0)}


def test_storage_reply_of_a_storing_ae(tmp_path):
    server = StorageAE(tmp_path / 'in', 'STORE', 0, host='127.0.0.1')
    server.add_scp(sopclass.storage_scp)
    client = ClientAE('XNSCU').add_scu(sopclass.storage_scu, [CT])
    client.extended_negotiation = {xn.STORAGE: StorageOptions()}
    with server, client.request_association(remote(server)) as assoc:
        assert assoc.extended_negotiation == {CT: xn.STORING_SCP}
        assert assoc.extended_negotiation[CT].encode() == bytes([2, 0, 0, 0, 0, 0])


# --- the Q/R SCP: relational queries ------------------------------------------------------------

@pytest.fixture
def archive(tmp_path):
    scp = QRSCP(tmp_path / 'pacs', 'PACS', 0, host='127.0.0.1')
    with scp:
        yield scp
    scp.quit()


def store(scp: QRSCP, datasets: list[Dataset]) -> None:
    client = ClientAE('XNSCU').add_scu(sopclass.storage_scu, [CT])
    with client.request_association(remote(scp)) as assoc:
        for msg_id, ds in enumerate(datasets, 1):
            assert assoc.get_scu(CT)(ds, msg_id).is_success


def find(scp: QRSCP, identifier: Dataset, config: dict | None = None):
    client = client_for(FIND, config=config)
    with client.request_association(remote(scp)) as assoc:
        responses = list(assoc.get_scu(FIND)(identifier, 1))
        agreed = assoc.extended_negotiation
    return [ds for ds, status in responses if status.is_pending], responses[-1][1], agreed


def test_qrscp_relational_query(archive):
    study = make_study(2, 2, PatientID='P1', PatientName='Doe^Jane')
    other = make_study(1, 1, PatientID='P2', PatientName='Roe^Rick')
    store(archive, study + other)
    images = query('IMAGE', PatientName='Doe*', SOPInstanceUID='')

    # by default such a query is answered anyway, as before relational queries were agreed
    matches, status, agreed = find(archive, images)
    assert status.is_success and len(matches) == len(study) and agreed == {}
    # a strictly hierarchical archive: relational queries not negotiated, a patient key
    # above the IMAGE level is refused
    archive.hierarchical_only = True
    matches, status, agreed = find(archive, images)
    assert (matches, int(status), agreed) == ([], 0xA900, {})
    # the same query, relational queries proposed and granted: every image of the patient
    matches, status, agreed = find(archive, images, {FIND: QueryOptions(relational=True)})
    assert status.is_success and agreed == {FIND: QueryOptions(relational=True)}
    assert sorted(m.SOPInstanceUID for m in matches) == sorted(d.SOPInstanceUID for d in study)
    # proposed and refused by none: QRSCP grants it; proposed as 0: hierarchical still
    matches, status, agreed = find(archive, images, {FIND: QueryOptions()})
    assert int(status) == 0xA900 and agreed == {FIND: QueryOptions()}


def test_qrscp_hierarchical_queries_still_answer(archive):
    study = make_study(1, 2, PatientID='P1', PatientName='Doe^Jane')
    store(archive, study)
    # unique keys above the level, and keys above asking only for their value back
    identifier = query('IMAGE', StudyInstanceUID=study[0].StudyInstanceUID,
                       SeriesInstanceUID=study[0].SeriesInstanceUID, PatientName='',
                       SOPInstanceUID='')
    matches, status, _ = find(archive, identifier)
    assert status.is_success and len(matches) == 2
    assert {str(m.PatientName) for m in matches} == {'Doe^Jane'}
    assert qrmatch.hierarchical_violations(identifier, 'IMAGE', 'STUDY') == []


def test_qrscp_grants_relational_retrieval(archive):
    client = ClientAE('XNSCU')
    client.add_scu(sopclass.qr_move_scu, [MOVE]).add_scu(sopclass.qr_get_scu, [GET])
    client.extended_negotiation = {
        xn.MOVE: RetrieveOptions(relational=True, enhanced_conversion=True),
        xn.GET: RetrieveOptions(relational=True),
    }
    with client.request_association(remote(archive)) as assoc:
        assert assoc.extended_negotiation == {MOVE: RetrieveOptions(relational=True),
                                              GET: RetrieveOptions(relational=True)}
        assert assoc.extended_negotiation[MOVE].encode() == b'\x01\x00'
