"""SOP class services: the SCU and SCP functions an AE registers (PS3.4 service classes).

This is the original's module, and the one to import from: every service is here under the
name it always had. Each service class lives in its own module of
:mod:`pynetdicom2.services` now:

* :mod:`~pynetdicom2.services.base`: the :func:`sop_classes` and :func:`store_in_file`
  decorators, :class:`MessageDispatcher` and its SCU and SCP forms, and what every service
  builds on (reading responses, building answers).
* :mod:`~pynetdicom2.services.verification`: Verification (PS3.4 A), C-ECHO.
* :mod:`~pynetdicom2.services.storage`: Storage (PS3.4 B), C-STORE.
* :mod:`~pynetdicom2.services.query`: Query/Retrieve (PS3.4 C), C-FIND and what C-FIND,
  C-MOVE and C-GET share; :mod:`~pynetdicom2.services.retrieve`: C-MOVE and C-GET;
  :mod:`~pynetdicom2.services.suboperations`: their sub-operations on the SCP's side;
  :mod:`~pynetdicom2.services.moveassociation`: the C-MOVE SCP's association with the
  destination.
* :mod:`~pynetdicom2.services.worklist`: Modality Worklist (PS3.4 K), a C-FIND service.
* :mod:`~pynetdicom2.services.nservices`: the DIMSE-N services (PS3.7 10), generic SCU
  functions and SCP; :mod:`~pynetdicom2.services.mpps`: Modality Performed Procedure Step
  (PS3.4 F); :mod:`~pynetdicom2.services.commitment`: Storage Commitment Push Model (PS3.4 J).
* :mod:`~pynetdicom2.services.ups` (with :mod:`~pynetdicom2.services.upsstate`, its rules):
  Unified Procedure Step (PS3.4 CC); :mod:`~pynetdicom2.services.ian`: Instance Availability
  Notification (PS3.4 R).
* :mod:`~pynetdicom2.services.printmanagement` (the SCU) and
  :mod:`~pynetdicom2.services.printscp` (the SCP): Basic Print Management (PS3.4 H);
  :mod:`~pynetdicom2.services.eventlogging`: Application Event Logging (PS3.4 P);
  :mod:`~pynetdicom2.services.storagemanagement`: Storage Management (PS3.4 KK);
  :mod:`~pynetdicom2.services.displaysystem`: Display System Management (PS3.4 EE);
  :mod:`~pynetdicom2.services.mediacreation`: Media Creation Management (PS3.4 S);
  :mod:`~pynetdicom2.services.rtverification`: RT Machine Verification (PS3.4 DD); what
  they share in :mod:`~pynetdicom2.services.nsupport`.

The services own what each DIMSE service does once an association exists: an SCU builds a
request, sends it on its presentation context and reads the response(s); an SCP answers a
request through the AE's hook (``on_receive_echo``, ``on_receive_store`` ...). They do not
negotiate, listen or own sockets (``asceprovider``, ``applicationentity``). They log to
``pynetdicom2.sopclass``, this module's name.

Conventions (the original's, kept):

* An SCP is ``scp(asce, ctx, msg)``: the association, the accepted
  :class:`~pynetdicom2.fsm.PContextDef` and the request message.
* An SCU is ``scu(asce, ctx, *args, **kwargs)``, reached through
  ``assoc.get_scu(sop_class)(*args)``.
* Services carry ``sop_classes`` (the SOP classes they serve) and ``store_in_file`` (their
  data sets go straight to a file from ``ae.get_file`` instead of memory): set them with the
  :func:`sop_classes` and :func:`store_in_file` decorators, or as class attributes of a
  :class:`MessageDispatcherSCP` subclass.
* A hook that raises :class:`~pynetdicom2.exceptions.EventHandlingError` gets a failure
  status: the service's own, or the failure code given as ``EventHandlingError(...,
  status=0xA900)``; any other exception ends (aborts) the association.

Usage::

    from pynetdicom2 import applicationentity as ae, sopclass as sc, uids

    client = ae.ClientAE('MYSCU').add_scu(sc.verification_scu)
    client.add_scu(sc.storage_scu, [uids.CT_IMAGE_STORAGE])
    with client.request_association(remote) as assoc:
        assoc.get_scu(uids.CT_IMAGE_STORAGE)('/data/ct.dcm', 2)

    @sc.sop_classes(['1.2.3.4.5'])
    def my_scp(asce, ctx, msg):
        ...
"""

