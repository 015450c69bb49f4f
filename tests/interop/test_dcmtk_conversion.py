"""Sending to a peer that accepts another transfer syntax than the file's: our ClientAE
converts as it streams (pynetdicom2.transcode), DCMTK's storescp receives.

``storescp +xi`` accepts Implicit VR Little Endian only; for any other single syntax,
``storescp -xf FILE PROFILE`` with a profile of that one syntax (``+xe``/``+xb`` only state a
preference). Each received file is compared with the source element by element, pixel data
byte for byte (swapped where the byte order changed).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from pynetdicom2 import applicationentity as ae
from pynetdicom2 import apps, commands, pixelcodecs
from pynetdicom2 import sopclass as sc
from pynetdicom2.app_storescp import syntax_policy
from pynetdicom2.exceptions import NetDICOMError

DCMTK_SCP_AET = 'STORESCP'

#: DCMTK's names of the uncompressed syntaxes in a storescp configuration file.
DCMTK_NAMES = {
    ImplicitVRLittleEndian: 'LittleEndianImplicit',
    ExplicitVRLittleEndian: 'LittleEndianExplicit',
    ExplicitVRBigEndian: 'BigEndianExplicit',
    DeflatedExplicitVRLittleEndian: 'DeflatedLittleEndianExplicit',
}


def remote(port: int) -> dict:
    return {'aet': DCMTK_SCP_AET, 'address': '127.0.0.1', 'port': port}


def one_syntax_profile(directory: Path, syntax: str) -> list[str]:
    """storescp arguments for a profile accepting CT and MR images in ``syntax`` only."""
    config = directory / 'one-syntax.cfg'
    config.write_text(
        '[[TransferSyntaxes]]\n[Only]\nTransferSyntax1 = ' + DCMTK_NAMES[syntax] + '\n'
        '[[PresentationContexts]]\n[Contexts]\n'
        'PresentationContext1 = CTImageStorage\\Only\n'
        'PresentationContext2 = MRImageStorage\\Only\n'
        '[[Profiles]]\n[OneSyntax]\nPresentationContexts = Contexts\n'
    )
    return ['-xf', str(config), 'OneSyntax']


def received(out: Path, sop_instance_uid: str) -> Path:
    (path,) = [p for p in out.iterdir() if p.name.endswith(sop_instance_uid)]
    return path


@pytest.mark.parametrize('target', [ImplicitVRLittleEndian, ExplicitVRLittleEndian,
                                    ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian])
@pytest.mark.parametrize('name', ['implicit_le', 'explicit_le', 'explicit_be', 'deflated'])
def test_a_file_is_converted_to_the_one_syntax_storescp_accepts(
        name, target, dcmtk, free_port, sample_of, assert_same, tmp_path):
    sample = sample_of(name)
    out = tmp_path / 'storescp'
    out.mkdir()
    args = ['+xi'] if target == ImplicitVRLittleEndian else one_syntax_profile(tmp_path, target)
    client = ae.ClientAE('OURSCU', supported_ts=[sample.transfer_syntax, target])
    client.add_scu(sc.storage_scu, [sample.sop_class_uid])
    port = free_port()
    with dcmtk.server('storescp', '-v', '-aet', DCMTK_SCP_AET, *args, '-od', out,
                      port=port) as server:
        with client.request_association(remote(port)) as assoc:
            pc_id, accepted = assoc.sop_classes_as_scu[sample.sop_class_uid]
            assert accepted == target
            status = assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
        assert status.is_success, f'{status}\n{server.log()}'
    actual = assert_same(sample, received(out, sample.sop_instance_uid), same_syntax=False)
    assert actual.file_meta.TransferSyntaxUID == target


def test_commands_store_proposes_conversions_and_storescp_xi_gets_implicit(
        dcmtk, free_port, sample_of, assert_same, tmp_path):
    """The one-liner proposes the file's own syntax, then explicit and implicit VR LE."""
    sample = sample_of('explicit_le')
    out = tmp_path / 'storescp'
    out.mkdir()
    port = free_port()
    with dcmtk.server('storescp', '-aet', DCMTK_SCP_AET, '+xi', '-od', out, port=port) as server:
        status = commands.store('OURSCU', remote(port), str(sample.path))
        assert status.is_success, f'{status}\n{server.log()}'
    actual = assert_same(sample, received(out, sample.sop_instance_uid), same_syntax=False)
    assert actual.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian


