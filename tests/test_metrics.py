"""Per-AE counters (pynetdicom2.metrics) and their Prometheus endpoint (pynetdicom2.prometheus)."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import pytest
from aetools import dataset, fast, remote, serving
from ulpeer import TIMEOUT

from pynetdicom2 import sopclass, uids
from pynetdicom2.applicationentity import AE, ClientAE, StorageAE
from pynetdicom2.events import Event
from pynetdicom2.exceptions import AssociationRejectedError, NetDICOMError
from pynetdicom2.fsm import Events, States
from pynetdicom2.metrics import AEMetrics, association_outcomes, message_name

CT = uids.CT_IMAGE_STORAGE


def closed_on(ae: AE, connections: int = 1) -> threading.Semaphore:
    """A semaphore released each time one of ``ae``'s connections closes."""
    closed = threading.Semaphore(0)
    ae.observers.add(Event.CONNECTION_CLOSED, lambda notice: closed.release())
    return closed


def wait(closed: threading.Semaphore, count: int = 1) -> None:
    for _ in range(count):
        assert closed.acquire(timeout=TIMEOUT), 'a connection did not close'


@pytest.mark.parametrize(('event', 'before', 'after', 'outcomes'), [
    (Events.EVT_2, States.STA_4, States.STA_5, ('requested',)),
    (Events.EVT_6, States.STA_2, States.STA_3, ('requested',)),
    (Events.EVT_6, States.STA_2, States.STA_13, ('requested', 'rejected')),
    (Events.EVT_7, States.STA_3, States.STA_6, ('accepted',)),
    (Events.EVT_3, States.STA_5, States.STA_6, ('accepted',)),
    (Events.EVT_8, States.STA_3, States.STA_13, ('rejected',)),
    (Events.EVT_4, States.STA_5, States.STA_1, ('rejected',)),
    (Events.EVT_13, States.STA_7, States.STA_1, ('released',)),
    (Events.EVT_14, States.STA_8, States.STA_13, ('released',)),
    (Events.EVT_13, States.STA_11, States.STA_1, ('released',)),
    (Events.EVT_14, States.STA_12, States.STA_13, ('released',)),
    (Events.EVT_16, States.STA_6, States.STA_1, ('aborted',)),
    (Events.EVT_15, States.STA_6, States.STA_13, ('aborted',)),
    (Events.EVT_17, States.STA_6, States.STA_1, ('aborted',)),
    (Events.EVT_18, States.STA_7, States.STA_1, ('aborted',)),
    (Events.EVT_16, States.STA_5, States.STA_1, ('aborted',)),
    (Events.EVT_17, States.STA_13, States.STA_1, ()),
    (Events.EVT_17, States.STA_2, States.STA_1, ()),
    (Events.EVT_10, States.STA_6, States.STA_6, ()),
    (Events.EVT_11, States.STA_6, States.STA_7, ()),
])
def test_association_outcomes_follow_table_9_10(event, before, after, outcomes) -> None:
    assert association_outcomes(event, before, after) == outcomes


def test_message_names() -> None:
    assert message_name(0x8001) == 'C-STORE-RSP'
    assert message_name(0x0140) == 'N-CREATE-RQ'
    assert message_name(0x1234) == '1234H'


@pytest.mark.filterwarnings('ignore:Invalid value for VR UI')
def test_stores_echoes_and_a_failure_are_counted_on_both_sides(tmp_path: Path) -> None:
    server = StorageAE(tmp_path, 'SCP', 0, host='127.0.0.1')
    server.add_scp(sopclass.verification_scp).add_scp(sopclass.storage_scp)
    closed = closed_on(server)
    client = fast(ClientAE('SCU')).add_scu(sopclass.verification_scu)
    client.add_scu(sopclass.storage_scu, [CT])
    with serving(server) as srv:
        with client.request_association(remote(srv)) as assoc:
            store = assoc.get_scu(CT)
            assert store(dataset(), 1).is_success
            assert store(dataset(), 2).is_success
            # PS3.5 9.1: no leading zero in a component; the SCP answers C000H.
            assert store(dataset(SOPInstanceUID='1.2.03'), 3).is_failure
            assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(4).is_success
        wait(closed)
    on_server = server.metrics.snapshot()
    on_client = client.metrics.snapshot()
    assert on_server.messages == {
        ('received', 'C-STORE-RQ', None): 3,
        ('sent', 'C-STORE-RSP', 0x0000): 2,
        ('sent', 'C-STORE-RSP', 0xC000): 1,
        ('received', 'C-ECHO-RQ', None): 1,
        ('sent', 'C-ECHO-RSP', 0x0000): 1,
    }
    assert on_client.messages == {
        ('sent', 'C-STORE-RQ', None): 3,
        ('received', 'C-STORE-RSP', 0x0000): 2,
        ('received', 'C-STORE-RSP', 0xC000): 1,
        ('sent', 'C-ECHO-RQ', None): 1,
        ('received', 'C-ECHO-RSP', 0x0000): 1,
    }
    for counts in (on_server, on_client):
        assert counts.associations == {
            'requested': 1, 'accepted': 1, 'rejected': 0, 'released': 1, 'aborted': 0}
        assert counts.failures == {'rejected': 0, 'aborted': 0, 'status': 1, 'transport': 0}
        assert counts.active_associations == 0
        assert counts.open_connections == 0
    assert on_client.bytes_sent == on_server.bytes_received > 3 * 200
    assert on_server.bytes_sent == on_client.bytes_received > 0