from __future__ import annotations

# The names this module had from its own imports when it held the services' code, kept as
# its attributes (``sopclass.Dataset``, ``sopclass.dm`` ...) for code that reached them here.
import copy  # noqa: F401
import dataclasses  # noqa: F401
import logging  # noqa: F401
import os  # noqa: F401
import threading  # noqa: F401
from collections.abc import Callable, Iterable, Iterator  # noqa: F401
from typing import (  # noqa: F401
    TYPE_CHECKING,
    Any,
    BinaryIO,
    ClassVar,
    NamedTuple,
    Optional,
    Protocol,
    TypeVar,
    Union,
)

from pydicom.dataset import Dataset  # noqa: F401
from pydicom.tag import BaseTag, Tag  # noqa: F401
from pydicom.uid import UID, generate_uid  # noqa: F401

from pynetdicom2 import dimsemessages as dm  # noqa: F401
from pynetdicom2 import dsutils, statuses, uids  # noqa: F401
from pynetdicom2.exceptions import (  # noqa: F401
    AssociationError,
    DCMTimeoutError,
    DIMSEProcessingError,
    EventHandlingError,
    NetDICOMError,
)
from pynetdicom2.filestorage import is_safe_uid, read_meta  # noqa: F401
from pynetdicom2.fsm import PContextDef  # noqa: F401
from pynetdicom2.identifiers import decode_identifier, encode_identifier  # noqa: F401

# The services, each the same object as in its module.
from pynetdicom2.services import commitment as _commitment
from pynetdicom2.services import mpps as _mpps
from pynetdicom2.services import nservices as _nservices
from pynetdicom2.services import printmanagement as _printmanagement
from pynetdicom2.services import query as _query
from pynetdicom2.services import rtverification as _rtverification
from pynetdicom2.services import suboperations as _suboperations
from pynetdicom2.services import ups as _ups
from pynetdicom2.services.base import (
    AugmentedProto,
    MessageDispatcher,
    MessageDispatcherSCP,
    MessageDispatcherSCU,
    logger,  # noqa: F401 - the services' logger, named after this module
    sop_classes,
    store_in_file,
)
from pynetdicom2.services.commitment import StorageCommitment, storage_commitment_scu
from pynetdicom2.services.displaysystem import DisplaySystem, display_system_scu
from pynetdicom2.services.eventlogging import ApplicationEventLogging, event_logging_scu
from pynetdicom2.services.ian import (
    InstanceAvailabilityNotification,
    ian_scu,
    instance_availability,
)
from pynetdicom2.services.mediacreation import (
    MediaAction,
    MediaCreationManagement,
    MediaCreationSCU,
    MediaExecutionStatus,
    media_cancel,
    media_create,
    media_creation_scu,
    media_get,
    media_initiate,
    media_request,
)
from pynetdicom2.services.mpps import ModalityPerformedProcedureStep
from pynetdicom2.services.nservices import (
    NResponse,
    NServiceSCP,
    NServiceSCU,
    n_action_scu,
    n_create_scu,
    n_delete_scu,
    n_event_report_scu,
    n_get_scu,
    n_set_scu,
    wait_for_event_report,
)
from pynetdicom2.services.nsupport import EventReport, EventReportReceiver
from pynetdicom2.services.printmanagement import (
    PrinterEvent,
    PrintJobEvent,
    PrintManagementSCU,
    color_image_box,
    film_box_create,
    film_box_delete,
    film_box_print,
    film_box_set,
    film_session_create,
    film_session_delete,
    film_session_print,
    film_session_set,
    grayscale_image_box,
    image_box_count,
    image_box_set,
    print_job_get,
    print_management_scu,
    print_receive_event,
    printer_get,
)
from pynetdicom2.services.printscp import PrintJob, PrintManagement
from pynetdicom2.services.query import answer_find, qr_find_scp, qr_find_scu
from pynetdicom2.services.retrieve import (
    GetOperation,
    qr_get_scp,
    qr_get_scu,
    qr_move_scp,
    qr_move_scu,
)
from pynetdicom2.services.rtverification import (
    RTMachineVerification,
    RTMachineVerificationSCU,
    TreatmentVerificationStatus,
    VerificationEvent,
    VerificationResult,
    rt_verification_create,
    rt_verification_delete,
    rt_verification_get,
    rt_verification_receive_event,
    rt_verification_scu,
    rt_verification_set,
    rt_verification_verify,
)
from pynetdicom2.services.storage import (
    DataSetSource,  # noqa: F401 - public, though never in __all__
    storage_scp,
    storage_scu,
    store_many,
)
from pynetdicom2.services.storagemanagement import (
    InventoryAction,
    InventoryCreation,
    InventoryCreationSCU,
    InventoryEvent,
    inventory_cancel,
    inventory_creation_scu,
    inventory_event_report,
    inventory_initiate,
    inventory_pause,
    inventory_receive_event,
    inventory_request_status,
    inventory_resume,
)
from pynetdicom2.services.ups import (
    UnifiedProcedureStepSCP,
    UnifiedProcedureStepSCU,
    UPSEventReceiver,
    UPSEventReport,
    ups_change_state,
    ups_create,
    ups_find,
    ups_get,
    ups_receive_event,
    ups_request_cancel,
    ups_set,
    ups_subscribe,
    ups_suspend_global_subscription,
    ups_unsubscribe,
)
from pynetdicom2.services.upsstate import (
    ProcedureStepState,
    UPSAction,
    UPSEventType,
    WorkitemStore,
)
from pynetdicom2.services.verification import verification_scp, verification_scu
from pynetdicom2.services.worklist import modality_work_list_scp, modality_work_list_scu
from pynetdicom2.userdataitems import ScpScuRoleSelectionSubItem  # noqa: F401 - as above

