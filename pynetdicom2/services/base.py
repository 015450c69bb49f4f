"""What every service module builds on: registration, dispatch, requests and responses.

* :func:`sop_classes` and :func:`store_in_file` mark a service with what an AE reads when it
  registers it; :class:`MessageDispatcherSCU` and :class:`MessageDispatcherSCP` route a
  message to a method named after its command (PS3.7 Annex E).
* A requester sends its request with ``asce.invoke(rq, ctx.id)`` and reads the answer with
  :func:`receive_response` (checked by :func:`check_response`, its status read by
  :func:`response_status`): one way for every service, whether one response comes (C-ECHO,
  C-STORE, the DIMSE-N services) or several (C-FIND, C-MOVE, C-GET, PS3.7 9.1.2). The
  responses of each request reach the thread that sent it, so several threads may share an
  association (:mod:`pynetdicom2.operations`).
* An acceptor builds its answer with :func:`response_for` and turns what a hook returned
  or raised into a status with :func:`as_status` and :func:`refusal_status`; a request whose
  data set could not be received (too large for memory, a full disk) is answered a failure by
  :func:`answer_unreceived`.
* :class:`ProposalView` is the AE as seen by an association a service opens itself (the
  C-MOVE sub-association, the storage commitment result).

Everything logs to :data:`logger`, named ``pynetdicom2.sopclass`` as before the services
were split into modules (docs/howto/logging.rst).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import statuses
from pynetdicom2.exceptions import DIMSEProcessingError, EventHandlingError
from pynetdicom2.fsm import PContextDef

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

#: The logger of every service module. Its name is the one applications configure (the
#: services were one module, ``pynetdicom2.sopclass``, and their records keep its name).
logger = logging.getLogger('pynetdicom2.sopclass')

_F = TypeVar('_F', bound=Callable[..., Any])
_Response = TypeVar('_Response', bound=dm.DIMSEResponseMessage)


# --- decorators and dispatchers -----------------------------------------------------------------


class AugmentedProto(Protocol):
    """A service function carrying the attributes an AE reads when it registers it."""

    sop_classes: list[str]
    store_in_file: bool

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


def sop_classes(uid_list: Iterable[str]) -> Callable[[_F], _F]:
    """Decorator: the SOP classes a service handles (extends any already set).

    Also sets ``store_in_file = False`` unless :func:`store_in_file` is applied (after it,
    i.e. above it in the source).

    >>> from pynetdicom2 import uids
    >>> @sop_classes([uids.VERIFICATION_SOP_CLASS])
    ... def my_echo_scp(asce, ctx, msg): ...
    >>> my_echo_scp.sop_classes
    ['1.2.840.10008.1.1']
    """
    new = [UID(uid) for uid in uid_list]

    def decorate(service: _F) -> _F:
        existing = list(getattr(service, 'sop_classes', []))
        service.sop_classes = existing + [uid for uid in new if uid not in existing]  # type: ignore[attr-defined]
        service.store_in_file = False  # type: ignore[attr-defined]
        return service

    return decorate


def store_in_file(service: _F) -> _F:
    """Decorator: the service's data sets are written to ``ae.get_file`` files as they arrive.

    >>> from pynetdicom2 import uids
    >>> @store_in_file
    ... @sop_classes([uids.CT_IMAGE_STORAGE])
    ... def my_store_scp(asce, ctx, msg): ...
    """
    service.store_in_file = True  # type: ignore[attr-defined]
    return service


class MessageDispatcher:
    """Route a DIMSE message to the method named after its command (``c_store`` ...).

    Subclasses define the methods they support; ``sop_classes`` and ``store_in_file`` are
    class attributes.
    """

    sop_classes: ClassVar[list[str]] = []
    store_in_file: ClassVar[bool] = False

    #: Request command field -> method name (PS3.7 Annex E).
    message_to_method: ClassVar[dict[int, str]] = {
        dm.CStoreRQMessage.command_field: 'c_store',
        dm.CFindRQMessage.command_field: 'c_find',
        dm.CGetRQMessage.command_field: 'c_get',
        dm.CMoveRQMessage.command_field: 'c_move',
        dm.CEchoRQMessage.command_field: 'c_echo',
        dm.NEventReportRQMessage.command_field: 'n_event_report',
        dm.NGetRQMessage.command_field: 'n_get',
        dm.NSetRQMessage.command_field: 'n_set',
        dm.NActionRQMessage.command_field: 'n_action',
        dm.NCreateRQMessage.command_field: 'n_create',
        dm.NDeleteRQMessage.command_field: 'n_delete',
    }

    def get_method(self, msg: dm.DIMSEMessage) -> Callable[..., Any]:
        """The method for ``msg``; raises :class:`DIMSEProcessingError` when there is none."""
        name = self.message_to_method.get(msg.command_field)
        method = getattr(self, name, None) if name is not None else None
        if method is None:
            raise DIMSEProcessingError(
                f'{type(self).__name__} has no method for {type(msg).__name__} '
                f'(command field {msg.command_field:04X}H)'
            )
        return method  # type: ignore[no-any-return]


class MessageDispatcherSCU(MessageDispatcher):
    """An SCU whose behaviour depends on the message it is given: ``(asce, ctx, msg, ...)``."""

    def __call__(self, asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage,
                 *args: Any, **kwargs: Any) -> Any:
        return self.get_method(msg)(asce, ctx, msg, *args, **kwargs)


class MessageDispatcherSCP(MessageDispatcher):
    """An SCP serving several commands of its SOP classes, one method per command.

    A request for a command the subclass has no method for is answered 0122H rather than
    aborting the association.

    >>> from pynetdicom2.applicationentity import AE
    >>> class MyMPPS(MessageDispatcherSCP):
    ...     sop_classes = ['1.2.840.10008.3.1.2.3.3']
    ...     def n_create(self, asce, ctx, msg): ...     # answer with asce.send(rsp, ctx.id)
    >>> srv = AE('MPPSSCP', 0, bind_and_activate=False)   # bound by ``with srv:``
    >>> srv.add_scp(MyMPPS()) is srv
    True
    >>> srv.quit()
    """

    def __call__(self, asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> None:
        name = self.message_to_method.get(msg.command_field)
        if name is None or getattr(self, name, None) is None:
            asce.respond_unsupported(ctx.id, msg)
            return
        if answer_unreceived(asce, ctx, msg):
            return  # its data set never arrived: the methods would act on nothing
        self.get_method(msg)(asce, ctx, msg)


# --- the requester: reading responses ----------------------------------------------------------

#: Serves a request the peer sends on the association while it works on ours, before its
#: response: given ``(message, context ID)``, it returns True when it took the message and
#: False to let it be read as the response.
PeerRequestHandler = Callable[[dm.DIMSEMessage, int], bool]


def check_response(
    asce: Association,
    ctx: PContextDef,
    response_class: type[_Response],
    msg_id: int,
    msg: dm.DIMSEMessage,
    pc_id: int,
) -> _Response:
    """``msg`` as the response to ``msg_id`` on ``ctx``; raises :class:`DIMSEProcessingError`
    (the association is in disorder) when it is anything else. The caller, which received
    ``msg``, discards its data set (:func:`receive_response` does)."""
    if (
        isinstance(msg, response_class)
        and pc_id == ctx.id
        and msg.message_id_being_responded_to == msg_id
    ):
        return msg
    raise DIMSEProcessingError(
        f'expected {response_class.__name__} to message {msg_id} on context {ctx.id}, got '
        f'{type(msg).__name__} to message {getattr(msg, "message_id_being_responded_to", None)}'
        f' on context {pc_id}'
    )


def receive_response(
    asce: Association,
    ctx: PContextDef,
    response_class: type[_Response],
    msg_id: int,
    on_request: PeerRequestHandler | None = None,
) -> _Response:
    """Wait (``dcm_timeout``) for the next response to request ``msg_id`` on ``ctx``.

    Call it once for a service with one response, and again while :func:`response_status`
    is pending for one with several. With ``on_request``, the peer's requests come too: the
    C-STORE sub-operations of a C-GET (PS3.4 C.4.3.2), an N-EVENT-REPORT the performer of an
    N-ACTION sends before it answers (PS3.4 J.3.3). Anything else is checked by
    :func:`check_response`. The file of a data set received here is discarded once handled
    unless kept (:meth:`~pynetdicom2.receivedfiles.ReceivedFiles.handling`).
    """
    while True:
        msg, pc_id = asce.receive_response(msg_id, requests=on_request is not None)
        with asce.received_files.handling(msg.data_set):
            if on_request is None or not on_request(msg, pc_id):
                return check_response(asce, ctx, response_class, msg_id, msg, pc_id)


def response_status(rsp: dm.DIMSEResponseMessage) -> statuses.Status:
    """The Status (0000,0900) of a received response; :class:`DIMSEProcessingError` without one
    (PS3.7 9.3, 10.3: every response carries it)."""
    if rsp.status is None:
        raise DIMSEProcessingError(f'{type(rsp).__name__} without a Status (0000,0900)')
    return statuses.Status(rsp.status, type(rsp))


# --- the acceptor: answering --------------------------------------------------------------------


def response_for(
    response_class: type[_Response], ctx: PContextDef, msg: dm.DIMSERequestMessage
) -> _Response:
    """A new response to request ``msg``: its Message ID and SOP class (the context's when the
    request named none), the rest for the caller to fill in."""
    rsp = response_class()
    rsp.message_id_being_responded_to = msg.message_id
    rsp.sop_class_uid = msg.sop_class_uid or ctx.sop_class
    return rsp


#: The failure that answers a request whose data set could not be received, and its response
#: class: out of resources where the service defines it (PS3.4 B.2.3 C-STORE A700H, C.4.1.1.4
#: C-FIND A700H; C-GET and C-MOVE A701H, C.4.2.1.5 and C.4.3.1.4: without the identifier no
#: match can be counted), mistyped argument for C-ECHO, which has no data set (PS3.7
#: 9.3.5.1), resource limitation for the DIMSE-N services (PS3.7 Annex C: 0213H).
UNRECEIVED_DATA_SET_STATUSES: dict[int, tuple[type[dm.DIMSEResponseMessage], int]] = {
    dm.CStoreRQMessage.command_field: (dm.CStoreRSPMessage, 0xA700),
    dm.CFindRQMessage.command_field: (dm.CFindRSPMessage, 0xA700),
    dm.CGetRQMessage.command_field: (dm.CGetRSPMessage, 0xA701),
    dm.CMoveRQMessage.command_field: (dm.CMoveRSPMessage, 0xA701),
    dm.CEchoRQMessage.command_field: (dm.CEchoRSPMessage, 0x0212),
    dm.NEventReportRQMessage.command_field: (dm.NEventReportRSPMessage, 0x0213),
    dm.NGetRQMessage.command_field: (dm.NGetRSPMessage, 0x0213),
    dm.NSetRQMessage.command_field: (dm.NSetRSPMessage, 0x0213),
    dm.NActionRQMessage.command_field: (dm.NActionRSPMessage, 0x0213),
    dm.NCreateRQMessage.command_field: (dm.NCreateRSPMessage, 0x0213),
    dm.NDeleteRQMessage.command_field: (dm.NDeleteRSPMessage, 0x0213),
}


def answer_unreceived(asce: Association, ctx: PContextDef, msg: dm.DIMSEMessage) -> bool:
    """Answer a request whose data set was not received with a failure; True when answered.

    ``msg.storage_error`` says so: the reassembler dropped a data set larger than the AE's
    ``max_data_set_in_memory``, or its file could not be written (a full disk). The request
    is answered, not the association aborted: the peer did nothing wrong, we lack the
    resources, and a status that says so (:data:`UNRECEIVED_DATA_SET_STATUSES`; the out of
    resources ones with an Error Comment) lets it carry on. False, nothing sent, for any
    other message.
    """
    error = msg.storage_error
    answer = UNRECEIVED_DATA_SET_STATUSES.get(msg.command_field)
    if error is None or answer is None or not isinstance(msg, dm.DIMSERequestMessage):
        return False
    response_class, code = answer
    logger.warning('%s on context %d: its data set was not received (%s); answering 0x%04X',
                   type(msg).__name__, ctx.id, error, code)
    rsp = response_for(response_class, ctx, msg)
    instance = getattr(msg, 'affected_sop_instance_uid', None) or getattr(
        msg, 'requested_sop_instance_uid', None
    )
    if instance is not None and hasattr(rsp, 'affected_sop_instance_uid'):
        rsp.affected_sop_instance_uid = instance
    rsp.status = code
    if code >> 8 == 0xA7:
        # PS3.4 B.2.3, C.4.1.1.4, C.4.2.1.5: out of resources relates Error Comment (LO).
        rsp.error_comment = 'data set not received: out of resources'
    asce.send(rsp, ctx.id)
    return True


def as_status(value: Any, command: type[dm.DIMSEMessage]) -> statuses.Status:
    """A hook's answer as a Status: a Status, or a plain int code."""
    if isinstance(value, statuses.Status):
        return value
    return statuses.Status(int(value), command)


