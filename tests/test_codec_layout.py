"""The split of the codec and upper-layer modules: every old name still there, the same object.

``pdu``, ``userdataitems``, ``dimsemessages`` and ``dulprovider`` were split along their
seams (``wirecodec``, ``pduitems``, ``commandset``, ``fragmentation``, ``dimsedecoder``,
``framing``, ``transport``). Code written against the old modules must not notice: each still
has every public name it had (the names of this package's objects; what it imported from the
standard library or pydicom is not part of it), and the private names the original
pynetdicom2 documented. A name that moved is the very object of its new home, not a copy or
a wrapper, so that a hot path costs what it did.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / 'pynetdicom2'

#: Every public name each module had before the split (``dir()`` less what it imported from
#: outside the package).
PUBLIC_NAMES = {
    'pdu': [
        'AAbortPDU', 'AAssociateAcPDU', 'AAssociatePDUBase', 'AAssociateRjPDU',
        'AAssociateRqPDU', 'AReleasePDUBase', 'AReleaseRpPDU', 'AReleaseRqPDU',
        'AbstractSyntaxSubItem', 'ApplicationContextItem', 'AsynchronousOperationsWindowSubItem',
        'BytesLike', 'GenericUserDataSubItem', 'ImplementationClassUIDSubItem',
        'ImplementationVersionNameSubItem', 'MaximumLengthSubItem', 'PDU', 'PDUProcessingError',
        'PDU_HEADER_LENGTH', 'PDU_TYPES', 'PDataTfPDU', 'PresentationContextItemAC',
        'PresentationContextItemRQ', 'PresentationDataValueItem',
        'SOPClassExtendedNegotiationSubItem', 'SUB_ITEM_TYPES', 'ScpScuRoleSelectionSubItem',
        'TransferSyntaxSubItem', 'UserIdentityNegotiationSubItem',
        'UserIdentityNegotiationSubItemAc', 'UserInformationItem', 'UserItem', 'VariableItems',
        'decode_pdu',
    ],
    'userdataitems': [
        'AsynchronousOperationsWindowSubItem', 'BytesLike', 'GenericUserDataSubItem',
        'ImplementationClassUIDSubItem', 'ImplementationVersionNameSubItem',
        'MaximumLengthSubItem', 'PDUProcessingError', 'SOPClassExtendedNegotiationSubItem',
        'ScpScuRoleSelectionSubItem', 'Stream', 'UserIdentityNegotiationSubItem',
        'UserIdentityNegotiationSubItemAc',
    ],
    'dimsemessages': [
        'CCancelRQMessage', 'CEchoRQMessage', 'CEchoRSPMessage', 'CFindRQMessage',
        'CFindRSPMessage', 'CGetRQMessage', 'CGetRSPMessage', 'CMoveRQMessage',
        'CMoveRSPMessage', 'COMMAND_FRAGMENT', 'COMMAND_GROUP_LENGTH_TAG',
        'COMMAND_LAST_FRAGMENT', 'CStoreRQMessage', 'CStoreRSPMessage', 'DATA_FRAGMENT',
        'DATA_LAST_FRAGMENT', 'DIMSEDecoder', 'DIMSEMessage', 'DIMSEProcessingError',
        'DIMSERequestMessage', 'DIMSEResponseMessage', 'DataSet', 'GetFileCallback',
        'HAS_DATASET', 'MESSAGE_TYPE', 'NActionRQMessage', 'NActionRSPMessage',
        'NCreateRQMessage', 'NCreateRSPMessage', 'NDeleteRQMessage', 'NDeleteRSPMessage',
        'NEventReportRQMessage', 'NEventReportRSPMessage', 'NGetRQMessage', 'NGetRSPMessage',
        'NO_DATASET', 'NSetRQMessage', 'NSetRSPMessage', 'PDV_HEADER_LENGTH', 'PRIORITY_HIGH',
        'PRIORITY_LOW', 'PRIORITY_MEDIUM', 'PriorityMixin', 'SubOpsCountMixin',
        'UNLIMITED_READ_SIZE', 'chunks', 'dimse_property', 'fragment', 'fragment_file', 'pdu',
        'value_or_none',
    ],
    'dulprovider': [
        'DCMTimeoutError', 'DULServiceProvider', 'Events', 'GetFileCB', 'Indication',
        'JOIN_TIMEOUT', 'LOCAL_EVENT_BY_PDU_TYPE', 'MAX_ASSOCIATION_PDU_LENGTH', 'NetDICOMError',
        'PContextDef', 'PDUProcessingError', 'PEER_EVENT_BY_PDU_TYPE', 'SOCKET_TIMEOUT',
        'StateMachine', 'States', 'Timer', 'UNLIMITED_PDATA_CAP', 'logger', 'pdu', 'pdudump',
    ],
}

#: (old module, old name) -> (new home, name there), for every name that moved.
MOVED = {
    # pdu: the items, the sub-items and the codec primitives
    **{('pdu', name): ('pduitems', name) for name in (
        'ApplicationContextItem', 'PresentationContextItemRQ', 'PresentationContextItemAC',
        'AbstractSyntaxSubItem', 'TransferSyntaxSubItem', 'UserInformationItem',
        'PresentationDataValueItem', 'VariableItems')},
    **{('pdu', name): ('userdataitems', name) for name in (
        'AsynchronousOperationsWindowSubItem', 'GenericUserDataSubItem',
        'ImplementationClassUIDSubItem', 'ImplementationVersionNameSubItem',
        'MaximumLengthSubItem', 'ScpScuRoleSelectionSubItem',
        'SOPClassExtendedNegotiationSubItem', 'UserIdentityNegotiationSubItem',
        'UserIdentityNegotiationSubItemAc', 'SUB_ITEM_TYPES', 'UserItem')},
    ('pdu', 'BytesLike'): ('wirecodec', 'BytesLike'),
    ('pdu', '_next_type'): ('wirecodec', 'next_type'),
    ('pdu', '_read_exact'): ('wirecodec', 'read_exact'),
    ('userdataitems', 'BytesLike'): ('wirecodec', 'BytesLike'),
    ('userdataitems', 'Stream'): ('wirecodec', 'Stream'),
    ('userdataitems', '_read_exact'): ('wirecodec', 'read_exact'),
    # dimsemessages: the command-set codec, the fragmentation and the reassembler's parts
    ('dimsemessages', 'NO_DATASET'): ('commandset', 'NO_DATASET'),
    ('dimsemessages', 'HAS_DATASET'): ('commandset', 'HAS_DATASET'),
    **{('dimsemessages', name): ('fragmentation', name) for name in (
        'PDV_HEADER_LENGTH', 'COMMAND_FRAGMENT', 'COMMAND_LAST_FRAGMENT', 'DATA_FRAGMENT',
        'DATA_LAST_FRAGMENT', 'UNLIMITED_READ_SIZE', 'DataSet', 'chunks', 'fragment',
        'fragment_file')},
    ('dimsemessages', 'GetFileCallback'): ('dimsedecoder', 'GetFileCallback'),
}

#: The private names the original pynetdicom2 documented, and where each is at home now.
DOCUMENTED_PRIVATE = {
    ('pdu', '_next_type'): 'wirecodec',
    ('pdu', '_read_exact'): 'wirecodec',
    ('pdu', '_decode_ae_title'): 'pdu',
    ('userdataitems', '_read_exact'): 'wirecodec',
}

#: The modules of the split, each well under 900 lines.
SPLIT_MODULES = (
    'pdu', 'pduitems', 'userdataitems', 'wirecodec', 'dimsemessages', 'commandset',
    'fragmentation', 'dimsedecoder', 'dulprovider', 'transport', 'framing',
)
MAX_LINES = 900


def module(name: str):
    return importlib.import_module(f'pynetdicom2.{name}')


@pytest.mark.parametrize(('name', 'public'), sorted(PUBLIC_NAMES.items()))
def test_every_public_name_is_still_there(name, public):
    missing = [attr for attr in public if not hasattr(module(name), attr)]
    assert not missing, f'pynetdicom2.{name} lost {missing}'


@pytest.mark.parametrize(('old', 'new'), sorted(MOVED.items()), ids=lambda key: '.'.join(key))
def test_a_moved_name_is_the_object_of_its_new_home(old, new):
    (old_module, old_name), (home, name) = old, new
    assert getattr(module(old_module), old_name) is getattr(module(home), name)


@pytest.mark.parametrize(('where', 'home'), sorted(DOCUMENTED_PRIVATE.items()),
                         ids=lambda key: '.'.join(key) if isinstance(key, tuple) else key)
def test_the_documented_private_names_are_there(where, home):
    old_module, name = where
    value = getattr(module(old_module), name)
    assert callable(value)
    assert value.__module__ == f'pynetdicom2.{home}'


def test_pdu_keeps_its_documented_constants_and_types():
    from pynetdicom2 import pdu, pduitems, userdataitems

    assert pdu.PDU_HEADER_LENGTH == 6
    assert pdu.SUB_ITEM_TYPES is userdataitems.SUB_ITEM_TYPES
    assert set(pdu.SUB_ITEM_TYPES) == {0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59}
    assert pdu.UserItem is userdataitems.UserItem
    assert pdu.VariableItems is pduitems.VariableItems
    assert {name for name in pdu.__all__ if not hasattr(pdu, name)} == set()


def test_the_decoder_of_dimsemessages_is_the_reassembler_with_its_messages():
    from pynetdicom2 import dimsedecoder, dimsemessages, fsm

    assert issubclass(dimsemessages.DIMSEDecoder, dimsedecoder.Reassembler)
    assert dimsemessages.DIMSEDecoder.decode_message is dimsemessages.decode_message
    assert fsm.DIMSEDecoder is dimsemessages.DIMSEDecoder
    # the hot paths call the codec and fragmentation functions themselves, not wrappers
    assert dimsemessages.DIMSEMessage._encode_fields is module('commandset').encode_fields
    assert dimsemessages.DIMSEMessage._pdus is module('fragmentation').p_data_pdus


def test_the_provider_is_a_transport_thread_with_a_framer():
    from pynetdicom2 import dulprovider, framing, fsm, pdu, transport

    assert issubclass(dulprovider.DULServiceProvider, transport.TransportThread)
    # the framer knows the PDU types the state machine has events for (PS3.8 9.3.1)
    assert framing._KNOWN_PDU_TYPES == frozenset(fsm.PEER_EVENT_BY_PDU_TYPE)
    assert framing.HEADER_LENGTH == pdu.PDU_HEADER_LENGTH


@pytest.mark.parametrize('name', SPLIT_MODULES)
def test_each_module_is_well_under_the_line_limit(name):
    lines = (ROOT / f'{name}.py').read_text(encoding='utf-8').count('\n')
    assert lines < MAX_LINES, f'pynetdicom2/{name}.py has {lines} lines'


@pytest.mark.parametrize('name', SPLIT_MODULES)
def test_no_module_of_the_split_imports_a_private_name_of_another(name):
    tree = ast.parse((ROOT / f'{name}.py').read_text(encoding='utf-8'))
    private = [f'{node.module}.{alias.name}'
               for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('pynetdicom2')
               for alias in node.names
               if alias.name.startswith('_') and not alias.name.startswith('__')]
    assert not private, f'pynetdicom2/{name}.py imports {private}'


@pytest.mark.parametrize('name', [name for name in SPLIT_MODULES
                                  if hasattr(module(name), '__all__')])
def test_all_names_only_what_the_module_has(name):
    mod = module(name)
    assert [attr for attr in mod.__all__ if not hasattr(mod, attr)] == []
