"""pynetdicom as a peer, for the interop tests of the DIMSE-N services: an AE with every
timeout bounded, our AEs bounded alike, a server that always shuts down, a release that
falls back to an abort. Import it after the module's own check that pynetdicom is there."""

from __future__ import annotations

import pynetdicom

from pynetdicom2 import applicationentity as ae

THEIR_AET = 'PYNDSCP'


def their_ae(ae_title: str) -> pynetdicom.AE:
    """A pynetdicom AE with every timeout bounded."""
    peer = pynetdicom.AE(ae_title)
    peer.acse_timeout = peer.dimse_timeout = peer.network_timeout = 10
    peer.connection_timeout = 10
    return peer


def bounded(ours: ae.AEBase) -> ae.AEBase:
    ours.dcm_timeout = ours.artim_timeout = ours.connect_timeout = 10
    return ours


def finish(assoc) -> None:
    """Release a pynetdicom association that is still up (abort if that fails)."""
    if assoc.is_established:
        assoc.release()
    if assoc.is_established:
        assoc.abort()


class TheirServer:
    """pynetdicom serving ``contexts`` on 127.0.0.1 with ``handlers``; always shut down."""

    def __init__(self, contexts, handlers) -> None:
        self.ae = their_ae(THEIR_AET)
        for uid in contexts:
            self.ae.add_supported_context(uid)
        self.handlers = handlers
        self.server = None

    def __enter__(self) -> int:
        self.server = self.ae.start_server(('127.0.0.1', 0), block=False,
                                           evt_handlers=self.handlers)
        return self.server.server_address[1]

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