def refusal_status(
    exc: EventHandlingError, default: statuses.Status, command: type[dm.DIMSEMessage]
) -> statuses.Status:
    """The failure a hook asked for with ``EventHandlingError(status=...)``, else ``default``."""
    if exc.status is None:
        return default
    chosen = statuses.Status(int(exc.status), command)
    if chosen.is_failure:
        return chosen
    logger.warning('EventHandlingError(status=0x%04X): not a failure of %s; answering 0x%04X',
                   chosen.value, command.__name__, default.value)
    return default


# --- associations a service opens itself --------------------------------------------------------


class ProposalView:
    """The AE as seen by an association a service opens itself: it proposes only the given
    contexts, with the given SCUs.

    Used for the C-MOVE sub-association (:mod:`pynetdicom2.services.moveassociation`) and
    for a storage commitment result (:mod:`pynetdicom2.services.commitment`). Everything
    else (hooks, timeouts, files, TLS settings) is the AE's own.
    """

    def __init__(
        self, ae: Any, contexts: dict[int, Any], services: Mapping[str, Any]
    ) -> None:
        self._ae = ae
        self._contexts = contexts
        self.supported_scu: Mapping[str, Any] = services
        self.supported_scp: Mapping[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ae, name)

    def copy_context_def_list(self) -> dict[int, Any]:
        return dict(self._contexts)