# The constants are bound here by assignment, each the same object as in its module: autodoc
# documents a constant from the ``#:`` comment above its assignment in the module it documents,
# so this module's reference keeps them.

#: PS3.4 C.6.1.1, C.6.2.1, C.6.3.1: C-FIND of the Patient Root, Study Root and Patient/Study
#: Only information models.
FIND_SOP_CLASSES = _query.FIND_SOP_CLASSES
#: C-MOVE of the three information models.
MOVE_SOP_CLASSES = _query.MOVE_SOP_CLASSES
#: C-GET of the three information models.
GET_SOP_CLASSES = _query.GET_SOP_CLASSES
#: PS3.7 9.3.3.2, 9.3.4.2: the sub-operation counters are US, so one C-GET or C-MOVE performs
#: at most this many sub-operations; more matches are refused with A701H/A702H (PS3.4
#: C.4.2.1.5, C.4.3.1.4: out of resources) rather than wrapping the counters.
MAX_SUB_OPERATIONS = _suboperations.MAX_SUB_OPERATIONS

#: What an :class:`NServiceSCP` method returns: a status (or its code) and a data set or None.
NReply = _nservices.NReply
#: PS3.7 Annex C: 0211H, unrecognised operation (not one this SCP performs).
UNRECOGNIZED_OPERATION = _nservices.UNRECOGNIZED_OPERATION

#: PS3.4 F.7: the Modality Performed Procedure Step SOP class (N-CREATE, then N-SET).
MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS = _mpps.MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS
#: The Modality Performed Procedure Step SCU (PS3.4 F.7.2): ``'n_create'`` then ``'n_set'``.
#: ``client.add_scu(sc.mpps_scu)``.
mpps_scu = _mpps.mpps_scu

#: PS3.4 J.3.5: the well-known SOP *instance* of the Storage Commitment Push Model SOP class
#: (the original named it a SOP class; the name stays for compatibility).
STORAGE_COMMITMENT_PUSH_MODEL_SOP_CLASS = _commitment.STORAGE_COMMITMENT_PUSH_MODEL_SOP_CLASS
#: The same UID under its right name.
STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE = _commitment.STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE

#: The five UPS SOP classes (PS3.4 CC.3.1).
UPS_SOP_CLASSES = _ups.UPS_SOP_CLASSES
#: The UPS SCU for the five classes: ``client.add_scu(sc.ups_scu)``.
ups_scu = _ups.ups_scu

