"""The one exception hierarchy of pynetdicom2.

Every error the library raises derives from :class:`NetDICOMError`, so a script can catch
them all with one ``except``. Errors caused by the peer (a malformed PDU, an abort) are kept
apart from errors caused by the caller (a wrong argument), and every message says what was
expected and what was found.

Usage::

    from pynetdicom2 import exceptions

    try:
        with client.request_association(remote) as assoc:
            ...
    except exceptions.AssociationRejectedError as exc:
        print(exc.result, exc.source, exc.diagnostic)
"""

from __future__ import annotations

from typing import Any


class NetDICOMError(Exception):
    """Base class of every pynetdicom2 error."""


class ClassNotSupportedError(NetDICOMError):
    """The SOP class is not registered on this AE or was not accepted by the peer."""


class PDUProcessingError(NetDICOMError):
    """A PDU or item is malformed and cannot be decoded (or an item cannot be encoded).

    ``abort_reason`` is the A-ABORT provider reason (PS3.8 9.3.8) that fits the fault:
    1 unrecognised PDU, 2 unexpected PDU, 4 unrecognised parameter, 5 unexpected parameter,
    6 invalid parameter value (the default).
    """

    def __init__(self, *args: Any, abort_reason: int = 6) -> None:
        super().__init__(*args)
        self.abort_reason = abort_reason

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_pdu_error, (type(self), self.args, self.abort_reason)


class DIMSEProcessingError(NetDICOMError):
    """A DIMSE message or PDV is malformed or arrived out of order."""


class InvalidDataSetError(NetDICOMError):
    """An encoded data set is not one: empty, cut short, garbage, or left unterminated
    (PS3.5 7). Raised by :mod:`pynetdicom2.datasetcheck`; its message says where."""


class AssociationError(NetDICOMError):
    """An association could not be set up or carried on."""


class AssociationRejectedError(AssociationError):
    """The association was rejected (A-ASSOCIATE-RJ, PS3.8 9.3.4).

    ``result`` is 1 (permanent) or 2 (transient); ``source`` is 1 (service user), 2 (ACSE
    provider) or 3 (presentation provider); ``diagnostic`` is the reason code for that source.
    """

    def __init__(
        self, result: int, source: int, diagnostic: int, *args: Any, **kwargs: Any
    ) -> None:
        # **kwargs keeps the original's signature; Exception itself takes no keywords.
        if not args:
            args = (f'association rejected: result={result}, source={source}, '
                    f'reason={diagnostic}',)
        super().__init__(*args)
        self.result = result
        self.source = source
        self.diagnostic = diagnostic

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.result, self.source, self.diagnostic, *self.args)


class AssociationReleasedError(AssociationError):
    """The peer asked to release the association (A-RELEASE-RQ)."""


class AssociationAbortedError(AssociationError):
    """The association was aborted (A-ABORT or A-P-ABORT, PS3.8 9.3.8).

    ``source`` is 0 (service user) or 2 (service provider); ``reason_diag`` the provider reason.
    """

    def __init__(self, source: int, reason_diag: int, *args: Any, **kwargs: Any) -> None:
        # **kwargs keeps the original's signature; Exception itself takes no keywords.
        if not args:
            args = (f'association aborted: source={source}, reason={reason_diag}',)
        super().__init__(*args)
        self.source = source
        self.reason_diag = reason_diag

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.source, self.reason_diag, *self.args)


class ConnectionFailedError(AssociationAbortedError):
    """The connection to the peer failed while an association was being requested.

    The TCP connection could not be opened (refused, unreachable, timed out), or it broke
    before the A-ASSOCIATE-AC arrived (a TLS handshake the peer refused, a reset): the
    association was never set up. The DICOM upper layer reports this as an A-P-ABORT
    (PS3.8 7.4), so it is an :class:`AssociationAbortedError` (``source`` 2, service
    provider) and an existing ``except AssociationAbortedError`` still catches it. The
    :class:`OSError` is its ``__cause__``; raised by
    :meth:`pynetdicom2.asceprovider.AssociationRequester.request`.

    >>> error = ConnectionFailedError(2, 0, 'cannot connect to 10.0.0.5:104: refused')
    >>> isinstance(error, AssociationAbortedError), error.source
    (True, 2)
    """


class DCMTimeoutError(NetDICOMError):
    """Nothing arrived from the peer within the DIMSE timeout (``dcm_timeout``)."""


class EventHandlingError(NetDICOMError):
    """Raised by a user's handler to make the service answer with a failure status.

    Without ``status`` the service answers its own failure (C000H "unable to process" for a
    query or retrieve, 0110H "processing failure" for C-ECHO and the N-services, C-STORE's
    "cannot understand"). ``status`` picks a failure code of the service instead, e.g.
    0xA900 (identifier does not match SOP class) for a query at a level the model lacks, or
    0xA700 (out of resources); a code that is not a failure of that service is ignored, with a
    warning, in favour of the default.

    >>> EventHandlingError('no such level', status=0xA900).status
    43264
    """

    def __init__(self, *args: Any, status: int | None = None) -> None:
        super().__init__(*args)
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_event_error, (type(self), self.args, self.status)


def _rebuild_event_error(
    cls: type[EventHandlingError], args: tuple[Any, ...], status: int | None
) -> EventHandlingError:
    return cls(*args, status=status)


def _rebuild_pdu_error(
    cls: type[PDUProcessingError], args: tuple[Any, ...], abort_reason: int
) -> PDUProcessingError:
    return cls(*args, abort_reason=abort_reason)
