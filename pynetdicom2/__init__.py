"""pynetdicom2: DICOM networking (PS3.7 DIMSE over the PS3.8 upper layer) in pure Python.

The one-call helpers live at the top level::

    import pynetdicom2

    pynetdicom2.verify('MYSCU', {'aet': 'PACS', 'address': '127.0.0.1', 'port': 11112})
    pynetdicom2.store('MYSCU', remote, 'ct.dcm')
    with pynetdicom2.storage('incoming', 'STORESCP', 11112):
        ...
"""

__version__ = '1.0.0.dev0'

# Imported after __version__: the modules below read it.
from pynetdicom2.commands import find, get, move, storage, store, verify  # noqa: E402
from pynetdicom2.fsm import PContextDef  # noqa: E402

__all__ = [
    'PContextDef', '__version__', 'find', 'get', 'move', 'storage', 'store', 'verify',
]
