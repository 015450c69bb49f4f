"""Tests of pynetdicom2.exceptions: one hierarchy, and the attributes errors carry."""

from __future__ import annotations

import pytest

from pynetdicom2 import exceptions as exc

ALL = [
    exc.ClassNotSupportedError, exc.PDUProcessingError, exc.DIMSEProcessingError,
    exc.AssociationError, exc.AssociationRejectedError, exc.AssociationReleasedError,
    exc.AssociationAbortedError, exc.ConnectionFailedError, exc.DCMTimeoutError,
    exc.EventHandlingError,
]


@pytest.mark.parametrize('cls', ALL, ids=lambda c: c.__name__)
def test_everything_is_a_netdicom_error(cls: type[Exception]) -> None:
    assert issubclass(cls, exc.NetDICOMError)
    assert issubclass(exc.NetDICOMError, Exception)


def test_association_family() -> None:
    for cls in (exc.AssociationRejectedError, exc.AssociationReleasedError,
                exc.AssociationAbortedError):
        assert issubclass(cls, exc.AssociationError)
    for cls in (exc.ClassNotSupportedError, exc.PDUProcessingError, exc.DIMSEProcessingError,
                exc.DCMTimeoutError, exc.EventHandlingError):
        assert not issubclass(cls, exc.AssociationError)


def test_rejected_stores_its_fields() -> None:
    error = exc.AssociationRejectedError(1, 2, 3)
    assert (error.result, error.source, error.diagnostic) == (1, 2, 3)
    assert 'result=1' in str(error) and 'source=2' in str(error) and 'reason=3' in str(error)
    custom = exc.AssociationRejectedError(2, 3, 1, 'too busy')
    assert str(custom) == 'too busy' and custom.result == 2
    with pytest.raises(exc.AssociationError):
        raise exc.AssociationRejectedError(1, 1, 7)


def test_aborted_stores_its_fields() -> None:
    error = exc.AssociationAbortedError(2, 6)
    assert (error.source, error.reason_diag) == (2, 6)
    assert 'source=2' in str(error) and 'reason=6' in str(error)
    custom = exc.AssociationAbortedError(0, 0, 'user abort')
    assert str(custom) == 'user abort' and custom.source == 0


def test_pdu_processing_error_abort_reason() -> None:
    assert exc.PDUProcessingError('bad').abort_reason == 6
    error = exc.PDUProcessingError('unknown PDU type 0x09', abort_reason=1)
    assert error.abort_reason == 1 and str(error) == 'unknown PDU type 0x09'


def test_one_except_catches_all() -> None:
    for cls in ALL:
        args = {exc.AssociationRejectedError: (1, 1, 1), exc.AssociationAbortedError: (2, 0),
                exc.ConnectionFailedError: (2, 0)}.get(cls, ('x',))
        with pytest.raises(exc.NetDICOMError):
            raise cls(*args)


def test_event_handling_error_carries_a_chosen_status_through_pickle() -> None:
    import pickle

    error = exc.EventHandlingError('wrong level', status=0xA900)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.args, again.status) == (exc.EventHandlingError, ('wrong level',),
                                                       0xA900)
    assert exc.EventHandlingError('plain').status is None


def test_connection_failed_is_an_abort_and_survives_pickle() -> None:
    import pickle

    error = exc.ConnectionFailedError(2, 0, 'cannot connect to h:1: refused')
    assert isinstance(error, exc.AssociationAbortedError)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), again.source, again.reason_diag, str(again)) == (
        exc.ConnectionFailedError, 2, 0, 'cannot connect to h:1: refused')


def test_a_refused_connection_raises_connection_failed() -> None:
    import socket

    from pynetdicom2 import sopclass
    from pynetdicom2.applicationentity import ClientAE

    with socket.socket() as unused:
        unused.bind(('127.0.0.1', 0))
        port = unused.getsockname()[1]
    client = ClientAE('SCU').add_scu(sopclass.verification_scu)
    client.connect_timeout = client.artim_timeout = 5
    with pytest.raises(exc.ConnectionFailedError, match='cannot connect') as raised:
        with client.request_association({'aet': 'X', 'address': '127.0.0.1', 'port': port}):
            pass
    assert isinstance(raised.value.__cause__, OSError) and raised.value.source == 2
