"""Many operations in flight on one association (PS3.7 D.3.3.3, Asynchronous Operations Window).

A requester proposes a window; a server states what it performs at once; the association
then keeps up to the agreed number of requests outstanding: ``store_many`` pipelines a batch,
and threads may share the association, each getting its own responses. The archive runs in
this process to have something to talk to; in real life it is a PACS.
"""

from __future__ import annotations

import tempfile
import threading

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import sopclass as sc
from pynetdicom2 import uids
from pynetdicom2.loopback import make_dataset

CT = uids.CT_IMAGE_STORAGE


def main() -> None:
    with tempfile.TemporaryDirectory() as incoming:
        # The server performs up to 16 requests of one association at once.
        archive = ae.StorageAE(incoming, 'ARCHIVE', 0, host='127.0.0.1', async_window=(16, 16))
        archive.add_scp(sc.storage_scp).add_scp(sc.verification_scp)
        with archive:
            remote = {'aet': 'ARCHIVE', 'address': '127.0.0.1', 'port': archive.local_ae.port}
            client = ae.ClientAE('MODALITY', async_window=(16, 1))  # we invoke, they perform
            client.add_scu(sc.storage_scu, [CT]).add_scu(sc.verification_scu)
            with client.request_association(remote) as assoc:
                print('window agreed:', assoc.async_window)

                # 1. A batch, pipelined: results come as the responses do.
                batch = [make_dataset(CT) for _ in range(50)]
                stored = sum(status.is_success for _, status in assoc.store_many(batch))
                print('stored with store_many:', stored)

                # 2. Threads sharing the association, each with its own Message IDs.
                results: list[bool] = []

                def send_some() -> None:
                    store = assoc.get_scu(CT)
                    for _ in range(10):
                        status = store(make_dataset(CT), assoc.new_message_id())
                        results.append(status.is_success)

                threads = [threading.Thread(target=send_some) for _ in range(4)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                print('stored from 4 threads:', sum(results))


if __name__ == '__main__':
    main()
