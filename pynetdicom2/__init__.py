"""pynetdicom2: DICOM networking (PS3.7 DIMSE over the PS3.8 upper layer) in pure Python.

The one-call helpers live at the top level::

    import pynetdicom2

    pynetdicom2.verify('MYSCU', {'aet': 'PACS', 'address': '127.0.0.1', 'port': 11112})
    pynetdicom2.store('MYSCU', remote, 'ct.dcm')
    with pynetdicom2.storage('incoming', 'STORESCP', 11112):
        ...
"""

from __future__ import annotations

import logging
from typing import Any

__version__ = '1.0.0.dev0'

# A library leaves output to the application (Python's logging HOWTO): without a logging
# configuration, nothing is printed, not even through logging's last-resort handler.
logging.getLogger(__name__).addHandler(logging.NullHandler())

# The original's top-level names (each the same object as in its home module) and ours
# (``get``, ``__version__``). Imported on first use, so that `import pynetdicom2.testing`
# (which pytest does in every session once the package is installed) or `import
# pynetdicom2.pdu` does not pay for the whole stack and pydicom.
_MODULES = (
    'applicationentity', 'asceprovider', 'commands', 'dimsemessages', 'dsutils', 'dulprovider',
    'exceptions', 'fsm', 'pdu', 'sopclass', 'statuses', 'uids', 'userdataitems',
)
_HOMES = {
    'applicationentity': ('AE', 'ClientAE', 'ClientStorageAE', 'StorageAE'),
    'asceprovider': ('AssociationAcceptor', 'AssociationRequester', 'PContextDef'),
    'commands': ('CMoveResponse', 'find', 'get', 'move', 'storage', 'store', 'verify'),
    'statuses': ('PROCESSING_FAILURE', 'SUCCESS', 'Status'),
    'sopclass': (
        'StorageCommitment', 'modality_work_list_scp', 'modality_work_list_scu',
        'qr_find_scp', 'qr_find_scu', 'qr_get_scu', 'qr_move_scp', 'qr_move_scu',
        'storage_commitment_scu', 'storage_scp', 'storage_scu', 'verification_scp',
        'verification_scu',
    ),
}
_LAZY = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted([*_MODULES, *_LAZY, '__version__'])


def __getattr__(name: str) -> Any:
    import importlib
    import importlib.util

    module_name = _LAZY.get(name)
    if module_name is not None:
        value = getattr(importlib.import_module(f'{__name__}.{module_name}'), name)
    elif not name.startswith('_') and importlib.util.find_spec(f'{__name__}.{name}'):
        # `import pynetdicom2` then `pynetdicom2.sopclass...` worked when this package
        # imported its modules eagerly; keep it working.
        value = importlib.import_module(f'{__name__}.{name}')
    else:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
