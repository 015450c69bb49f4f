"""Associations: set-up, DIMSE exchange, release and abort, for both sides (the seed's module).

This module is where the original library, and code written for it, finds the association
classes; they live in four modules, one per concern, and every name is re-exported here:

* :mod:`pynetdicom2.asceprovider_types`: :class:`RemoteAEConfig`, :class:`AETParams`,
  :class:`PContextDefList`, the protocols (:class:`AEBaseProto`, :class:`SCPService` ...),
  :func:`build_pres_context_def_list`, :data:`UNSUPPORTED_REQUEST_RESPONSES`;
* :mod:`pynetdicom2.asceprovider_association`: :class:`Association`, the base of both
  sides (DIMSE exchange, release, abort, kill);
* :mod:`pynetdicom2.asceprovider_acceptor`: :class:`AssociationAcceptor`, the server side;
* :mod:`pynetdicom2.asceprovider_requester`: :class:`AssociationRequester`, the client side.

Theory of operation:

* Each association object owns the whole life cycle until released or aborted, and owns the
  files its DUL writes received data sets to (:class:`~pynetdicom2.receivedfiles.\\
  ReceivedFiles`): every file ``ae.get_file`` hands out is owned until a service keeps it
  (``received_files.keep``) or it is discarded; whatever is still owned when the association
  ends (an abort, a vanished peer) is discarded, so a partial data set never stays on disk.
* Two maximum lengths are kept apart: ``max_pdu_length`` is what we announce and bounds what
  we receive; ``peer_max_pdu_length`` is what the peer announced and bounds what we send
  (0 = unlimited on either side, PS3.8 D.1).
* Timeouts come from the AE: ``artim_timeout`` bounds set-up and release, ``dcm_timeout`` the
  wait for a DIMSE response, ``network_timeout`` an idle acceptor (ended with an A-ABORT).

Usage (normally through an AE; see :mod:`pynetdicom2.applicationentity`)::

    assoc = AssociationRequester(client_ae, 65536, {'aet': 'PACS', 'address': '10.0.0.5',
                                                    'port': 104})
    assoc.request()
    status = assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1)
    assoc.release()

``tests/test_asceprovider_layout.py`` checks that every name here is the object of its home.
"""

from __future__ import annotations

# Names this module has always had: the standard library and typing ones included, for code
# that reached them through it.
import collections  # noqa: F401
import functools  # noqa: F401
import io  # noqa: F401
import logging  # noqa: F401
import socket  # noqa: F401
import threading  # noqa: F401
from collections.abc import Iterable, Iterator, Mapping, Sequence  # noqa: F401
from dataclasses import dataclass, field  # noqa: F401
from typing import Any, BinaryIO, Callable, Protocol, TypeVar  # noqa: F401

from pydicom.dataset import Dataset  # noqa: F401
from pydicom.uid import UID  # noqa: F401

from pynetdicom2 import dimsemessages as dm  # noqa: F401
from pynetdicom2 import negotiation, pdu, statuses  # noqa: F401
from pynetdicom2.asceprovider_acceptor import AssociationAcceptor
from pynetdicom2.asceprovider_association import GRACE, Association
from pynetdicom2.asceprovider_requester import AssociationRequester
from pynetdicom2.asceprovider_types import (
    UNSUPPORTED_REQUEST_RESPONSES,
    AEBaseProto,
    AETParams,
    PContextDefList,
    RemoteAEConfig,
    SCPService,
    SCPServiceWithSOPClass,
    SCUService,
    SCUServiceWithSOPClass,
    T_contra,  # noqa: F401
    build_pres_context_def_list,
    remote_config,
)
from pynetdicom2.dulprovider import DULServiceProvider  # noqa: F401
from pynetdicom2.exceptions import (  # noqa: F401
    AssociationAbortedError,
    AssociationError,
    AssociationRejectedError,
    AssociationReleasedError,
    ClassNotSupportedError,
    ConnectionFailedError,
    DCMTimeoutError,
    DIMSEProcessingError,
    NetDICOMError,
)
from pynetdicom2.filestorage import is_safe_uid  # noqa: F401
from pynetdicom2.fsm import PContextDef, States  # noqa: F401
from pynetdicom2.negotiation import (
    APPLICATION_CONTEXT_NAME,
    IMPLEMENTATION_UID,
    IMPLEMENTATION_VERSION_NAME,
)
from pynetdicom2.receivedfiles import DiscardedDataSet

__all__ = [
    'APPLICATION_CONTEXT_NAME',
    'IMPLEMENTATION_UID',
    'IMPLEMENTATION_VERSION_NAME',
    'UNSUPPORTED_REQUEST_RESPONSES',
    'AEBaseProto',
    'AETParams',
    'Association',
    'AssociationAcceptor',
    'AssociationRequester',
    'PContextDef',
    'PContextDefList',
    'RemoteAEConfig',
    'SCPService',
    'SCPServiceWithSOPClass',
    'SCUService',
    'SCUServiceWithSOPClass',
    'build_pres_context_def_list',
]

logger = logging.getLogger('pynetdicom2.asceprovider')

# The private names this module had, for code that reached them (same objects).
_GRACE = GRACE
_remote_config = remote_config
_DiscardedDataSet = DiscardedDataSet