def test_a_compressed_file_without_a_decoder_is_named_in_a_clear_error(
        dcmtk, free_port, sample_of, tmp_path, monkeypatch):
    """As without the codecs extra (or on pydicom 2): no decoder for JPEG Baseline."""
    monkeypatch.setattr(pixelcodecs, 'can_decompress', lambda *_args: False)
    sample = sample_of('jpeg_baseline')
    out = tmp_path / 'storescp'
    out.mkdir()
    client = ae.ClientAE('OURSCU', supported_ts=[ImplicitVRLittleEndian])
    client.add_scu(sc.storage_scu, [sample.sop_class_uid])
    port = free_port()
    with dcmtk.server('storescp', '-aet', DCMTK_SCP_AET, '+xi', '-od', out, port=port):
        with client.request_association(remote(port)) as assoc:
            with pytest.raises(NetDICOMError) as raised:
                assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
            # the association goes on: nothing was sent
            assert assoc.association_established
    message = str(raised.value)
    assert str(sample.path) in message and 'JPEG Baseline' in message
    assert 'Implicit VR Little Endian' in message
    assert list(out.iterdir()) == []


@pytest.mark.skipif(not pixelcodecs.can_decompress(JPEGBaseline8Bit),
                    reason="no JPEG decoder here (pip install 'pynetdicom2[codecs]', Python "
                           '3.10 or later with pydicom 3)')
@pytest.mark.parametrize('how', ['store', 'client'])
def test_a_compressed_file_is_decoded_for_a_peer_that_takes_only_uncompressed(
        how, dcmtk, free_port, sample_of, tmp_path):
    """commands.store proposes JPEG and, apart, the uncompressed syntaxes: storescp +xi takes
    implicit VR only, so the pixel data is decoded (pydicom 3's decoders) and sent so."""
    sample = sample_of('jpeg_baseline')
    out = tmp_path / 'storescp'
    out.mkdir()
    port = free_port()
    with dcmtk.server('storescp', '-aet', DCMTK_SCP_AET, '+xi', '-od', out, port=port) as server:
        if how == 'store':
            status = commands.store('OURSCU', remote(port), str(sample.path))
        else:
            client = ae.ClientAE('OURSCU', supported_ts=[ImplicitVRLittleEndian])
            client.add_scu(sc.storage_scu, [sample.sop_class_uid])
            with client.request_association(remote(port)) as assoc:
                status = assoc.get_scu(sample.sop_class_uid)(str(sample.path), 1)
        assert status.is_success, f'{status}\n{server.log()}'
    got = dcmread(received(out, sample.sop_instance_uid))
    source = dcmread(sample.path)
    assert got.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert got.SOPInstanceUID == source.SOPInstanceUID  # the same instance, decoded
    assert (got.Rows, got.Columns, got.PatientID) == (source.Rows, source.Columns,
                                                      source.PatientID)
    assert (got.pixel_array == source.pixel_array).all()


# --- the receiving side: storescp's preference flags, DCMTK storescu as the sender ------------


@pytest.mark.parametrize(('flag', 'expected'), [
    ('+xi', ImplicitVRLittleEndian),
    ('+xb', ExplicitVRBigEndian),
    ('+xe', ExplicitVRLittleEndian),
    ('+xa', ExplicitVRBigEndian),  # the requester's order: storescu -xb proposes BE first
])
def test_our_storescp_preference_flags_choose_what_storescu_sends(
        flag, expected, dcmtk, serve, sample_of, assert_same, tmp_path):
    """DCMTK's storescu proposes one combined context (+C, big endian first with -xb); what
    our SCP accepts, by the flag's policy (app_storescp.syntax_policy), is what arrives."""
    sample = sample_of('explicit_le')
    accepted, preference = syntax_policy(flag)
    scp = ae.StorageAE(tmp_path / 'in', DCMTK_SCP_AET, 0, accepted, bind_and_activate=False)
    scp.add_scp(sc.storage_scp)
    scp.transfer_syntax_preference = preference
    with serve(scp) as port:
        sent = dcmtk.run('storescu', '-v', '-R', '+C', '-xb', '-aec', DCMTK_SCP_AET,
                         '127.0.0.1', port, sample.path)
    assert sent.returncode == 0, sent.explain()
    actual = assert_same(sample, tmp_path / 'in' / sample.stored_name, same_syntax=False)
    assert actual.file_meta.TransferSyntaxUID == expected


# --- our storescu's proposal flags, DCMTK's storescp receiving ----------------------------------


@pytest.mark.parametrize(('flags', 'scp_flags', 'expected'), [
    ([], ['+xi'], ImplicitVRLittleEndian),        # default proposal, converted for +xi
    (['-xi'], [], ImplicitVRLittleEndian),        # implicit only, whatever storescp prefers
    (['-xb'], 'big endian only', ExplicitVRBigEndian),    # -xb proposes big endian too
    (['-xd'], 'deflated only', DeflatedExplicitVRLittleEndian),
])
def test_our_storescu_proposal_flags(flags, scp_flags, expected, dcmtk, free_port, sample_of,
                                     assert_same, tmp_path):
    sample = sample_of('explicit_le')
    out = tmp_path / 'storescp'
    out.mkdir()
    if isinstance(scp_flags, str):  # a one-syntax profile
        scp_flags = one_syntax_profile(tmp_path, expected)
    port = free_port()
    with dcmtk.server('storescp', '-aet', DCMTK_SCP_AET, *scp_flags, '-od', out,
                      port=port) as server:
        code = apps.storescu([*flags, '-aec', DCMTK_SCP_AET, '127.0.0.1', str(port),
                              str(sample.path)])
        assert code == 0, server.log()
    actual = assert_same(sample, received(out, sample.sop_instance_uid), same_syntax=False)
    assert actual.file_meta.TransferSyntaxUID == expected


