"""A storage SCP and a storage SCU, both pynetdicom2, talking over loopback.

Run it::

    python examples/store_loopback.py             # stores a small generated CT data set
    python examples/store_loopback.py a.dcm b.dcm # stores your files, as they are

It starts ``pynetdicom2.storage`` (a storage SCP that also answers C-ECHO) on a free port of
127.0.0.1, writing into a temporary directory, then runs ``pynetdicom2.verify`` and
``pynetdicom2.store`` against it, and lists what arrived as ``<SOPInstanceUID>.dcm``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

import pynetdicom2
from pynetdicom2 import uids


def generated_ct() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = uids.CT_IMAGE_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = 'Loopback^Demo'
    ds.PatientID = 'DEMO'
    ds.Modality = 'CT'
    return ds


def main(paths: list[str]) -> int:
    with tempfile.TemporaryDirectory() as storage_dir:
        with pynetdicom2.storage(storage_dir, 'STORESCP', 0, host='127.0.0.1') as scp:
            remote = {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
            print(f'storage SCP STORESCP listening on 127.0.0.1:{scp.local_ae.port}')
            print('C-ECHO  ', pynetdicom2.verify('STORESCU', remote))
            failed = 0
            for item in paths or [generated_ct()]:
                status = pynetdicom2.store('STORESCU', remote, item)
                failed += not status.is_success
                print('C-STORE ', status, item if isinstance(item, str) else '(generated CT)')
        for stored in sorted(Path(storage_dir).iterdir()):
            print(f'received {stored.name} ({stored.stat().st_size} bytes)')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
