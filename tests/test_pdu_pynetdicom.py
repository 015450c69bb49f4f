"""Differential tests: pynetdicom2's codec against pynetdicom's, through pynetdicom's public API.

For every PDU type and user-information sub-item:

* bytes pynetdicom2 encodes decode in pynetdicom (``pynetdicom.pdu`` / ``pynetdicom.pdu_items``
  ``decode``) to the same values, and pynetdicom re-encodes them to the same bytes;
* bytes pynetdicom encodes (built from its documented primitives) decode in pynetdicom2 to the
  same values, and pynetdicom2 re-encodes them to the same bytes.

Values are compared through a small neutral view (tuples of plain values) built for each side.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

try:
    from pynetdicom import pdu as their_pdu
    from pynetdicom import pdu_items as their_items
    from pynetdicom import pdu_primitives as primitives
    from pynetdicom.presentation import PresentationContext
except ImportError:  # pragma: no cover - pynetdicom is a test dependency
    pytest.skip('pynetdicom is not installed: no peer to compare against',
                allow_module_level=True)

from pynetdicom2 import pdu
from pynetdicom2 import userdataitems as udi

APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1'
VERIFICATION = '1.2.840.10008.1.1'
CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2'
STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1'
STORAGE_SERVICE_CLASS = '1.2.840.10008.4.2'
IMPLICIT_LE = '1.2.840.10008.1.2'
EXPLICIT_LE = '1.2.840.10008.1.2.1'
JPEG_BASELINE = '1.2.840.10008.1.2.4.50'


# ---- neutral views --------------------------------------------------------------------------

def parse_common_extended(body: bytes) -> tuple:
    """PS3.7 D.3.3.6, Table D.3-12: the fields after the item length of sub-item 0x57."""
    def uid_at(pos: int) -> tuple[str, int]:
        length = struct.unpack_from('>H', body, pos)[0]
        return body[pos + 2:pos + 2 + length].decode('ascii'), pos + 2 + length

    sop_class, pos = uid_at(0)
    service_class, pos = uid_at(pos)
    related_length = struct.unpack_from('>H', body, pos)[0]
    pos += 2
    end = pos + related_length
    related = []
    while pos < end:
        uid, pos = uid_at(pos)
        related.append(uid)
    return ('common-extended', sop_class, service_class, related)


def as_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def our_view(obj: Any) -> Any:
    """Neutral view of a pynetdicom2 object."""
    if isinstance(obj, pdu.AAssociatePDUBase):
        return (obj.pdu_type, obj.called_ae_title, obj.calling_ae_title, obj.protocol_version,
                [our_view(item) for item in obj.variable_items])
    if isinstance(obj, pdu.AAssociateRjPDU):
        return ('rj', obj.result, obj.source, obj.reason_diag)
    if isinstance(obj, pdu.PDataTfPDU):
        return ('p-data', [our_view(item) for item in obj.data_value_items])
    if isinstance(obj, pdu.AReleasePDUBase):
        return ('release', obj.pdu_type)
    if isinstance(obj, pdu.AAbortPDU):
        return ('abort', obj.source, obj.reason_diag)
    if isinstance(obj, pdu.PresentationDataValueItem):
        return (obj.context_id, bytes(obj.data_value))
    if isinstance(obj, pdu.ApplicationContextItem):
        return ('context', str(obj.context_name))
    if isinstance(obj, pdu.PresentationContextItemRQ):
        return ('pc-rq', obj.context_id, str(obj.abs_sub_item.name),
                [str(ts.name) for ts in obj.ts_sub_items])
    if isinstance(obj, pdu.PresentationContextItemAC):
        syntax = obj.ts_sub_item.name if obj.ts_sub_item is not None else None
        return ('pc-ac', obj.context_id, obj.result_reason, str(syntax) if syntax else None)
    if isinstance(obj, pdu.UserInformationItem):
        return ('user-info', [our_view(item) for item in obj.user_data])
    if isinstance(obj, udi.MaximumLengthSubItem):
        return ('max-length', obj.maximum_length_received)
    if isinstance(obj, udi.ImplementationClassUIDSubItem):
        return ('class-uid', str(obj.implementation_class_uid))
    if isinstance(obj, udi.AsynchronousOperationsWindowSubItem):
        return ('async', obj.max_num_ops_invoked, obj.max_num_ops_performed)
    if isinstance(obj, udi.ScpScuRoleSelectionSubItem):
        return ('role', str(obj.sop_class_uid), obj.scu_role, obj.scp_role)
    if isinstance(obj, udi.ImplementationVersionNameSubItem):
        return ('version', obj.implementation_version_name)
    if isinstance(obj, udi.SOPClassExtendedNegotiationSubItem):
        return ('extended', str(obj.sop_class_uid), obj.app_info)
    if isinstance(obj, udi.UserIdentityNegotiationSubItem):
        return ('identity-rq', obj.user_identity_type, obj.positive_response_req,
                as_bytes(obj.primary_field), as_bytes(obj.secondary_field))
    if isinstance(obj, udi.UserIdentityNegotiationSubItemAc):
        return ('identity-ac', as_bytes(obj.server_response))
    if isinstance(obj, udi.GenericUserDataSubItem) and obj.item_type == 0x57:
        return parse_common_extended(obj.user_data)
    raise AssertionError(f'no view for {obj!r}')


def their_view(obj: Any) -> Any:
    """Neutral view of a pynetdicom object, read through its public properties."""
    if isinstance(obj, (their_pdu.A_ASSOCIATE_RQ, their_pdu.A_ASSOCIATE_AC)):
        return (obj.pdu_type, obj.called_ae_title, obj.calling_ae_title, obj.protocol_version,
                [their_view(item) for item in obj.variable_items])
    if isinstance(obj, their_pdu.A_ASSOCIATE_RJ):
        return ('rj', obj.result, obj.source, obj.reason_diagnostic)
    if isinstance(obj, their_pdu.P_DATA_TF):
        return ('p-data', [their_view(item) for item in obj.presentation_data_value_items])
    if isinstance(obj, (their_pdu.A_RELEASE_RQ, their_pdu.A_RELEASE_RP)):
        return ('release', obj.pdu_type)
    if isinstance(obj, their_pdu.A_ABORT_RQ):
        return ('abort', obj.source, obj.reason_diagnostic)
    if isinstance(obj, their_items.PresentationDataValueItem):
        return (obj.context_id, bytes(obj.data))
    if isinstance(obj, their_items.ApplicationContextItem):
        return ('context', str(obj.application_context_name))
    if isinstance(obj, their_items.PresentationContextItemRQ):
        return ('pc-rq', obj.context_id, str(obj.abstract_syntax),
                [str(ts) for ts in obj.transfer_syntax])
    if isinstance(obj, their_items.PresentationContextItemAC):
        syntax = obj.transfer_syntax
        return ('pc-ac', obj.context_id, obj.result, str(syntax) if syntax else None)
    if isinstance(obj, their_items.UserInformationItem):
        return ('user-info', [their_view(item) for item in obj.user_data])
    if isinstance(obj, their_items.MaximumLengthSubItem):
        return ('max-length', obj.maximum_length_received)
    if isinstance(obj, their_items.ImplementationClassUIDSubItem):
        return ('class-uid', str(obj.implementation_class_uid))
    if isinstance(obj, their_items.AsynchronousOperationsWindowSubItem):
        return ('async', obj.maximum_number_operations_invoked,
                obj.maximum_number_operations_performed)
    if isinstance(obj, their_items.SCP_SCU_RoleSelectionSubItem):
        return ('role', str(obj.sop_class_uid), obj.scu_role, obj.scp_role)
    if isinstance(obj, their_items.ImplementationVersionNameSubItem):
        name = obj.implementation_version_name
        return ('version', name.decode('ascii') if isinstance(name, bytes) else name)
    if isinstance(obj, their_items.SOPClassExtendedNegotiationSubItem):
        return ('extended', str(obj.sop_class_uid), obj.app_info)
    if isinstance(obj, their_items.SOPClassCommonExtendedNegotiationSubItem):
        return ('common-extended', str(obj.sop_class_uid), str(obj.service_class_uid),
                [str(uid) for uid in obj.related_general_sop_class_identification])
    if isinstance(obj, their_items.UserIdentitySubItemRQ):
        return ('identity-rq', obj.id_type, int(obj.response_requested), bytes(obj.primary),
                bytes(obj.secondary or b''))
    if isinstance(obj, their_items.UserIdentitySubItemAC):
        return ('identity-ac', bytes(obj.response or b''))
    raise AssertionError(f'no view for {obj!r}')


THEIR_PDU = {
    0x01: their_pdu.A_ASSOCIATE_RQ, 0x02: their_pdu.A_ASSOCIATE_AC,
    0x03: their_pdu.A_ASSOCIATE_RJ, 0x04: their_pdu.P_DATA_TF, 0x05: their_pdu.A_RELEASE_RQ,
    0x06: their_pdu.A_RELEASE_RP, 0x07: their_pdu.A_ABORT_RQ,
}
THEIR_SUB_ITEM = {
    0x51: their_items.MaximumLengthSubItem, 0x52: their_items.ImplementationClassUIDSubItem,
    0x53: their_items.AsynchronousOperationsWindowSubItem,
    0x54: their_items.SCP_SCU_RoleSelectionSubItem,
    0x55: their_items.ImplementationVersionNameSubItem,
    0x56: their_items.SOPClassExtendedNegotiationSubItem,
    0x57: their_items.SOPClassCommonExtendedNegotiationSubItem,
    0x58: their_items.UserIdentitySubItemRQ, 0x59: their_items.UserIdentitySubItemAC,
}


def their_decode(raw: bytes) -> Any:
    decoded = THEIR_PDU[raw[0]]()
    decoded.decode(raw)
    return decoded


# ---- our objects ----------------------------------------------------------------------------

def common_extended(related: list[str]) -> udi.GenericUserDataSubItem:
    """A SOP Class Common Extended Negotiation Sub-item (0x57) assembled per PS3.7 D.3.3.6."""
    def uid(value: str) -> bytes:
        return struct.pack('>H', len(value)) + value.encode()

    related_field = b''.join(uid(value) for value in related)
    body = (uid(CT_IMAGE_STORAGE) + uid(STORAGE_SERVICE_CLASS)
            + struct.pack('>H', len(related_field)) + related_field)
    return udi.GenericUserDataSubItem(0x57, body)


OUR_SUB_ITEMS = [
    udi.MaximumLengthSubItem(16384),
    udi.MaximumLengthSubItem(0),
    udi.ImplementationClassUIDSubItem('1.2.826.0.1.3680043.9.3811.1.0'),
    udi.AsynchronousOperationsWindowSubItem(5, 1),
    udi.ScpScuRoleSelectionSubItem(CT_IMAGE_STORAGE, 0, 1),
    udi.ScpScuRoleSelectionSubItem(VERIFICATION, 1, 0),
    udi.ImplementationVersionNameSubItem('PYNETDICOM2_100'),
    udi.SOPClassExtendedNegotiationSubItem(STUDY_ROOT_FIND, b'\x01\x01\x00'),
    common_extended([]),
    common_extended(['1.2.840.10008.5.1.4.1.1.2.1', '1.2.3']),
    udi.UserIdentityNegotiationSubItem('user', '', 1, 0),
    udi.UserIdentityNegotiationSubItem('user', 'secret', 2, 1),
    udi.UserIdentityNegotiationSubItem(b'\x01kerberos-ticket\xff', '', 3, 1),
    udi.UserIdentityNegotiationSubItem('<saml:Assertion/>', '', 4, 0),
    udi.UserIdentityNegotiationSubItem('eyJhbGciOiJIUzI1NiJ9.e30.sig', '', 5, 1),
    udi.UserIdentityNegotiationSubItemAc(b''),
    udi.UserIdentityNegotiationSubItemAc(b'server-ticket\x00\xff'),
]


def our_rq(identity: udi.UserIdentityNegotiationSubItem) -> pdu.AAssociateRqPDU:
    return pdu.AAssociateRqPDU('STORESCP', 'STORESCU', [
        pdu.ApplicationContextItem(APPLICATION_CONTEXT),
        pdu.PresentationContextItemRQ(1, pdu.AbstractSyntaxSubItem(VERIFICATION),
                                      [pdu.TransferSyntaxSubItem(IMPLICIT_LE)]),
        pdu.PresentationContextItemRQ(3, pdu.AbstractSyntaxSubItem(CT_IMAGE_STORAGE), [
            pdu.TransferSyntaxSubItem(JPEG_BASELINE), pdu.TransferSyntaxSubItem(EXPLICIT_LE),
            pdu.TransferSyntaxSubItem(IMPLICIT_LE)]),
        pdu.PresentationContextItemRQ(255, pdu.AbstractSyntaxSubItem(STUDY_ROOT_FIND),
                                      [pdu.TransferSyntaxSubItem(EXPLICIT_LE)]),
        pdu.UserInformationItem([
            udi.MaximumLengthSubItem(16384),
            udi.ImplementationClassUIDSubItem('1.2.826.0.1.3680043.9.3811.1.0'),
            udi.AsynchronousOperationsWindowSubItem(3, 2),
            udi.ScpScuRoleSelectionSubItem(CT_IMAGE_STORAGE, 0, 1),
            udi.ImplementationVersionNameSubItem('PYNETDICOM2_100'),
            udi.SOPClassExtendedNegotiationSubItem(STUDY_ROOT_FIND, b'\x01'),
            common_extended(['1.2.3']),
            identity,
        ]),
    ])


def our_ac() -> pdu.AAssociateAcPDU:
    contexts = [pdu.PresentationContextItemAC(2 * result + 1, result,
                                              pdu.TransferSyntaxSubItem(IMPLICIT_LE))
                for result in range(5)]
    return pdu.AAssociateAcPDU('STORESCP', 'STORESCU', [
        pdu.ApplicationContextItem(APPLICATION_CONTEXT),
        *contexts,
        pdu.UserInformationItem([
            udi.MaximumLengthSubItem(0),
            udi.ImplementationClassUIDSubItem('1.2.3.4'),
            udi.AsynchronousOperationsWindowSubItem(1, 1),
            udi.ScpScuRoleSelectionSubItem(CT_IMAGE_STORAGE, 0, 1),
            udi.ImplementationVersionNameSubItem('X'),
            udi.SOPClassExtendedNegotiationSubItem(STUDY_ROOT_FIND, b'\x01'),
            udi.UserIdentityNegotiationSubItemAc(b'ticket'),
        ]),
    ])


IDENTITIES = [item for item in OUR_SUB_ITEMS
              if isinstance(item, udi.UserIdentityNegotiationSubItem)]
OUR_PDUS = [
    *[our_rq(identity) for identity in IDENTITIES],
    our_ac(),
    *[pdu.AAssociateRjPDU(result, source, reason)
      for result, source, reason in [(1, 1, 1), (1, 1, 2), (2, 1, 3), (1, 1, 7), (1, 2, 1),
                                     (1, 2, 2), (2, 3, 1), (2, 3, 2)]],
    pdu.PDataTfPDU([pdu.PresentationDataValueItem(1, b'\x03' + bytes(range(40)))]),
    pdu.PDataTfPDU([pdu.PresentationDataValueItem(1, b'\x01cmd-part'),
                    pdu.PresentationDataValueItem(1, b'\x03cmd-end'),
                    pdu.PresentationDataValueItem(3, b'\x00data'),
                    pdu.PresentationDataValueItem(3, b'\x02' + b'\xa5' * 16384)]),
    pdu.AReleaseRqPDU(),
    pdu.AReleaseRpPDU(),
    pdu.AAbortPDU(0, 0),
    *[pdu.AAbortPDU(2, reason) for reason in (0, 1, 2, 4, 5, 6)],
]


def pdu_id(obj: Any) -> str:
    return type(obj).__name__


# ---- ours -> pynetdicom ---------------------------------------------------------------------

@pytest.mark.parametrize('ours', OUR_PDUS, ids=pdu_id)
def test_our_pdus_decode_in_pynetdicom(ours: Any) -> None:
    raw = ours.encode()
    theirs = their_decode(raw)
    assert their_view(theirs) == our_view(ours)
    assert theirs.encode() == raw


@pytest.mark.parametrize('ours', OUR_SUB_ITEMS, ids=lambda item: type(item).__name__)
def test_our_sub_items_decode_in_pynetdicom(ours: Any) -> None:
    raw = ours.encode()
    theirs = THEIR_SUB_ITEM[raw[0]]()
    theirs.decode(raw)
    assert their_view(theirs) == our_view(ours)
    assert theirs.encode() == raw


def test_our_items_decode_in_pynetdicom() -> None:
    rq = our_rq(OUR_SUB_ITEMS[10])
    for ours, their_cls in zip(rq.variable_items, [
            their_items.ApplicationContextItem, their_items.PresentationContextItemRQ,
            their_items.PresentationContextItemRQ, their_items.PresentationContextItemRQ,
            their_items.UserInformationItem]):
        theirs = their_cls()
        theirs.decode(ours.encode())
        assert their_view(theirs) == our_view(ours)
    for ours in our_ac().variable_items[1:6]:
        theirs = their_items.PresentationContextItemAC()
        theirs.decode(ours.encode())
        assert their_view(theirs) == our_view(ours)


# ---- pynetdicom -> ours ---------------------------------------------------------------------

def their_user_information(identity: Any) -> list:
    """User information primitives, one of each kind pynetdicom documents."""
    maximum = primitives.MaximumLengthNotification()
    maximum.maximum_length_received = 32768
    class_uid = primitives.ImplementationClassUIDNotification()
    class_uid.implementation_class_uid = '1.2.826.0.1.3680043.9.3811.2'
    version = primitives.ImplementationVersionNameNotification()
    version.implementation_version_name = 'PYNETDICOM_304'
    window = primitives.AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 4
    window.maximum_number_operations_performed = 2
    role = primitives.SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid = CT_IMAGE_STORAGE
    role.scu_role = False
    role.scp_role = True
    extended = primitives.SOPClassExtendedNegotiation()
    extended.sop_class_uid = STUDY_ROOT_FIND
    extended.service_class_application_information = b'\x01\x00'
    common = primitives.SOPClassCommonExtendedNegotiation()
    common.sop_class_uid = CT_IMAGE_STORAGE
    common.service_class_uid = STORAGE_SERVICE_CLASS
    common.related_general_sop_class_identification = ['1.2.840.10008.5.1.4.1.1.2.1']
    return [maximum, class_uid, version, window, role, extended, common, identity]


def identity_rq(id_type: int, primary: bytes, secondary: bytes | None, response: bool) -> Any:
    identity = primitives.UserIdentityNegotiation()
    identity.user_identity_type = id_type
    identity.primary_field = primary
    if secondary is not None:
        identity.secondary_field = secondary
    identity.positive_response_requested = response
    return identity


def their_rq(identity: Any) -> Any:
    primitive = primitives.A_ASSOCIATE()
    primitive.application_context_name = APPLICATION_CONTEXT
    primitive.called_ae_title = 'ANY-SCP'
    primitive.calling_ae_title = 'PYNETDICOM'
    contexts = []
    for context_id, abstract, syntaxes in [(1, VERIFICATION, [IMPLICIT_LE]),
                                           (3, CT_IMAGE_STORAGE, [JPEG_BASELINE, EXPLICIT_LE,
                                                                  IMPLICIT_LE]),
                                           (5, STUDY_ROOT_FIND, [EXPLICIT_LE])]:
        context = PresentationContext()
        context.context_id = context_id
        context.abstract_syntax = abstract
        context.transfer_syntax = syntaxes
        contexts.append(context)
    primitive.presentation_context_definition_list = contexts
    primitive.user_information = their_user_information(identity)
    return their_pdu.A_ASSOCIATE_RQ(primitive)


def their_ac() -> Any:
    primitive = primitives.A_ASSOCIATE()
    primitive.application_context_name = APPLICATION_CONTEXT
    primitive.called_ae_title = 'ANY-SCP'
    primitive.calling_ae_title = 'PYNETDICOM'
    primitive.result = 0
    contexts = []
    for result in range(5):
        context = PresentationContext()
        context.context_id = 2 * result + 1
        context.abstract_syntax = VERIFICATION
        context.transfer_syntax = [EXPLICIT_LE]
        context.result = result
        contexts.append(context)
    primitive.presentation_context_definition_results_list = contexts
    response = primitives.UserIdentityNegotiation()
    response.server_response = b'server-response'
    primitive.user_information = their_user_information(response)[:-2] + [response]
    return their_pdu.A_ASSOCIATE_AC(primitive)


def their_rj(result: int, source: int, reason: int) -> Any:
    primitive = primitives.A_ASSOCIATE()
    primitive.result = result
    primitive.result_source = source
    primitive.diagnostic = reason
    return their_pdu.A_ASSOCIATE_RJ(primitive)


def their_p_data(values: list) -> Any:
    primitive = primitives.P_DATA()
    primitive.presentation_data_value_list = values
    return their_pdu.P_DATA_TF(primitive)


def their_release(reply: bool) -> Any:
    primitive = primitives.A_RELEASE()
    if reply:
        primitive.result = 'affirmative'
        return their_pdu.A_RELEASE_RP(primitive)
    return their_pdu.A_RELEASE_RQ(primitive)


def their_abort(source: int | None, reason: int = 0) -> Any:
    if source is None:  # provider-initiated (A-P-ABORT), source 2
        primitive = primitives.A_P_ABORT()
        primitive.provider_reason = reason
    else:
        primitive = primitives.A_ABORT()
        primitive.abort_source = source
    return their_pdu.A_ABORT_RQ(primitive)


THEIR_PDUS = [
    their_rq(identity_rq(1, b'user', None, False)),
    their_rq(identity_rq(2, b'user', b'secret', True)),
    their_rq(identity_rq(3, b'\x00kerberos\xff', None, True)),
    their_rq(identity_rq(4, b'<saml:Assertion/>', None, False)),
    their_rq(identity_rq(5, b'eyJhbGciOiJIUzI1NiJ9.e30.sig', None, True)),
    their_ac(),
    *[their_rj(*args) for args in [(1, 1, 1), (2, 1, 3), (1, 1, 7), (1, 2, 2), (2, 3, 1)]],
    their_p_data([[1, b'\x03' + bytes(range(40))]]),
    their_p_data([[1, b'\x01cmd'], [1, b'\x03end'], [7, b'\x02' + b'\x5a' * 16384]]),
    their_release(False),
    their_release(True),
    their_abort(0),
    *[their_abort(None, reason) for reason in (0, 1, 2, 4, 5, 6)],
]


@pytest.mark.parametrize('theirs', THEIR_PDUS, ids=lambda obj: type(obj).__name__)
def test_pynetdicom_pdus_decode_in_ours(theirs: Any) -> None:
    raw = theirs.encode()
    ours = pdu.decode_pdu(raw)
    assert our_view(ours) == their_view(theirs)
    assert ours.encode() == raw
    assert type(ours).decode(bytearray(raw)).encode() == raw


def test_pynetdicom_sub_items_decode_in_ours() -> None:
    """Every sub-item pynetdicom builds from its primitives decodes in ours to the same values."""
    seen = set()
    for theirs in [*their_rq(identity_rq(2, b'u', b'p', True)).user_information.user_data,
                   *their_ac().user_information.user_data]:
        raw = theirs.encode()
        seen.add(raw[0])
        cls = pdu.SUB_ITEM_TYPES.get(raw[0], udi.GenericUserDataSubItem)
        ours = cls.decode(raw)
        assert our_view(ours) == their_view(theirs)
        assert ours.encode() == raw
    assert seen == set(range(0x51, 0x5A))


def test_pynetdicom_items_decode_in_ours() -> None:
    for theirs in [*their_rq(identity_rq(1, b'u', None, False)).variable_items,
                   *their_ac().variable_items]:
        raw = theirs.encode()
        ours = {0x10: pdu.ApplicationContextItem, 0x20: pdu.PresentationContextItemRQ,
                0x21: pdu.PresentationContextItemAC,
                0x50: pdu.UserInformationItem}[raw[0]].decode(raw)
        assert our_view(ours) == their_view(theirs)
        assert ours.encode() == raw
    pdv = their_items.PresentationDataValueItem()
    pdv.presentation_context_id = 9
    pdv.presentation_data_value = b'\x02payload'
    ours = pdu.PresentationDataValueItem.decode(pdv.encode())
    assert our_view(ours) == their_view(pdv)
