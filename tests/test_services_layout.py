"""The services live in ``pynetdicom2.services``, one module per service class, and
``pynetdicom2.sopclass`` (the original's module) still has every name it had.

``test_docs`` runs the docstring examples of the package's top-level modules; the examples of
the service modules are run here.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import logging
import re
from pathlib import Path

import pytest

import pynetdicom2
from pynetdicom2 import sopclass

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / 'pynetdicom2' / 'services'

#: Each service module, in an order where a module imports only those before it.
ORDER = ['base', 'verification', 'storage', 'query', 'suboperations', 'moveassociation',
         'retrieve', 'worklist', 'nservices', 'mpps', 'commitment', 'nsupport', 'upsstate',
         'ups', 'ian', 'eventlogging', 'storagemanagement', 'displaysystem', 'mediacreation',
         'rtverification', 'printmanagement', 'printscp']
MODULES = [f'pynetdicom2.services.{name}' for name in ORDER]

#: The public names of ``pynetdicom2.sopclass`` before the split, by the module they come from
#: now. Those of the services are the services' modules; the others are what the module
#: imported for its own use, which code may have reached through it (``sopclass.Dataset``).
HOMES = {
    'pynetdicom2.services.base': [
        'AugmentedProto', 'MessageDispatcher', 'MessageDispatcherSCP', 'MessageDispatcherSCU',
        'logger', 'sop_classes', 'store_in_file',
    ],
    'pynetdicom2.services.verification': ['verification_scp', 'verification_scu'],
    'pynetdicom2.services.storage': ['DataSetSource', 'storage_scp', 'storage_scu'],
    'pynetdicom2.services.query': [
        'FIND_SOP_CLASSES', 'GET_SOP_CLASSES', 'MOVE_SOP_CLASSES', 'answer_find',
        'qr_find_scp', 'qr_find_scu',
    ],
    'pynetdicom2.services.suboperations': ['MAX_SUB_OPERATIONS'],
    'pynetdicom2.services.retrieve': [
        'GetOperation', 'qr_get_scp', 'qr_get_scu', 'qr_move_scp', 'qr_move_scu',
    ],
    'pynetdicom2.services.worklist': ['modality_work_list_scp', 'modality_work_list_scu'],
    'pynetdicom2.services.nservices': [
        'NReply', 'NResponse', 'NServiceSCP', 'NServiceSCU', 'UNRECOGNIZED_OPERATION',
        'n_action_scu', 'n_create_scu', 'n_delete_scu', 'n_event_report_scu', 'n_get_scu',
        'n_set_scu', 'wait_for_event_report',
    ],
    'pynetdicom2.services.mpps': [
        'MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS', 'ModalityPerformedProcedureStep',
        'mpps_scu',
    ],
    'pynetdicom2.services.commitment': [
        'STORAGE_COMMITMENT_PUSH_MODEL_SOP_CLASS', 'STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE',
        'StorageCommitment', 'storage_commitment_scu',
    ],
    '__future__': ['annotations'],
    'typing': [
        'Any', 'BinaryIO', 'ClassVar', 'NamedTuple', 'Optional', 'Protocol', 'TYPE_CHECKING',
        'TypeVar', 'Union',
    ],
    'collections.abc': ['Callable', 'Iterable', 'Iterator'],
    'pydicom.dataset': ['Dataset'],
    'pydicom.tag': ['BaseTag', 'Tag'],
    'pydicom.uid': ['UID', 'generate_uid'],
    'pynetdicom2': ['dsutils', 'statuses', 'uids'],
    'pynetdicom2.exceptions': [
        'AssociationError', 'DCMTimeoutError', 'DIMSEProcessingError', 'EventHandlingError',
        'NetDICOMError',
    ],
    'pynetdicom2.filestorage': ['is_safe_uid', 'read_meta'],
    'pynetdicom2.fsm': ['PContextDef'],
    'pynetdicom2.identifiers': ['decode_identifier', 'encode_identifier'],
    'pynetdicom2.userdataitems': ['ScpScuRoleSelectionSubItem'],
}
#: Modules sopclass imported under their own name (``sopclass.os``), or as ``dm``.
MODULE_NAMES = {'copy': 'copy', 'dataclasses': 'dataclasses', 'logging': 'logging', 'os': 'os',
                'threading': 'threading', 'dm': 'pynetdicom2.dimsemessages'}

#: ``dir(pynetdicom2.sopclass)`` without the underscored names, before the split.
BEFORE = [
    'Any', 'AssociationError', 'AugmentedProto', 'BaseTag', 'BinaryIO', 'Callable', 'ClassVar',
    'DCMTimeoutError', 'DIMSEProcessingError', 'DataSetSource', 'Dataset', 'EventHandlingError',
    'FIND_SOP_CLASSES', 'GET_SOP_CLASSES', 'GetOperation', 'Iterable', 'Iterator',
    'MAX_SUB_OPERATIONS', 'MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS', 'MOVE_SOP_CLASSES',
    'MessageDispatcher', 'MessageDispatcherSCP', 'MessageDispatcherSCU',
    'ModalityPerformedProcedureStep', 'NReply', 'NResponse', 'NServiceSCP', 'NServiceSCU',
    'NamedTuple', 'NetDICOMError', 'Optional', 'PContextDef', 'Protocol',
    'STORAGE_COMMITMENT_PUSH_MODEL_SOP_CLASS', 'STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE',
    'ScpScuRoleSelectionSubItem', 'StorageCommitment', 'TYPE_CHECKING', 'Tag', 'TypeVar', 'UID',
    'UNRECOGNIZED_OPERATION', 'Union', 'annotations', 'answer_find', 'copy', 'dataclasses',
    'decode_identifier', 'dm', 'dsutils', 'encode_identifier', 'generate_uid', 'is_safe_uid',
    'logger', 'logging', 'modality_work_list_scp', 'modality_work_list_scu', 'mpps_scu',
    'n_action_scu', 'n_create_scu', 'n_delete_scu', 'n_event_report_scu', 'n_get_scu',
    'n_set_scu', 'os', 'qr_find_scp', 'qr_find_scu', 'qr_get_scp', 'qr_get_scu', 'qr_move_scp',
    'qr_move_scu', 'read_meta', 'sop_classes', 'statuses', 'storage_commitment_scu',
    'storage_scp', 'storage_scu', 'store_in_file', 'threading', 'uids', 'verification_scp',
    'verification_scu', 'wait_for_event_report',
]

#: ``sopclass.__all__`` before the split (what ``from pynetdicom2.sopclass import *`` gives).
ALL_BEFORE = {
    'FIND_SOP_CLASSES', 'GET_SOP_CLASSES', 'MAX_SUB_OPERATIONS',
    'MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS', 'MOVE_SOP_CLASSES',
    'STORAGE_COMMITMENT_PUSH_MODEL_SOP_CLASS', 'STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE',
    'UNRECOGNIZED_OPERATION', 'AugmentedProto', 'MessageDispatcher', 'MessageDispatcherSCP',
    'MessageDispatcherSCU', 'ModalityPerformedProcedureStep', 'NReply', 'NResponse',
    'NServiceSCP', 'NServiceSCU', 'GetOperation', 'StorageCommitment', 'answer_find',
    'modality_work_list_scp', 'modality_work_list_scu', 'mpps_scu', 'n_action_scu',
    'n_create_scu', 'n_delete_scu', 'n_event_report_scu', 'n_get_scu', 'n_set_scu',
    'qr_find_scp', 'qr_find_scu', 'qr_get_scp', 'qr_get_scu', 'qr_move_scp', 'qr_move_scu',
    'storage_commitment_scu', 'sop_classes', 'storage_scp', 'storage_scu', 'store_in_file',
    'verification_scp', 'verification_scu', 'wait_for_event_report',
}

#: Names added to sopclass after the split, each with its home module.
ADDED_SINCE = {
    'store_many': 'pynetdicom2.services.storage',
    # Unified Procedure Step (PS3.4 CC)
    **dict.fromkeys([
        'UPS_SOP_CLASSES', 'UPSEventReceiver', 'UPSEventReport', 'UnifiedProcedureStepSCP',
        'UnifiedProcedureStepSCU', 'ups_change_state', 'ups_create', 'ups_find', 'ups_get',
        'ups_receive_event', 'ups_request_cancel', 'ups_scu', 'ups_set', 'ups_subscribe',
        'ups_suspend_global_subscription', 'ups_unsubscribe',
    ], 'pynetdicom2.services.ups'),
    **dict.fromkeys(['ProcedureStepState', 'UPSAction', 'UPSEventType', 'WorkitemStore'],
                    'pynetdicom2.services.upsstate'),
    # Instance Availability Notification (PS3.4 R)
    **dict.fromkeys(['InstanceAvailabilityNotification', 'ian_scu', 'instance_availability'],
                    'pynetdicom2.services.ian'),
    # Print (PS3.4 H), event logging (P), storage management (KK), display (EE), media
    # creation (S), RT machine verification (DD), and what they share
    **dict.fromkeys(['EventReport', 'EventReportReceiver'], 'pynetdicom2.services.nsupport'),
    **dict.fromkeys(['ApplicationEventLogging', 'event_logging_scu'],
                    'pynetdicom2.services.eventlogging'),
    **dict.fromkeys([
        'InventoryAction', 'InventoryCreation', 'InventoryCreationSCU', 'InventoryEvent',
        'inventory_cancel', 'inventory_creation_scu', 'inventory_event_report',
        'inventory_initiate', 'inventory_pause', 'inventory_receive_event',
        'inventory_request_status', 'inventory_resume',
    ], 'pynetdicom2.services.storagemanagement'),
    **dict.fromkeys(['DisplaySystem', 'display_system_scu'], 'pynetdicom2.services.displaysystem'),
    **dict.fromkeys([
        'MediaAction', 'MediaCreationManagement', 'MediaCreationSCU', 'MediaExecutionStatus',
        'media_cancel', 'media_create', 'media_creation_scu', 'media_get', 'media_initiate',
        'media_request',
    ], 'pynetdicom2.services.mediacreation'),
    **dict.fromkeys([
        'RTMachineVerification', 'RTMachineVerificationSCU', 'RT_VERIFICATION_SOP_CLASSES',
        'TreatmentVerificationStatus', 'VerificationEvent', 'VerificationResult',
        'rt_verification_create', 'rt_verification_delete', 'rt_verification_get',
        'rt_verification_receive_event', 'rt_verification_scu', 'rt_verification_set',
        'rt_verification_verify',
    ], 'pynetdicom2.services.rtverification'),
    **dict.fromkeys([
        'PRINT_SOP_CLASSES', 'PrintJobEvent', 'PrintManagementSCU', 'PrinterEvent',
        'color_image_box', 'film_box_create', 'film_box_delete', 'film_box_print',
        'film_box_set', 'film_session_create', 'film_session_delete', 'film_session_print',
        'film_session_set', 'grayscale_image_box', 'image_box_count', 'image_box_set',
        'print_job_get', 'print_management_scu', 'print_receive_event', 'printer_get',
    ], 'pynetdicom2.services.printmanagement'),
    **dict.fromkeys(['PrintJob', 'PrintManagement'], 'pynetdicom2.services.printscp'),
}

#: The names ``pynetdicom2`` itself has from sopclass (``pynetdicom2.qr_get_scu``).
TOP_LEVEL = [
    'StorageCommitment', 'modality_work_list_scp', 'modality_work_list_scu', 'qr_find_scp',
    'qr_find_scu', 'qr_get_scu', 'qr_move_scp', 'qr_move_scu', 'storage_commitment_scu',
    'storage_scp', 'storage_scu', 'verification_scp', 'verification_scu',
]


def test_every_name_is_placed_once():
    placed = [name for names in HOMES.values() for name in names] + list(MODULE_NAMES)
    assert sorted(placed) == sorted(BEFORE)


@pytest.mark.parametrize('name', BEFORE)
def test_sopclass_keeps_each_name_as_the_same_object(name):
    if name in MODULE_NAMES:
        assert getattr(sopclass, name) is importlib.import_module(MODULE_NAMES[name])
        return
    home = next(module for module, names in HOMES.items() if name in names)
    assert getattr(sopclass, name) is getattr(importlib.import_module(home), name)


def test_sopclass_public_names_and_star_import_are_unchanged():
    # (pytest's assertion rewriting adds names such as '@py_builtins': not identifiers)
    public = [n for n in dir(sopclass) if not n.startswith('_') and n.isidentifier()]
    assert sorted(public) == sorted(BEFORE + list(ADDED_SINCE))
    assert set(sopclass.__all__) == ALL_BEFORE | set(ADDED_SINCE)
    assert len(sopclass.__all__) == len(ALL_BEFORE) + len(ADDED_SINCE)
    for name, home in ADDED_SINCE.items():
        assert getattr(sopclass, name) is getattr(importlib.import_module(home), name)


@pytest.mark.parametrize('name', TOP_LEVEL)
def test_top_level_names_are_sopclass_objects(name):
    assert getattr(pynetdicom2, name) is getattr(sopclass, name)


def test_services_log_under_the_sopclass_name():
    """Applications and docs/howto/logging.rst configure ``pynetdicom2.sopclass``."""
    expected = logging.getLogger('pynetdicom2.sopclass')
    assert sopclass.logger is expected
    for name in MODULES:
        module = importlib.import_module(name)
        assert getattr(module, 'logger', expected) is expected, name


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of each ``from pynetdicom2... import name`` run at import time."""
    tree = ast.parse(path.read_text(encoding='utf-8'))
    typing_only = {id(node) for branch in ast.walk(tree)
                   if isinstance(branch, ast.If) and 'TYPE_CHECKING' in ast.unparse(branch.test)
                   for node in ast.walk(branch)}
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.ImportFrom) and id(node) not in typing_only
                and (node.module or '').startswith('pynetdicom2')):
            found.extend((node.module, alias.name) for alias in node.names)
    return found