def test_our_storescu_default_proposal_does_not_reach_a_big_endian_only_peer(
        dcmtk, free_port, sample_of, tmp_path, capsys):
    """Without -xb big endian is not proposed: the file is reported, not stored."""
    sample = sample_of('explicit_le')
    out = tmp_path / 'storescp'
    out.mkdir()
    port = free_port()
    with dcmtk.server('storescp', '-aet', DCMTK_SCP_AET,
                      *one_syntax_profile(tmp_path, ExplicitVRBigEndian), '-od', out, port=port):
        code = apps.storescu(['-aec', DCMTK_SCP_AET, '127.0.0.1', str(port), str(sample.path)])
    assert code != 0
    assert list(out.iterdir()) == []


@pytest.mark.skipif(not pixelcodecs.can_compress(ExplicitVRLittleEndian, '1.2.840.10008.1.2.5'),
                    reason="no RLE encoder here (pip install 'pynetdicom2[codecs]', Python "
                           '3.10 or later with pydicom 3)')
def test_our_storescu_xr_compresses_losslessly_for_a_storescp_preferring_rle(
        dcmtk, free_port, sample_of, tmp_path):
    sample = sample_of('explicit_le')
    out = tmp_path / 'storescp'
    out.mkdir()
    port = free_port()
    with dcmtk.server('storescp', '-aet', DCMTK_SCP_AET, '+xr', '-od', out,
                      port=port) as server:
        code = apps.storescu(['-xr', '-aec', DCMTK_SCP_AET, '127.0.0.1', str(port),
                              str(sample.path)])
        assert code == 0, server.log()
    got = dcmread(received(out, sample.sop_instance_uid))
    assert got.file_meta.TransferSyntaxUID == '1.2.840.10008.1.2.5'
    assert got.SOPInstanceUID == sample.sop_instance_uid
    assert (got.pixel_array == dcmread(sample.path).pixel_array).all()


# DCMTK's lossless encoders, and the syntaxes they write.
DCMTK_ENCODERS = {
    'dcmcrle': ('1.2.840.10008.1.2.5', []),
    'dcmcjpls': ('1.2.840.10008.1.2.4.80', []),
}


@pytest.mark.parametrize('encoder', sorted(DCMTK_ENCODERS))
def test_a_file_dcmtk_compressed_is_decoded_for_storescp_xi(
        encoder, dcmtk, free_port, sample_of, tmp_path):
    syntax, args = DCMTK_ENCODERS[encoder]
    if not pixelcodecs.can_decompress(syntax, ImplicitVRLittleEndian):
        pytest.skip(f"no decoder for {syntax} here (pip install 'pynetdicom2[codecs]')")
    dcmtk.require(encoder)
    sample = sample_of('explicit_le')
    compressed = tmp_path / f'{encoder}.dcm'
    made = dcmtk.run(encoder, *args, sample.path, compressed)
    assert made.returncode == 0, made.explain()
    out = tmp_path / 'storescp'
    out.mkdir()
    port = free_port()
    with dcmtk.server('storescp', '-aet', DCMTK_SCP_AET, '+xi', '-od', out, port=port) as server:
        status = commands.store('OURSCU', remote(port), str(compressed))
        assert status.is_success, f'{status}\n{server.log()}'
    got = dcmread(received(out, sample.sop_instance_uid))
    assert got.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert (got.pixel_array == dcmread(sample.path).pixel_array).all()  # lossless both ways


@pytest.mark.parametrize(('flag', 'scp_flag', 'syntax'), [
    ('-xt', '+xt', '1.2.840.10008.1.2.4.80'),
    ('-xv', '+xv', '1.2.840.10008.1.2.4.90'),
])
def test_our_storescu_compresses_losslessly_on_request(
        flag, scp_flag, syntax, dcmtk, free_port, sample_of, tmp_path):
    if not pixelcodecs.can_compress(ExplicitVRLittleEndian, syntax):
        pytest.skip(f"no encoder for {syntax} here (pip install 'pynetdicom2[codecs]')")
    sample = sample_of('explicit_le')
    out = tmp_path / 'storescp'
    out.mkdir()
    port = free_port()
    with dcmtk.server('storescp', '-aet', DCMTK_SCP_AET, scp_flag, '-od', out,
                      port=port) as server:
        code = apps.storescu([flag, '-aec', DCMTK_SCP_AET, '127.0.0.1', str(port),
                              str(sample.path)])
        assert code == 0, server.log()
    got = dcmread(received(out, sample.sop_instance_uid))
    assert got.file_meta.TransferSyntaxUID == syntax
    assert (got.pixel_array == dcmread(sample.path).pixel_array).all()
