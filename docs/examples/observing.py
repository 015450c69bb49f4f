"""Watching an AE: observers of its associations, its counters, and a Prometheus endpoint.

An archive in this process receives a few C-STOREs and an echo; an observer prints each
association's outcome as it happens, and the counters are read at the end. The endpoint
part runs only where the ``metrics`` extra (prometheus_client) is installed.
"""

from __future__ import annotations

import tempfile
import threading
import urllib.request

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.events import Event, Notice
from pynetdicom2.exceptions import NetDICOMError
from pynetdicom2.loopback import make_dataset
from pynetdicom2.prometheus import MetricsServer

CT = uids.CT_IMAGE_STORAGE


def main() -> None:
    ended = threading.Event()

    def outcome(notice: Notice) -> None:
        # Runs on the association's DUL thread: keep it short.
        print(f'{notice.event.value}: {notice.association.remote_ae}')
        if notice.event in (Event.ASSOCIATION_RELEASED, Event.ASSOCIATION_ABORTED):
            ended.set()

    with tempfile.TemporaryDirectory() as incoming:
        archive = ae.StorageAE(incoming, 'ARCHIVE', 0, host='127.0.0.1')
        archive.add_scp(sc.storage_scp).add_scp(sc.verification_scp)
        for event in (Event.ASSOCIATION_ACCEPTED, Event.ASSOCIATION_RELEASED,
                      Event.ASSOCIATION_ABORTED):
            archive.observers.add(event, outcome)
        with archive:
            remote = {'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': archive.local_ae.port}
            client = ae.ClientAE('MODALITY').add_scu(sc.storage_scu, [CT])
            client.add_scu(sc.verification_scu)
            with client.request_association(remote) as assoc:
                store = assoc.get_scu(CT)
                for number in range(1, 4):
                    store(make_dataset(CT), number)
                assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(4)
            ended.wait(10)

            counts = archive.metrics.snapshot()
            print('associations:', counts.associations)
            print('C-STORE-RQ received:', counts.messages[('received', 'C-STORE-RQ', None)])
            print('C-STORE-RSP sent, Success:', counts.messages[('sent', 'C-STORE-RSP', 0)])
            print('bytes received:', counts.bytes_received > 0)
            print('failures:', counts.failures)

            try:
                with MetricsServer([archive], port=0) as endpoint:  # 127.0.0.1 only
                    url = f'http://127.0.0.1:{endpoint.port}/metrics'
                    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                    with direct.open(url, timeout=10) as response:
                        lines = response.read().decode().splitlines()
                print([line for line in lines if line.startswith('pynetdicom2_associations')])
            except NetDICOMError as exc:  # without the metrics extra
                print(exc)


if __name__ == '__main__':
    main()
