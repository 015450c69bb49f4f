"""asceprovider split into four modules: every name it had is still there, the same object as
in its new home (pynetdicom2/asceprovider_types.py, _association.py, _acceptor.py,
_requester.py; receivedfiles.py for the data set sink)."""

from __future__ import annotations

import pytest

from pynetdicom2 import (
    asceprovider,
    asceprovider_acceptor,
    asceprovider_association,
    asceprovider_requester,
    asceprovider_types,
    receivedfiles,
)

#: sorted(dir(pynetdicom2.asceprovider)) before the split, dunders left out.
NAMES_BEFORE = [
    'AEBaseProto', 'AETParams', 'APPLICATION_CONTEXT_NAME', 'Any', 'Association',
    'AssociationAbortedError', 'AssociationAcceptor', 'AssociationError',
    'AssociationRejectedError', 'AssociationReleasedError', 'AssociationRequester', 'BinaryIO',
    'Callable', 'ClassNotSupportedError', 'ConnectionFailedError', 'DCMTimeoutError',
    'DIMSEProcessingError', 'DULServiceProvider', 'Dataset', 'IMPLEMENTATION_UID',
    'IMPLEMENTATION_VERSION_NAME', 'Iterable', 'Iterator', 'Mapping', 'NetDICOMError',
    'PContextDef', 'PContextDefList', 'Protocol', 'RemoteAEConfig', 'SCPService',
    'SCPServiceWithSOPClass', 'SCUService', 'SCUServiceWithSOPClass', 'Sequence', 'States',
    'T_contra', 'TypeVar', 'UID', 'UNSUPPORTED_REQUEST_RESPONSES', '_DiscardedDataSet',
    '_GRACE', '_remote_config', 'annotations', 'build_pres_context_def_list', 'collections',
    'dataclass', 'dm', 'field', 'functools', 'io', 'is_safe_uid', 'logger', 'logging',
    'negotiation', 'pdu', 'socket', 'statuses', 'threading',
]

#: Each public name of the module -> its home.
HOMES = {
    'AEBaseProto': asceprovider_types,
    'AETParams': asceprovider_types,
    'PContextDefList': asceprovider_types,
    'RemoteAEConfig': asceprovider_types,
    'SCPService': asceprovider_types,
    'SCPServiceWithSOPClass': asceprovider_types,
    'SCUService': asceprovider_types,
    'SCUServiceWithSOPClass': asceprovider_types,
    'T_contra': asceprovider_types,
    'UNSUPPORTED_REQUEST_RESPONSES': asceprovider_types,
    'build_pres_context_def_list': asceprovider_types,
    'Association': asceprovider_association,
    'AssociationAcceptor': asceprovider_acceptor,
    'AssociationRequester': asceprovider_requester,
}


@pytest.mark.parametrize('name', NAMES_BEFORE)
def test_every_name_is_still_there(name: str) -> None:
    assert hasattr(asceprovider, name)


@pytest.mark.parametrize('name', sorted(HOMES))
def test_public_names_are_the_objects_of_their_home(name: str) -> None:
    assert getattr(asceprovider, name) is getattr(HOMES[name], name)


@pytest.mark.parametrize('name', asceprovider.__all__)
def test_all_is_unchanged_and_each_name_has_a_home(name: str) -> None:
    home = HOMES.get(name)
    if home is not None:
        assert getattr(asceprovider, name) is getattr(home, name)
    else:  # re-exported from negotiation and fsm, as before
        assert name in {'APPLICATION_CONTEXT_NAME', 'IMPLEMENTATION_UID',
                        'IMPLEMENTATION_VERSION_NAME', 'PContextDef'}


def test_private_names_are_aliases_of_public_ones() -> None:
    assert asceprovider._GRACE == asceprovider_association.GRACE
    assert asceprovider._remote_config is asceprovider_types.remote_config
    assert asceprovider._DiscardedDataSet is receivedfiles.DiscardedDataSet


def test_the_logger_is_shared() -> None:
    assert asceprovider.logger is asceprovider_acceptor.logger is asceprovider_requester.logger


@pytest.mark.parametrize('module', [asceprovider_types, asceprovider_association,
                                    asceprovider_acceptor, asceprovider_requester])
def test_each_part_is_well_under_900_lines(module: object) -> None:
    path = module.__file__  # type: ignore[attr-defined]
    with open(path, encoding='utf-8') as source:
        assert sum(1 for _ in source) < 800
