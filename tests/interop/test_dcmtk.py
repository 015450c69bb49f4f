"""pynetdicom2 against DCMTK 3.6: its SCUs against our AEs, our ClientAE against its storescp.

Directions covered:

* ``echoscu`` -> our AE: C-ECHO (several on one association; an abort in between);
* ``storescu`` -> our ``StorageAE``: every sample transfer syntax, each accepted alone so
  storescu has to send the file as it is; the received ``<SOPInstanceUID>.dcm`` must hold the
  same data set, element by element, pixel data byte for byte; also all samples on one
  association to ``commands.storage`` and several storescu processes at once;
* our ``ClientAE`` -> ``storescp``: the same samples; storescp rewrites the file meta, so data
  sets are compared without group 0002;
* refusals: a rejected association (called AE title, ``on_association_request``), an
  unsupported SOP class and an unsupported transfer syntax, in both directions.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import commands, exceptions, uids
from pynetdicom2 import sopclass as sc

from .conftest import PEER_TIMEOUT, SAMPLE_NAMES, dcmtk_environment, stop_process

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
    assert_same(by_path, names[by_path.sop_instance_uid])
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


def test_client_ae_file_in_wrong_syntax_is_refused(dcmtk, free_port, sample_of, tmp_path):
    """storage_scu(path) never sends a file in a transfer syntax other than the accepted one:
    an Implicit VR file on an Explicit-VR-only association raises, and storescp stores
    nothing."""
    sample = sample_of('implicit_le')
    out = tmp_path / 'storescp'
    out.mkdir()
    client = ae.ClientAE('OURSCU', supported_ts=[ExplicitVRBigEndian])
    client.add_scu(sc.storage_scu, [sample.sop_class_uid])
    assert sample.transfer_syntax == ImplicitVRLittleEndian
    port = free_port()
    with dcmtk.server('storescp', '-v', '-aet', DCMTK_SCP_AET, '-od', out, port=port):
        with client.request_association(remote(port)) as assoc:
            with pytest.raises(exceptions.NetDICOMError):
                assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
    assert list(out.iterdir()) == []