def test_rejections_and_aborts_are_failures() -> None:
    server = AE('SCP', 0, host='127.0.0.1').add_scp(sopclass.verification_scp)
    server.require_called_aet = True
    closed = closed_on(server)
    client = fast(ClientAE('SCU')).add_scu(sopclass.verification_scu)
    with serving(server) as srv:
        with pytest.raises(AssociationRejectedError):
            with client.request_association(remote(srv, aet='OTHER')):
                pass
        with client.request_association(remote(srv)) as assoc:
            assert server.metrics.snapshot().active_associations in (0, 1)
            assoc.abort()
        wait(closed, 2)
    for counts in (server.metrics.snapshot(), client.metrics.snapshot()):
        assert counts.associations == {
            'requested': 2, 'accepted': 1, 'rejected': 1, 'released': 0, 'aborted': 1}
        assert counts.failures['rejected'] == 1
        assert counts.failures['aborted'] == 1
        assert counts.active_associations == 0


def test_counters_are_live_while_an_association_is_open() -> None:
    server = AE('SCP', 0, host='127.0.0.1').add_scp(sopclass.verification_scp)
    client = fast(ClientAE('SCU')).add_scu(sopclass.verification_scu)
    with serving(server) as srv:
        with client.request_association(remote(srv)) as assoc:
            assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
            live = client.metrics.snapshot()
            assert live.active_associations == 1
            assert live.open_connections == 1
            assert live.bytes_sent > 0 and live.bytes_received > 0


def test_metrics_snapshot_of_a_new_ae_is_all_zero() -> None:
    counts = AEMetrics().snapshot()
    assert set(counts.associations.values()) == {0}
    assert set(counts.failures.values()) == {0}
    assert counts.messages == {}
    assert (counts.bytes_received, counts.bytes_sent) == (0, 0)


def test_prometheus_endpoint_serves_the_counters() -> None:
    pytest.importorskip('prometheus_client', reason='the metrics extra is not installed')
    from pynetdicom2.prometheus import MetricsServer

    server = AE('SCP', 0, host='127.0.0.1').add_scp(sopclass.verification_scp)
    closed = closed_on(server)
    client = fast(ClientAE('SCU')).add_scu(sopclass.verification_scu)
    with serving(server) as srv, MetricsServer([srv], port=0) as endpoint:
        assert endpoint.host == '127.0.0.1'
        with client.request_association(remote(srv)) as assoc:
            assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success
        wait(closed)
        url = f'http://127.0.0.1:{endpoint.port}/metrics'
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy
        with direct.open(url, timeout=TIMEOUT) as response:
            text = response.read().decode()
    assert 'pynetdicom2_associations_total{ae="SCP",outcome="accepted"} 1.0' in text
    assert ('pynetdicom2_dimse_messages_total{ae="SCP",direction="sent",message="C-ECHO-RSP",'
            'status="0000"} 1.0') in text
    assert ('pynetdicom2_dimse_messages_total{ae="SCP",direction="received",'
            'message="C-ECHO-RQ",status=""} 1.0') in text
    assert 'pynetdicom2_active_associations{ae="SCP"} 0.0' in text
    assert 'pynetdicom2_bytes_total{ae="SCP",direction="received"}' in text
    assert not any(t.name.startswith('pynetdicom2-metrics') for t in threading.enumerate())


def test_prometheus_endpoint_on_a_taken_port_says_so() -> None:
    pytest.importorskip('prometheus_client', reason='the metrics extra is not installed')
    from pynetdicom2.prometheus import MetricsServer

    with MetricsServer([], port=0) as first:
        with pytest.raises(NetDICOMError, match='cannot serve metrics on 127.0.0.1'):
            MetricsServer([], port=first.port)