#: The abstract syntaxes of print management: the two Meta SOP classes, and the Printer and
#: Print Job classes, which may also be negotiated alone (PS3.4 H.3.1).
PRINT_SOP_CLASSES = _printmanagement.PRINT_SOP_CLASSES
#: The two RT Machine Verification SOP classes (PS3.4 DD.3).
RT_VERIFICATION_SOP_CLASSES = _rtverification.RT_VERIFICATION_SOP_CLASSES

__all__ = [
    'FIND_SOP_CLASSES',
    'GET_SOP_CLASSES',
    'MAX_SUB_OPERATIONS',
    'MODALITY_PERFORMED_PROCEDURE_STEP_SOP_CLASS',
    'MOVE_SOP_CLASSES',
    'STORAGE_COMMITMENT_PUSH_MODEL_SOP_CLASS',
    'STORAGE_COMMITMENT_PUSH_MODEL_SOP_INSTANCE',
    'UNRECOGNIZED_OPERATION',
    'AugmentedProto',
    'MessageDispatcher',
    'MessageDispatcherSCP',
    'MessageDispatcherSCU',
    'ModalityPerformedProcedureStep',
    'NReply',
    'NResponse',
    'NServiceSCP',
    'NServiceSCU',
    'GetOperation',
    'InstanceAvailabilityNotification',
    'ProcedureStepState',
    'UPS_SOP_CLASSES',
    'UPSAction',
    'UPSEventReceiver',
    'UPSEventReport',
    'UPSEventType',
    'UnifiedProcedureStepSCP',
    'UnifiedProcedureStepSCU',
    'WorkitemStore',
    'ian_scu',
    'instance_availability',
    'StorageCommitment',
    'answer_find',
    'modality_work_list_scp',
    'modality_work_list_scu',
    'mpps_scu',
    'n_action_scu',
    'n_create_scu',
    'n_delete_scu',
    'n_event_report_scu',
    'n_get_scu',
    'n_set_scu',
    'qr_find_scp',
    'qr_find_scu',
    'qr_get_scp',
    'qr_get_scu',
    'qr_move_scp',
    'qr_move_scu',
    'storage_commitment_scu',
    'sop_classes',
    'storage_scp',
    'storage_scu',
    'store_in_file',
    'store_many',
    'ups_change_state',
    'ups_create',
    'ups_find',
    'ups_get',
    'ups_receive_event',
    'ups_request_cancel',
    'ups_scu',
    'ups_set',
    'ups_subscribe',
    'ups_suspend_global_subscription',
    'ups_unsubscribe',
    'verification_scp',
    'verification_scu',
    'wait_for_event_report',
    # Print, event logging, storage management, display, media creation, RT verification
    'ApplicationEventLogging',
    'DisplaySystem',
    'EventReport',
    'EventReportReceiver',
    'InventoryAction',
    'InventoryCreation',
    'InventoryCreationSCU',
    'InventoryEvent',
    'MediaAction',
    'MediaCreationManagement',
    'MediaCreationSCU',
    'MediaExecutionStatus',
    'PRINT_SOP_CLASSES',
    'PrintJob',
    'PrintJobEvent',
    'PrintManagement',
    'PrintManagementSCU',
    'PrinterEvent',
    'RTMachineVerification',
    'RTMachineVerificationSCU',
    'RT_VERIFICATION_SOP_CLASSES',
    'TreatmentVerificationStatus',
    'VerificationEvent',
    'VerificationResult',
    'color_image_box',
    'display_system_scu',
    'event_logging_scu',
    'film_box_create',
    'film_box_delete',
    'film_box_print',
    'film_box_set',
    'film_session_create',
    'film_session_delete',
    'film_session_print',
    'film_session_set',
    'grayscale_image_box',
    'image_box_count',
    'image_box_set',
    'inventory_cancel',
    'inventory_creation_scu',
    'inventory_event_report',
    'inventory_initiate',
    'inventory_pause',
    'inventory_receive_event',
    'inventory_request_status',
    'inventory_resume',
    'media_cancel',
    'media_create',
    'media_creation_scu',
    'media_get',
    'media_initiate',
    'media_request',
    'print_job_get',
    'print_management_scu',
    'print_receive_event',
    'printer_get',
    'rt_verification_create',
    'rt_verification_delete',
    'rt_verification_get',
    'rt_verification_receive_event',
    'rt_verification_scu',
    'rt_verification_set',
    'rt_verification_verify',
]
