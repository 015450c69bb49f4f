"""pynetdicom2 against DCMTK 3.6: its SCUs against our AEs, our ClientAE against its storescp.

Directions covered:

* ``echoscu`` -> our AE: C-ECHO (several on one association; an abort in between);
* ``storescu`` -> our ``StorageAE``: every sample transfer syntax, each accepted alone so
  storescu has to send the file as it is; the received ``<SOPInstanceUID>.dcm`` must hold the
  same data set, element by element, pixel data byte for byte; also all samples on one
  association to ``commands.storage`` and several storescu processes at once;
* our ``ClientAE`` -> ``storescp``: the same samples; storescp rewrites the file meta, so data
  sets are compared without group 0002;
* even fragments (PS3.8 E.1): an odd-length deflated data set and an odd maximum PDU
  length, against ``storescp +xd``;
* refusals: a rejected association (called AE title, ``on_association_request``), an
  unsupported SOP class and an unsupported transfer syntax, in both directions.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import threading
import zlib
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import commands, dsutils, exceptions, pixelcodecs, uids
from pynetdicom2 import sopclass as sc

from .conftest import (
    CT_IMAGE_STORAGE,
    PEER_TIMEOUT,
    SAMPLE_NAMES,
    dcmtk_environment,
    make_image,
    stop_process,
)

pytestmark = pytest.mark.interop

OUR_AET = 'OURSCP'
DCMTK_SCP_AET = 'DCMTKSCP'

#: storescu proposes only uncompressed transfer syntaxes unless told otherwise.
STORESCU_PROPOSAL = {'deflated': '-xd', 'jpeg_baseline': '-xy'}


def storage_ae(storage_dir: Path, supported_ts=None, ae_title: str = OUR_AET) -> ae.StorageAE:
    """Our storage SCP (with verification), ready for ``serve`` (port 0, not yet bound)."""
    scp = ae.StorageAE(storage_dir, ae_title, 0, supported_ts=supported_ts,
                       bind_and_activate=False)
    return scp.add_scp(sc.verification_scp).add_scp(sc.storage_scp)


def remote(port: int, aet: str = DCMTK_SCP_AET) -> dict:
    return {'aet': aet, 'address': '127.0.0.1', 'port': port}


def storescu_args(sample_name: str, called: str = OUR_AET) -> list[str]:
    # -R: propose only the SOP classes of the files sent (not storescu's 64 defaults)
    args = ['-v', '-R', '-aet', 'DCMTKSCU', '-aec', called, '-to', '10', '-ta', '10', '-td', '10']
    if sample_name in STORESCU_PROPOSAL:
        args.append(STORESCU_PROPOSAL[sample_name])
    return args


def conversions(storescu_output: str) -> list[str]:
    """The transfer syntax conversions storescu reports (it also reports 'X -> X')."""
    found = []
    for line in storescu_output.splitlines():
        if 'Converting transfer syntax:' in line:
            before, after = line.split(':', 2)[-1].split(' -> ')
            if before.strip() != after.strip():
                found.append(line)
    return found


def received_by_storescp(out: Path, sop_instance_uid: str) -> Path:
    """storescp names a file '<modality>.<SOP Instance UID>': the only file in ``out``."""
    files = sorted(out.iterdir())
    assert [f.name.split('.', 1)[1] for f in files] == [sop_instance_uid], files
    return files[0]


# --- echoscu -> our AE ---------------------------------------------------------------------------


def test_echoscu_to_our_ae(dcmtk, serve):
    """Three C-ECHOs on one association, then a release: echoscu sees Success each time."""
    scp = ae.AE(OUR_AET, 0, bind_and_activate=False).add_scp(sc.verification_scp)
    with serve(scp) as port:
        done = dcmtk.run('echoscu', '-v', '--repeat', 3, '-aec', OUR_AET, '127.0.0.1', port)
    assert done.returncode == 0, done.explain()
    assert done.output.count('Received Echo Response (Success)') == 3, done.explain()
    assert 'Association Accepted' in done.output


def test_echoscu_abort_then_echo_again(dcmtk, serve):
    """An association echoscu aborts does not disturb the server: the next one works."""
    scp = ae.AE(OUR_AET, 0, bind_and_activate=False).add_scp(sc.verification_scp)
    with serve(scp) as port:
        aborted = dcmtk.run('echoscu', '-v', '--abort', '-aec', OUR_AET, '127.0.0.1', port)
        again = dcmtk.run('echoscu', '-v', '-aec', OUR_AET, '127.0.0.1', port)
    assert aborted.returncode == 0, aborted.explain()
    assert 'Received Echo Response (Success)' in aborted.output, aborted.explain()
    assert again.returncode == 0, again.explain()
    assert 'Received Echo Response (Success)' in again.output, again.explain()


# --- storescu -> our StorageAE -------------------------------------------------------------------


@pytest.mark.parametrize('name', SAMPLE_NAMES)
def test_storescu_to_storage_ae(name, dcmtk, serve, sample_of, assert_same, tmp_path):
    """storescu sends the sample in its own transfer syntax (the only one we accept); we
    write exactly ``<SOPInstanceUID>.dcm`` holding the same data set."""
    sample = sample_of(name)
    dcmtk.require('storescu')
    storage_dir = tmp_path / 'received'
    storage_dir.mkdir()
    with serve(storage_ae(storage_dir, [sample.transfer_syntax])) as port:
        done = dcmtk.run('storescu', *storescu_args(name), '127.0.0.1', port, sample.path)
    assert done.returncode == 0, done.explain()
    assert 'Received Store Response (Success)' in done.output, done.explain()
    assert not conversions(done.output), done.explain()
    assert sorted(p.name for p in storage_dir.iterdir()) == [sample.stored_name]
    assert_same(sample, storage_dir / sample.stored_name)


def test_storescu_all_samples_to_commands_storage(dcmtk, samples, assert_same, tmp_path):
    """``commands.storage`` (all transfer syntaxes by default) takes every uncompressed sample
    on one association (storescu may convert them to the syntax it prefers among those we
    accepted: values must survive), then the JPEG one on a second, unconverted."""
    dcmtk.require('storescu')
    storage_dir = tmp_path / 'received'
    storage_dir.mkdir()
    uncompressed = [s for s in samples.values()
                    if not isinstance(s, str) and s.name != 'jpeg_baseline']
    jpeg = samples['jpeg_baseline']
    # host: pynetdicom2's extension, to listen on loopback only
    with commands.storage(storage_dir, OUR_AET, 0, host='127.0.0.1') as scp:
        port = scp.server.server_address[1]
        done = dcmtk.run('storescu', *storescu_args('deflated'), '127.0.0.1', port,
                         *(s.path for s in uncompressed))
        assert done.returncode == 0, done.explain()
        assert done.output.count('Received Store Response (Success)') == len(uncompressed)
        if not isinstance(jpeg, str):
            done = dcmtk.run('storescu', *storescu_args('jpeg_baseline'), '127.0.0.1', port,
                             jpeg.path)
            assert done.returncode == 0, done.explain()
            assert not conversions(done.output), done.explain()
    expected = uncompressed + ([] if isinstance(jpeg, str) else [jpeg])
    assert sorted(p.name for p in storage_dir.iterdir()) == sorted(
        s.stored_name for s in expected)
    for sample in uncompressed:
        assert_same(sample, storage_dir / sample.stored_name, same_syntax=False)
    if not isinstance(jpeg, str):
        assert_same(jpeg, storage_dir / jpeg.stored_name)


def test_parallel_storescu_associations(dcmtk, serve, samples, assert_same, tmp_path):
    """Four storescu processes at once, one association each: one thread per association."""
    storescu = dcmtk.tool('storescu')
    storage_dir = tmp_path / 'received'
    storage_dir.mkdir()
    names = ['implicit_le', 'explicit_le', 'explicit_be', 'large_explicit_le']
    processes = []
    with serve(storage_ae(storage_dir)) as port:
        try:
            for name in names:
                processes.append(subprocess.Popen(
                    [storescu, *storescu_args(name), '127.0.0.1', str(port),
                     str(samples[name].path)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, env=dcmtk_environment()))
            outputs = [p.communicate(timeout=PEER_TIMEOUT)[0].decode() for p in processes]
        finally:
            for process in processes:
                stop_process(process)
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output
        assert 'Received Store Response (Success)' in output, output
    for name in names:
        # storescu may convert to a syntax it prefers among those we accepted
        assert_same(samples[name], storage_dir / samples[name].stored_name, same_syntax=False)


# --- our ClientAE -> storescp --------------------------------------------------------------------


@pytest.mark.parametrize('name', SAMPLE_NAMES)
def test_client_ae_to_storescp(name, dcmtk, free_port, sample_of, assert_same, tmp_path):
    """Our ClientAE proposes only the file's transfer syntax and streams the file; storescp
    (accepting everything it knows) writes a file holding the same data set."""
    sample = sample_of(name)
    out = tmp_path / 'storescp'
    out.mkdir()
    client = ae.ClientAE('OURSCU', supported_ts=[sample.transfer_syntax])
    client.add_scu(sc.storage_scu, [sample.sop_class_uid])
    port = free_port()
    with dcmtk.server('storescp', '-v', '-aet', DCMTK_SCP_AET, '+xa', '-od', out,
                      port=port) as server:
        with client.request_association(remote(port)) as assoc:
            status = assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
        assert status.is_success, f'{status}\n{server.log()}'
    received = received_by_storescp(out, sample.sop_instance_uid)
    assert_same(sample, received)


def test_client_ae_respects_small_peer_pdu(dcmtk, free_port, sample_of, assert_same, tmp_path):
    """storescp announces a 4 KiB maximum PDU: we fragment the 512 KiB image to fit it."""
    sample = sample_of('large_explicit_le')
    out = tmp_path / 'storescp'
    out.mkdir()
    client = ae.ClientAE('OURSCU').add_scu(sc.storage_scu, [sample.sop_class_uid])
    port = free_port()
    with dcmtk.server('storescp', '-d', '-pdu', 4096, '-aet', DCMTK_SCP_AET, '-od', out,
                      port=port) as server:
        with client.request_association(remote(port)) as assoc:
            status = assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
        assert status.is_success, f'{status}\n{server.log()}'
        log = server.log()
    assert 'PDU too large' not in log and 'E:' not in log, log
    assert_same(sample, received_by_storescp(out, sample.sop_instance_uid))


def test_commands_verify_and_store_to_storescp(dcmtk, free_port, sample_of, assert_same,
                                               tmp_path):
    """The one-liners: verify, store a path, store a Dataset (encoded in what was accepted)."""
    by_path = sample_of('implicit_le')
    by_dataset = sample_of('explicit_le')
    out = tmp_path / 'storescp'
    out.mkdir()
    port = free_port()
    with dcmtk.server('storescp', '-v', '-aet', DCMTK_SCP_AET, '-od', out, port=port) as server:
        verified = commands.verify('OURSCU', remote(port))
        stored_path = commands.store('OURSCU', remote(port), str(by_path.path))
        stored_dataset = commands.store('OURSCU', remote(port), dcmread(by_dataset.path))
        log = server.log()
    assert verified.is_success, f'{verified}\n{log}'
    assert stored_path.is_success, f'{stored_path}\n{log}'
    assert stored_dataset.is_success, f'{stored_dataset}\n{log}'
    names = {p.name.split('.', 1)[1]: p for p in out.iterdir()}
    assert sorted(names) == sorted([by_path.sop_instance_uid, by_dataset.sop_instance_uid])
    # The file's own syntax is proposed first, then explicit and implicit VR little endian;
    # storescp prefers explicit VR little endian, so the file is converted on the way.
    assert_same(by_path, names[by_path.sop_instance_uid], same_syntax=False)
    assert_same(by_dataset, names[by_dataset.sop_instance_uid], same_syntax=False)


# --- refusals ------------------------------------------------------------------------------------


def require_called_aet(scp: ae.AE) -> ae.AE:
    """Make ``scp`` check the called AE title (skip if the library has no such setting)."""
    if not hasattr(scp, 'require_called_aet'):
        pytest.skip('this AE has no require_called_aet setting: no called-title check to test')
    scp.require_called_aet = True
    return scp


def test_echoscu_wrong_called_ae_title_rejected(dcmtk, serve):
    """An AE that requires its title rejects echoscu calling another one: permanent,
    service user, called AE title not recognised (1, 1, 7); the right title gets through."""
    scp = ae.AE(OUR_AET, 0, bind_and_activate=False).add_scp(sc.verification_scp)
    with serve(require_called_aet(scp)) as port:
        wrong = dcmtk.run('echoscu', '-v', '-aec', 'NOTOURS', '127.0.0.1', port)
        right = dcmtk.run('echoscu', '-v', '-aec', OUR_AET, '127.0.0.1', port)
    assert wrong.returncode != 0, wrong.explain()
    assert 'Association Rejected' in wrong.output, wrong.explain()
    assert 'Result: Rejected Permanent, Source: Service User' in wrong.output, wrong.explain()
    assert 'Called AE Title Not Recognized' in wrong.output, wrong.explain()
    assert right.returncode == 0, right.explain()
    assert 'Received Echo Response (Success)' in right.output, right.explain()


def test_echoscu_rejected_by_on_association_request(dcmtk, serve):
    """``on_association_request`` raising AssociationRejectedError(1, 1, 3) reaches echoscu
    as an A-ASSOCIATE-RJ: permanent, service user, calling AE title not recognised."""

    class Picky(ae.AE):
        def on_association_request(self, asce, rq):
            if rq.calling_ae_title != 'FRIEND':
                raise exceptions.AssociationRejectedError(1, 1, 3)

    scp = Picky(OUR_AET, 0, bind_and_activate=False).add_scp(sc.verification_scp)
    with serve(scp) as port:
        stranger = dcmtk.run('echoscu', '-v', '-aet', 'STRANGER', '-aec', OUR_AET,
                             '127.0.0.1', port)
        friend = dcmtk.run('echoscu', '-v', '-aet', 'FRIEND', '-aec', OUR_AET,
                           '127.0.0.1', port)
    assert stranger.returncode != 0, stranger.explain()
    assert 'Association Rejected' in stranger.output, stranger.explain()
    assert 'Result: Rejected Permanent, Source: Service User' in stranger.output
    assert 'Calling AE Title Not Recognized' in stranger.output, stranger.explain()
    assert friend.returncode == 0, friend.explain()


def test_client_ae_unknown_sop_class_refused_by_storescp(dcmtk, free_port):
    """storescp refuses a SOP class it does not know: get_scu raises ClassNotSupportedError;
    the verification context on the same association still works."""
    unknown = '1.2.826.0.1.3680043.8.498.999.1'
    client = ae.ClientAE('OURSCU').add_scu(sc.verification_scu)
    client.add_scu(sc.storage_scu, [unknown])
    port = free_port()
    with dcmtk.server('storescp', '-v', '-aet', DCMTK_SCP_AET, '--ignore', port=port):
        with client.request_association(remote(port)) as assoc:
            with pytest.raises(exceptions.ClassNotSupportedError):
                assoc.get_scu(unknown)
            assert assoc.get_scu(uids.VERIFICATION_SOP_CLASS)(1).is_success


def test_storescu_unsupported_sop_class(dcmtk, serve, sample_of):
    """An AE serving only verification answers the CT context with result 3 (abstract syntax
    not supported); storescu has nothing to send on and gives up."""
    sample = sample_of('implicit_le')
    scp = ae.AE(OUR_AET, 0, bind_and_activate=False).add_scp(sc.verification_scp)
    with serve(scp) as port:
        done = dcmtk.run('storescu', '+v', *storescu_args('implicit_le'), '127.0.0.1', port,
                         sample.path)
    assert done.returncode != 0, done.explain()
    assert '(Abstract Syntax Not Supported)' in done.output, done.explain()
    assert 'Received Store Response' not in done.output, done.explain()


def test_storescu_unsupported_transfer_syntax(dcmtk, serve, sample_of, tmp_path):
    """We accept only Explicit VR Big Endian; storescu proposes only Implicit VR LE: no
    acceptable presentation context, nothing stored."""
    sample = sample_of('implicit_le')
    storage_dir = tmp_path / 'received'
    storage_dir.mkdir()
    with serve(storage_ae(storage_dir, [ExplicitVRBigEndian])) as port:
        done = dcmtk.run('storescu', '+v', *storescu_args('implicit_le'), '-xi', '127.0.0.1',
                         port, sample.path)
    assert done.returncode != 0, done.explain()
    assert '(Transfer Syntaxes Not Supported)' in done.output, done.explain()
    assert 'Received Store Response' not in done.output, done.explain()
    assert list(storage_dir.iterdir()) == []


def test_client_ae_unsupported_transfer_syntax_refused_by_storescp(dcmtk, free_port, sample_of):
    """storescp (default: uncompressed only) refuses a JPEG-only proposal: our store fails with
    a clear error rather than sending a data set in a syntax nobody accepted."""
    sample = sample_of('jpeg_baseline')
    client = ae.ClientAE('OURSCU', supported_ts=[sample.transfer_syntax])
    client.add_scu(sc.verification_scu).add_scu(sc.storage_scu, [sample.sop_class_uid])
    port = free_port()
    with dcmtk.server('storescp', '-v', '-aet', DCMTK_SCP_AET, '--ignore', port=port):
        with client.request_association(remote(port)) as assoc:
            with pytest.raises(exceptions.ClassNotSupportedError):
                assoc.get_scu(sample.sop_class_uid)


def test_client_ae_file_in_wrong_syntax_is_refused(dcmtk, free_port, sample_of, tmp_path,
                                                   monkeypatch):
    """storage_scu(path) never sends a file in a transfer syntax other than the accepted one:
    a JPEG file on an Implicit-VR-only association raises (no conversion from a compressed
    syntax), and storescp stores nothing. (Uncompressed files are converted on the way:
    tests/interop/test_dcmtk_conversion.py; decoded JPEG there too, with the codecs extra:
    here, as without it.)"""
    monkeypatch.setattr(pixelcodecs, 'can_decompress', lambda *_args: False)
    sample = sample_of('jpeg_baseline')
    out = tmp_path / 'storescp'
    out.mkdir()
    client = ae.ClientAE('OURSCU', supported_ts=[ImplicitVRLittleEndian])
    client.add_scu(sc.storage_scu, [sample.sop_class_uid])
    port = free_port()
    with dcmtk.server('storescp', '-v', '-aet', DCMTK_SCP_AET, '-od', out, port=port):
        with client.request_association(remote(port)) as assoc:
            with pytest.raises(exceptions.NetDICOMError):
                assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
    assert list(out.iterdir()) == []


# --- even fragments (PS3.8 E.1) ------------------------------------------------------------------


def _odd_deflated_stream() -> tuple[Dataset, bytes]:
    """A data set whose raw deflated stream (PS3.5 A.5, before any pad) has an odd length."""
    for length in range(1, 200):
        ds = make_image(CT_IMAGE_STORAGE, 8, 8, 16, False)
        ds.StudyDescription = 'x' * length
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
        stream = compressor.compress(dsutils.encode(ds, False, True)) + compressor.flush()
        if len(stream) % 2:
            return ds, stream
    raise AssertionError('no odd deflated stream found')


def test_an_odd_deflated_data_set_to_storescp(dcmtk, free_port, tmp_path):
    """A deflated data set of odd length is padded (PS3.5 A.5): storescp +xd takes it, from a
    Dataset and from a Part-10 file whose deflated body another writer left odd."""
    ds, _ = _odd_deflated_stream()
    in_file, stream = _odd_deflated_stream()
    path = tmp_path / 'odd-deflated.dcm'
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = in_file.SOPClassUID
    meta.MediaStorageSOPInstanceUID = in_file.SOPInstanceUID
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    with open(path, 'wb') as fp:
        fp.write(b'\0' * 128 + b'DICM')
        write_file_meta_info(fp, meta, enforce_standard=True)
        fp.write(stream)
    out = tmp_path / 'storescp'
    out.mkdir()
    client = ae.ClientAE('OURSCU', supported_ts=[DeflatedExplicitVRLittleEndian])
    client.add_scu(sc.storage_scu, [CT_IMAGE_STORAGE])
    port = free_port()
    with dcmtk.server('storescp', '-d', '+xd', '-aet', DCMTK_SCP_AET, '-od', out,
                      port=port) as server:
        with client.request_association(remote(port)) as assoc:
            store = assoc.get_scu(CT_IMAGE_STORAGE)
            from_dataset = store(ds, 1)
            from_file = store(str(path), 2)
        log = server.log()
    assert from_dataset.is_success and from_file.is_success, log
    assert 'Odd Fragment' not in log and 'E:' not in log, log
    for sent in (ds, in_file):
        [received] = [p for p in out.iterdir() if p.name.endswith(sent.SOPInstanceUID)]
        got = dcmread(received)
        assert got.StudyDescription == sent.StudyDescription
        assert got.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian


class OddMaximumProxy:
    """A TCP relay to a DCMTK server that rewrites the Maximum Length (PS3.8 D.1) in its
    A-ASSOCIATE-AC to an odd ``maximum``: DCMTK itself announces only even lengths, and an
    odd one is what cut our fragments odd (PS3.8 E.1 wants them even)."""

    def __init__(self, server_port: int, maximum: int, connections: int = 1) -> None:
        self.server_port = server_port
        self.maximum = maximum
        self.connections = connections
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.listener.settimeout(PEER_TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.threads: list[threading.Thread] = []

    def __enter__(self) -> OddMaximumProxy:
        accepting = threading.Thread(target=self._serve, name='test-odd-max-proxy')
        self.threads.append(accepting)
        accepting.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.listener.close()
        for thread in self.threads:
            thread.join(PEER_TIMEOUT)

    def _serve(self) -> None:
        for _ in range(self.connections):
            self._serve_one()

    def _serve_one(self) -> None:
        client, _ = self.listener.accept()
        server = socket.create_connection(('127.0.0.1', self.server_port), timeout=PEER_TIMEOUT)
        for end in (client, server):
            end.settimeout(PEER_TIMEOUT)
        upstream = threading.Thread(target=self._relay, args=(client, server, False),
                                    name='test-odd-max-proxy-up')
        self.threads.append(upstream)
        upstream.start()
        self._relay(server, client, True)
        upstream.join(PEER_TIMEOUT)
        client.close()
        server.close()

    def _relay(self, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        first = from_server
        with contextlib.suppress(OSError):
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if first and data[0] == 0x02:  # the A-ASSOCIATE-AC (one recv on loopback)
                    data = self._rewrite(data)
                first = False
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _rewrite(self, ac: bytes) -> bytes:
        at = ac.find(bytes((0x51, 0, 0, 4)))
        assert at > 0, ac
        return ac[:at + 4] + struct.pack('>I', self.maximum) + ac[at + 8:]


def test_fragments_for_an_odd_maximum_length_to_storescp(dcmtk, free_port, sample_of,
                                                         assert_same, tmp_path):
    """storescp announcing an odd maximum PDU length: our fragments stay even (one byte less
    than the maximum allows), for a file and for a deflated data set."""
    sample = sample_of('large_explicit_le')
    ds, _ = _odd_deflated_stream()
    out = tmp_path / 'storescp'
    out.mkdir()
    statuses = []
    port = free_port()
    with dcmtk.server('storescp', '-d', '+xd', '-pdu', 16384, '-aet', DCMTK_SCP_AET, '-od',
                      out, port=port) as server, OddMaximumProxy(port, 16383, 2) as proxy:
        for syntax, source in ((sample.transfer_syntax, str(sample.path)),
                               (DeflatedExplicitVRLittleEndian, ds)):
            client = ae.ClientAE('OURSCU', supported_ts=[syntax])
            client.add_scu(sc.storage_scu, [sample.sop_class_uid])
            with client.request_association(remote(proxy.port)) as assoc:
                assert assoc.peer_max_pdu_length == 16383
                statuses.append(assoc.get_scu(sample.sop_class_uid)(source, 1))
        log = server.log()
    from_file, from_dataset = statuses
    assert from_file.is_success and from_dataset.is_success, log
    assert 'Odd Fragment' not in log and 'E:' not in log, log
    by_name = {p.name.split('.', 1)[1]: p for p in out.iterdir()}
    assert_same(sample, by_name[sample.sop_instance_uid])
    assert dcmread(by_name[ds.SOPInstanceUID]).StudyDescription == ds.StudyDescription
