"""PDU dumps: every PDU sent and received, on the ``pynetdicom2.pdu`` logger at DEBUG.

A C-ECHO to a storage SCP run in this process. In real life the SCP is another program (or
machine) and your log holds only your side; here both sides share the process, so a filter
keeps the records of the requesting side only.
"""

from __future__ import annotations

import logging
import sys
import tempfile

import pynetdicom2


class RequesterOnly(logging.Filter):
    """Keep the records logged by the upper-layer thread of associations *to* ``called_aet``.

    Requester threads are named ``pynetdicom2-dul-<called AE>@<host>:<port>``.
    """

    def __init__(self, called_aet: str) -> None:
        super().__init__()
        self.prefix = f'pynetdicom2-dul-{called_aet}@'

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName.startswith(self.prefix)


# [configure]
def configure_logging() -> None:
    logging.basicConfig(stream=sys.stdout, format='%(levelname).1s %(name)s: %(message)s')
    logging.getLogger('pynetdicom2.pdu').setLevel(logging.DEBUG)
# [configure end]


def main() -> None:
    configure_logging()
    logging.getLogger().handlers[0].addFilter(RequesterOnly('STORESCP'))

    with tempfile.TemporaryDirectory() as folder, \
            pynetdicom2.storage(folder, 'STORESCP', 0, host='127.0.0.1') as scp:
        remote = {'aet': 'STORESCP', 'address': '127.0.0.1', 'port': scp.local_ae.port}
        status = pynetdicom2.verify('ECHOSCU', remote)
    print('C-ECHO', status)


if __name__ == '__main__':
    main()