@pytest.mark.parametrize('name', ORDER)
def test_service_modules_are_short_layered_and_use_no_private_names(name):
    path = SERVICES / f'{name}.py'
    assert path.read_text(encoding='utf-8').count('\n') < 900
    earlier = {f'pynetdicom2.services.{other}' for other in ORDER[:ORDER.index(name)]}
    for module, imported in _imports(path):
        if module.startswith('pynetdicom2.services'):
            assert module in earlier, f'{name} imports {module}, which is not below it'
        assert not imported.startswith('_'), f'{name} imports {module}.{imported}'


def test_the_package_docstring_lists_every_service_module():
    assert sorted(p.stem for p in SERVICES.glob('*.py') if p.stem != '__init__') == sorted(ORDER)
    package = importlib.import_module('pynetdicom2.services')
    listed = re.findall(r'^``(\w+)``', package.__doc__ or '', re.MULTILINE)
    assert listed == ORDER


def test_every_service_module_is_in_the_api_reference():
    pages = '\n'.join(p.read_text(encoding='utf-8')
                      for p in (ROOT / 'docs' / 'reference').glob('*.rst'))
    documented = set(re.findall(r'^\.\. automodule:: (\S+)\s*$', pages, re.MULTILINE))
    assert {'pynetdicom2.services', *MODULES} <= documented


@pytest.mark.parametrize('name', ['pynetdicom2.services', *MODULES])
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False, report=True)
    assert result.failed == 0, f'{name}: {result.failed} docstring example(s) failed'
