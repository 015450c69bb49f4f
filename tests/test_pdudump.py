"""PDU dumps on the ``pynetdicom2.pdu`` logger: descriptions, hex dumps, secrets left out."""

from __future__ import annotations

import logging
import socket

import pytest

import pynetdicom2
from pynetdicom2 import pdu, pdudump, userdataitems
from pynetdicom2.loopback import LoopbackSCP, make_dataset

VERIFICATION = '1.2.840.10008.1.1'
IMPLICIT_LE = '1.2.840.10008.1.2'


def associate_rq(*user_items: object) -> pdu.AAssociateRqPDU:
    return pdu.AAssociateRqPDU('CALLED', 'CALLING', [
        pdu.ApplicationContextItem('1.2.840.10008.3.1.1.1'),
        pdu.PresentationContextItemRQ(1, pdu.AbstractSyntaxSubItem(VERIFICATION),
                                      [pdu.TransferSyntaxSubItem(IMPLICIT_LE)]),
        pdu.UserInformationItem([userdataitems.MaximumLengthSubItem(16384), *user_items]),
    ])


def test_associate_rq_names_its_uids_and_roles():
    lines = pdudump.describe(associate_rq(
        userdataitems.ScpScuRoleSelectionSubItem('1.2.840.10008.5.1.4.1.1.2', 0, 1),
        userdataitems.AsynchronousOperationsWindowSubItem(1, 1)))
    assert lines == [
        "called AE title 'CALLED', calling AE title 'CALLING', protocol version 1",
        'application context 1.2.840.10008.3.1.1.1',
        'presentation context 1: Verification SOP Class (1.2.840.10008.1.1)',
        '  transfer syntax Implicit VR Little Endian (1.2.840.10008.1.2)',
        'maximum length received 16384',
        'role selection CT Image Storage (1.2.840.10008.5.1.4.1.1.2): SCU 0, SCP 1',
        'asynchronous operations window: invoked 1, performed 1',
    ]


def test_associate_ac_shows_each_result():
    ac = pdu.AAssociateAcPDU('CALLED', 'CALLING', [
        pdu.ApplicationContextItem('1.2.840.10008.3.1.1.1'),
        pdu.PresentationContextItemAC(1, 0, pdu.TransferSyntaxSubItem(IMPLICIT_LE)),
        pdu.PresentationContextItemAC(3, 3, None),
        pdu.UserInformationItem([userdataitems.UserIdentityNegotiationSubItemAc(b'ticket')]),
    ])
    lines = pdudump.describe(ac)
    assert ('presentation context 1: result 0 (acceptance), Implicit VR Little Endian '
            '(1.2.840.10008.1.2)') in lines
    assert 'presentation context 3: result 3 (abstract syntax not supported)' in lines
    assert 'user identity server response (6 bytes, not shown)' in lines
    assert 'ticket' not in '\n'.join(lines)


@pytest.mark.parametrize(('rj', 'text'), [
    (pdu.AAssociateRjPDU(1, 1, 7), 'result 1 (rejected permanent), source 1 (service user), '
                                   'reason 7 (called AE title not recognized)'),
    (pdu.AAssociateRjPDU(2, 3, 2), 'result 2 (rejected transient), source 3 (service provider '
                                   '(presentation)), reason 2 (local limit exceeded)'),
    (pdu.AAbortPDU(0, 0), 'source 0 (service user)'),
    (pdu.AAbortPDU(2, 2), 'source 2 (service provider), reason 2 (unexpected PDU)'),
])
def test_rejections_and_aborts_are_spelled_out(rj, text):
    assert pdudump.describe(rj) == [text]


def test_pdata_lists_its_pdvs():
    pdata = pdu.PDataTfPDU([pdu.PresentationDataValueItem(1, b'\x03' + b'c' * 10),
                            pdu.PresentationDataValueItem(1, b'\x00' + b'd' * 20)])
    assert pdudump.describe(pdata) == [
        'PDV presentation context 1: command, last fragment, 10 bytes',
        'PDV presentation context 1: data set, more fragments follow, 20 bytes',
    ]


def test_hexdump_rows_and_limit():
    rows = pdudump.hexdump(bytes(range(40)), limit=32)
    assert rows == [
        '0000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|',
        '0010  10 11 12 13 14 15 16 17  18 19 1a 1b 1c 1d 1e 1f  |................|',
        '... 8 more bytes',
    ]
    assert pdudump.hexdump(b'DICM')[0] == f"0000  {'44 49 43 4d':<48}  |DICM|"


def test_large_pdata_is_dumped_from_its_first_bytes_only(caplog):
    payload = b'\x00' + bytes(1 << 20)
    pdata = pdu.PDataTfPDU([pdu.PresentationDataValueItem(1, payload)])
    with caplog.at_level(logging.DEBUG, logger='pynetdicom2.pdu'):
        pdudump.log_pdu('test', 'sent', pdata)
    text = caplog.records[0].getMessage()
    assert text.startswith(f'test: sent P-DATA-TF, {pdata.total_length()} bytes')
    assert text.endswith(f'... {pdata.total_length() - pdudump.HEXDUMP_LIMIT} more bytes')


def dumps(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == 'pynetdicom2.pdu']


def test_an_association_is_dumped_both_ways(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, logger='pynetdicom2.pdu'), LoopbackSCP(tmp_path) as scp:
        assert pynetdicom2.store('DUMPER', scp.remote, make_dataset()).is_success
    firsts = [text.split('\n')[0].split(': ', 1)[1] for text in dumps(caplog)]
    for kind in ('A-ASSOCIATE-RQ', 'A-ASSOCIATE-AC', 'P-DATA-TF', 'A-RELEASE-RQ',
                 'A-RELEASE-RP'):
        assert any(first.startswith(f'sent {kind},') for first in firsts), kind
        assert any(first.startswith(f'received {kind},') for first in firsts), kind
    assert any('CT Image Storage' in text for text in dumps(caplog))


def test_no_secret_reaches_the_log(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, logger='pynetdicom2'), LoopbackSCP(tmp_path) as scp:
        remote = {'aet': scp.ae_title, 'address': scp.address, 'port': scp.port,
                  'username': 'alice', 'password': 'pass-word-42'}
        assert pynetdicom2.verify('DUMPER', remote).is_success
    text = '\n'.join(r.getMessage() for r in caplog.records)
    assert 'user identity type 2 (username and passcode)' in text
    assert 'pass-word-42' not in text
    assert b'pass-word-42'.hex(' ')[:20] not in text
    assert '(no hex dump: the PDU carries a user identity)' in text


def test_an_undecodable_pdu_is_dumped(tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, logger='pynetdicom2.pdu'), LoopbackSCP(tmp_path) as scp:
        with socket.create_connection((scp.address, scp.port), timeout=5) as peer:
            peer.sendall(b'\x01\x00\x00\x00\x00\x04JUNK')  # an A-ASSOCIATE-RQ of 4 bytes
            peer.settimeout(5)
            assert peer.recv(64)[:1] == b'\x07'  # A-ABORT
    assert any('received an undecodable PDU, 10 bytes' in text and '|......JUNK|' in text
               for text in dumps(caplog))


def test_nothing_is_logged_when_the_logger_is_off(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger='pynetdicom2'), LoopbackSCP(tmp_path) as scp:
        assert pynetdicom2.verify('DUMPER', scp.remote).is_success
    assert dumps(caplog) == []
