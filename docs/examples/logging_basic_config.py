"""Library logs in a script: logging.basicConfig, with the thread name in each record.

A C-STORE to a storage SCP run in this process; in real life they are two programs, and
each has its own log.
"""

from __future__ import annotations

import logging
import sys
import tempfile

import pynetdicom2
from pynetdicom2.loopback import make_dataset


# [configure]
def configure_logging() -> None:
    logging.basicConfig(
        stream=sys.stdout, level=logging.DEBUG,
        format='%(threadName)s %(name)s %(levelname)s: %(message)s',
    )
    # DEBUG everywhere but the PDU dumps: state machine events, files stored...
    logging.getLogger('pynetdicom2.pdu').setLevel(logging.INFO)
    # ...or only INFO from the whole library:
    # logging.getLogger('pynetdicom2').setLevel(logging.INFO)
# [configure end]


def main() -> None:
    configure_logging()

    with tempfile.TemporaryDirectory() as folder, \
            pynetdicom2.storage(folder, 'STORESCP', 0, host='127.0.0.1') as scp:
        remote = {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        status = pynetdicom2.store('STORESCU', remote, make_dataset())
    print('C-STORE', status)


if __name__ == '__main__':
    main()
