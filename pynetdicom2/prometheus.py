"""AE counters for Prometheus: a collector and a small HTTP endpoint (the ``metrics`` extra).

Reads :class:`pynetdicom2.metrics.AEMetrics` when scraped; nothing is counted twice and
nothing runs between scrapes. Needs ``prometheus_client`` (``pip install
'pynetdicom2[metrics]'``); without it, :class:`MetricsServer` raises
:class:`~pynetdicom2.exceptions.NetDICOMError` saying so.

Usage::

    from pynetdicom2.prometheus import MetricsServer

    with ae, MetricsServer([ae], port=9100):   # http://127.0.0.1:9100/metrics
        ae.serve_forever()

The endpoint listens on 127.0.0.1 unless ``host`` says otherwise (counters name peers and
volumes: expose them deliberately), on its own named thread, which :meth:`MetricsServer.stop`
(or leaving the ``with`` block) stops and joins.

Series, each labelled with the AE title (``ae``):

* ``pynetdicom2_associations_total{outcome}``: requested, accepted, rejected, released,
  aborted;
* ``pynetdicom2_dimse_messages_total{direction,message,status}``: ``direction`` sent or
  received, ``message`` as in PS3.7 (``C-STORE-RSP``), ``status`` the response's Status in
  hexadecimal (``0000``; empty for a request);
* ``pynetdicom2_failures_total{kind}``: rejected, aborted, status, transport;
* ``pynetdicom2_bytes_total{direction}``: sent or received on the AE's sockets;
* ``pynetdicom2_active_associations`` and ``pynetdicom2_open_connections`` (gauges).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pynetdicom2.exceptions import NetDICOMError

__all__ = ['AEMetricsCollector', 'MetricsServer']

logger = logging.getLogger('pynetdicom2.prometheus')


def _client() -> Any:
    try:
        import prometheus_client
        import prometheus_client.core  # noqa: F401 - the metric families
    except ImportError:
        raise NetDICOMError(
            'the Prometheus endpoint needs prometheus_client: pip install '
            "'pynetdicom2[metrics]'"
        ) from None
    return prometheus_client


class AEMetricsCollector:
    """A Prometheus collector of the counters of ``aes`` (AEs, each with ``ae_title`` and
    ``metrics``), for any ``prometheus_client`` registry."""

    def __init__(self, aes: Iterable[Any]) -> None:
        self.aes = list(aes)

    def collect(self) -> Iterator[Any]:
        core = _client().core
        labels = ['ae']
        associations = core.CounterMetricFamily(
            'pynetdicom2_associations', 'Associations by outcome', labels=[*labels, 'outcome'])
        messages = core.CounterMetricFamily(
            'pynetdicom2_dimse_messages', 'DIMSE messages by direction, type and status',
            labels=[*labels, 'direction', 'message', 'status'])
        failures = core.CounterMetricFamily(
            'pynetdicom2_failures', 'Failures by kind', labels=[*labels, 'kind'])
        transferred = core.CounterMetricFamily(
            'pynetdicom2_bytes', 'Bytes on the sockets', labels=[*labels, 'direction'])
        active = core.GaugeMetricFamily(
            'pynetdicom2_active_associations', 'Associations established now', labels=labels)
        connections = core.GaugeMetricFamily(
            'pynetdicom2_open_connections', 'Connections open now', labels=labels)
        for ae in self.aes:
            title = ae.ae_title
            counts = ae.metrics.snapshot()
            for outcome, count in counts.associations.items():
                associations.add_metric([title, outcome], count)
            for (direction, name, status), count in sorted(
                counts.messages.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or 0)
            ):
                code = '' if status is None else f'{status:04X}'
                messages.add_metric([title, direction, name, code], count)
            for kind, count in counts.failures.items():
                failures.add_metric([title, kind], count)
            transferred.add_metric([title, 'received'], counts.bytes_received)
            transferred.add_metric([title, 'sent'], counts.bytes_sent)
            active.add_metric([title], counts.active_associations)
            connections.add_metric([title], counts.open_connections)
        yield from (associations, messages, failures, transferred, active, connections)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        logger.debug('%s: ' + format, self.address_string(), *args)


class _IPv6Server(WSGIServer):
    address_family = socket.AF_INET6


class MetricsServer:
    """Serve ``/metrics`` for ``aes`` on ``host``:``port`` (0: any free port, then read
    :attr:`port`), on the thread ``pynetdicom2-metrics-<port>``, from :meth:`start` to
    :meth:`stop`; a context manager doing both."""

    def __init__(self, aes: Iterable[Any], port: int, host: str = '127.0.0.1') -> None:
        client = _client()
        self.registry = client.CollectorRegistry(auto_describe=True)
        self.registry.register(AEMetricsCollector(aes))
        app = client.make_wsgi_app(self.registry)
        server_class = _IPv6Server if ':' in host else WSGIServer
        try:
            self._httpd = make_server(host, port, app, server_class=server_class,
                                      handler_class=_QuietHandler)
        except OSError as exc:
            raise NetDICOMError(f'cannot serve metrics on {host}:{port}: {exc}') from exc
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> MetricsServer:
        """Start serving (once); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={'poll_interval': 0.5},
                name=f'pynetdicom2-metrics-{self.port}', daemon=True,
            )
            self._thread.start()
            logger.info('metrics on http://%s:%d/metrics', self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread (idempotent)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._httpd.shutdown()
            thread.join()
        self._httpd.server_close()

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
