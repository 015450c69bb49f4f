"""The sub-operations of a C-MOVE or C-GET, on the acceptor's side (PS3.4 C.4.2.3, C.4.3.3).

:func:`perform_sub_operations` is the engine both SCPs share: it takes the matches the AE's
hook gave (Datasets or Part-10 file paths, described by :class:`SubOperationInstance`),
stores each through a function of the SCP's (a C-STORE on the C-MOVE destination, or back on
the C-GET requester's association), counts them and sends the responses. What is sent for
an instance over a given transfer syntax is :func:`source_for`'s decision.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from pydicom.dataset import Dataset
from pydicom.uid import UID

from pynetdicom2 import dimsemessages as dm
from pynetdicom2 import dsutils, statuses
from pynetdicom2.exceptions import EventHandlingError, InvalidDataSetError, NetDICOMError
from pynetdicom2.filestorage import read_meta
from pynetdicom2.fsm import PContextDef
from pynetdicom2.identifiers import encode_identifier
from pynetdicom2.services.base import logger, refusal_status, response_for
from pynetdicom2.services.query import close_iterator, respond_failure

if TYPE_CHECKING:  # pragma: no cover
    from pynetdicom2.asceprovider import Association

#: PS3.7 9.3.3.2, 9.3.4.2: the sub-operation counters are US, so one C-GET or C-MOVE performs
#: at most this many sub-operations; more matches are refused with A701H/A702H (PS3.4
#: C.4.2.1.5, C.4.3.1.4: out of resources) rather than wrapping the counters.
MAX_SUB_OPERATIONS = 0xFFFF

#: PS3.5 6.2: a UI value (all UIDs of a multi-valued one) is at most 64 KiB in explicit VR.
_MAX_UID_LIST_BYTES = 0xFFFE


class SubOperationInstance(NamedTuple):
    """One instance to send as a sub-operation: what it is and where it comes from.

    ``transfer_syntax`` is None for a Dataset without file meta (it has no syntax yet).
    """

    sop_class: UID
    sop_instance: UID
    transfer_syntax: UID | None
    source: Any


def _read(source: Any, **options: Any) -> Dataset:
    """pydicom's ``dcmread``; what it cannot parse is :class:`InvalidDataSetError`, so that
    one unreadable file is one failed sub-operation, not the end of the C-MOVE or C-GET."""
    from pydicom import dcmread

    try:
        return dcmread(source, **options)
    except OSError:
        raise
    except Exception as exc:  # pydicom's parse errors are of many types
        name = getattr(source, 'name', source)
        raise InvalidDataSetError(f'{name}: pydicom cannot read it ({exc})') from exc


def _describe(item: Any) -> SubOperationInstance:
    """SOP class, instance and transfer syntax of a Dataset or a Part-10 file path."""
    if isinstance(item, Dataset):
        meta = getattr(item, 'file_meta', None)
        syntax = meta.get('TransferSyntaxUID') if meta is not None else None
        return SubOperationInstance(
            UID(item.get('SOPClassUID', '')), UID(item.get('SOPInstanceUID', '')),
            UID(syntax) if syntax else None, item,
        )
    if not isinstance(item, (str, os.PathLike)):
        raise NetDICOMError(f'expected a Dataset or a Part-10 file path, got {type(item)!r}')
    with open(item, 'rb') as fp:
        meta = read_meta(fp)
        sop_class, instance = meta.sop_class_uid, meta.sop_instance_uid
        if not sop_class or not instance:
            fp.seek(0)
            ds = _read(fp, stop_before_pixels=True, specific_tags=['SOPClassUID',
                                                                  'SOPInstanceUID'])
            sop_class = sop_class or ds.get('SOPClassUID', '')
            instance = instance or ds.get('SOPInstanceUID', '')
    return SubOperationInstance(
        UID(sop_class or ''), UID(instance or ''), meta.transfer_syntax, item
    )


def source_for(instance: SubOperationInstance, ts: UID) -> Any:
    """What storage_scu sends over a context of ``ts``: the file as it is when it fits, else
    its data set re-encoded (uncompressed syntaxes only: pixel data is never transcoded).

    Re-encoding between byte orders swaps the bytes of the word-valued elements (PS3.5 7.3),
    which pydicom writes as they were read.
    """
    syntax = instance.transfer_syntax
    source = instance.source
    if syntax is None or syntax == ts:
        return source
    if syntax.is_compressed or ts.is_compressed:
        if isinstance(source, Dataset):
            return source  # storage_scu refuses it with the reason
        raise NetDICOMError(
            f'{os.fspath(source)} is in {syntax.name}, the context accepted {ts.name}:'
            ' compressed pixel data is not transcoded'
        )
    swap = syntax.is_little_endian != ts.is_little_endian
    if isinstance(source, Dataset):
        if not swap:
            return source
        ds = copy.deepcopy(source)
    else:
        ds = _read(source)
    if swap:
        dsutils.swap_word_values(ds)
        # The data set is now in the context's byte order; say so.
        ds.file_meta.TransferSyntaxUID = ts
    return ds


class _SubOperations:
    """The sub-operations of one C-GET or C-MOVE, counted (PS3.4 C.4.2.3.1, C.4.3.3.1)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.performed = 0
        self.completed = 0
        self.failed = 0
        self.warning = 0
        self.failed_uids: list[str] = []

    @property
    def remaining(self) -> int:
        return max(self.total - self.performed, 0)

    def record(self, status: statuses.Status | None, instance: str | None) -> None:
        self.performed += 1
        if status is not None and status.is_success:
            self.completed += 1
        elif status is not None and status.is_warning:
            self.warning += 1
        else:
            self.failed += 1
            if instance:
                self.failed_uids.append(str(instance))

    def fail_remaining(self) -> None:
        self.failed += self.remaining
        self.performed = max(self.total, self.performed)

    def respond(
        self,
        asce: Association,
        ctx: PContextDef,
        msg: dm.DIMSERequestMessage,
        response_class: type[dm.CGetRSPMessage] | type[dm.CMoveRSPMessage],
        status: statuses.Status,
        comment: str = '',
    ) -> None:
        """Send a response with the counts: remaining only while pending or on cancel, and
        the Failed SOP Instance UID List with a final Warning, Failure or Cancel
        (PS3.4 C.4.2.1.5, C.4.2.3.1)."""
        rsp = response_for(response_class, ctx, msg)
        rsp.status = int(status)
        if status.is_pending or status.is_cancel:
            rsp.num_of_remaining_sub_ops = self.remaining
        rsp.num_of_completed_sub_ops = self.completed
        rsp.num_of_failed_sub_ops = self.failed
        rsp.num_of_warning_sub_ops = self.warning
        if comment:
            rsp.error_comment = comment[:64]
        if self.failed_uids and not (status.is_pending or status.is_success):
            listed: list[str] = []
            size = -1
            for uid in self.failed_uids:
                size += len(uid) + 1
                if size > _MAX_UID_LIST_BYTES:
                    break
                listed.append(uid)
            identifier = Dataset()
            identifier.FailedSOPInstanceUIDList = listed
            rsp.data_set = encode_identifier(identifier, ctx.supported_ts)
        asce.send(rsp, ctx.id)

    def final_status(
        self, response_class: type[dm.CGetRSPMessage] | type[dm.CMoveRSPMessage]
    ) -> statuses.Status:
        """Success, or Warning B000H when any sub-operation failed or warned (PS3.4 C.4.2.1.5)."""
        if self.failed or self.warning:
            return statuses.Status(0xB000, response_class)
        return statuses.SUCCESS


class DestinationLost(NetDICOMError):
    """The sub-operations cannot go on: no association with the destination (any more)."""


def perform_sub_operations(
    asce: Association,
    ctx: PContextDef,
    msg: dm.DIMSERequestMessage,
    response_class: type[dm.CGetRSPMessage] | type[dm.CMoveRSPMessage],
    count: Any,
    items: Iterable[Any],
    store: Callable[[SubOperationInstance, int], statuses.Status | None],
    cancelled: Callable[[], bool],
) -> None:
    """The C-GET/C-MOVE engine: validate ``count``, store each item, respond as we go.

    A pending response follows every sub-operation; a C-CANCEL-RQ stops the handler's
    iterator and is answered FE00H with the counts so far; a handler error answers C000H;
    losing the destination answers A702H. More than :data:`MAX_SUB_OPERATIONS` matches are
    refused with A701H (announced) or A702H (found on the way): the counters are 16-bit.
    """
    try:
        total = int(count)
    except (TypeError, ValueError):
        total = -1
    if total < 0:
        close_iterator(items)
        respond_failure(asce, ctx, msg, response_class, statuses.Status(0xC000, response_class),
                 f'the handler gave {count!r} as the number of matches')
        return
    if total > MAX_SUB_OPERATIONS:
        close_iterator(items)
        respond_failure(asce, ctx, msg, response_class, statuses.Status(0xA701, response_class),
                 f'{total} matches; at most {MAX_SUB_OPERATIONS} per request')
        return
    ops = _SubOperations(total)
    iterator: Any = None
    instance_uid: UID | None = None
    try:
        if total == 0:
            ops.respond(asce, ctx, msg, response_class, statuses.SUCCESS)
            return
        iterator = iter(items)
        for item in iterator:
            if ops.performed >= MAX_SUB_OPERATIONS:
                close_iterator(iterator)
                ops.respond(asce, ctx, msg, response_class,
                            statuses.Status(0xA702, response_class),
                            f'more than {MAX_SUB_OPERATIONS} matches')
                return
            instance_uid = None
            try:
                instance = _describe(item)
                instance_uid = instance.sop_instance
                status = store(instance, ops.performed + 1)  # message IDs from 1
            except DestinationLost:
                raise
            except (OSError, NetDICOMError) as exc:
                logger.warning('sub-operation %d (%s) failed: %s',
                               ops.performed + 1, instance_uid or item, exc)
                status = None
            ops.record(status, instance_uid)
            if cancelled():
                close_iterator(iterator)  # before the answer: the handler has stopped
                ops.respond(asce, ctx, msg, response_class, statuses.Status(0xFE00, response_class))
                return
            ops.respond(asce, ctx, msg, response_class, statuses.Status(0xFF00, response_class))
        ops.respond(asce, ctx, msg, response_class, ops.final_status(response_class))
    except DestinationLost as exc:
        logger.warning('sub-operations stopped: %s', exc)
        close_iterator(iterator)
        ops.record(None, instance_uid)  # the one in flight is in the Failed SOP Instance list
        ops.fail_remaining()
        ops.respond(asce, ctx, msg, response_class, statuses.Status(0xA702, response_class),
                    str(exc))
    except EventHandlingError as exc:
        logger.warning('the retrieve handler failed: %s', exc)
        status = refusal_status(exc, statuses.Status(0xC000, response_class), response_class)
        ops.respond(asce, ctx, msg, response_class, status, str(exc))
    finally:
        close_iterator(iterator)
