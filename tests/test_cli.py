"""The ``python -m pynetdicom2`` command line (:mod:`pynetdicom2.cli`); fixtures from our plugin.

Checked: the original's Args defaults, the parser of every subcommand (move with
``--dest_aet``), ``--attr`` parsing and conversion, each command end to end against the
loopback SCP of the pytest plugin (``dicom_scp``), and the one-line errors (refused
connection, rejected association, unknown attribute, unreadable file) with the traceback only
under ``-d``.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys

import pytest
from pydicom.dataset import Dataset

from pynetdicom2 import cli, commands, toolsupport, uids
from pynetdicom2.asceprovider import RemoteAEConfig
from pynetdicom2.exceptions import AssociationRejectedError
from pynetdicom2.loopback import make_study, write_dataset


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def conn(scp, aet=None) -> list[str]:
    return ['--aet', aet or scp.ae_title, '--address', scp.address, '--port', str(scp.port)]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """main(argv): (exit code, stdout, stderr)."""
    try:
        cli.main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


# --- the original's Args and parser --------------------------------------------------------------


def test_args_fields_and_defaults():
    defaults = dataclasses.asdict(cli.Args())
    expected = {
        'func': None, 'local_aet': 'PYNETDICOM2', 'aet': 'AET', 'address': '127.0.0.1',
        'port': 104, 'username': None, 'password': None, 'kerberos': None, 'saml': None,
        'jwt': None, 'file_or_dir': '', 'root': 'study', 'level': 'study',
        'encoding': 'ISO_IR 192', 'attr': [], 'local_port': None, 'storage_dir': None,
        'dest_aet': 'PYNETDICOM2',
    }
    assert {name: defaults[name] for name in expected} == expected
    assert cli.Args().attr is not cli.Args().attr


@pytest.mark.parametrize('command, func', [
    ('verify', cli.verify), ('find', cli.find), ('move', cli.move), ('get', cli.get),
])
def test_each_subcommand_parses_connection_parameters(command, func):
    args = cli.parse_args(cli.get_parser(), [
        command, '--aet', 'PACS', '--address', '10.0.0.5', '--port', '11112',
        '--local_aet', 'ME', '--username', 'u', '--password', 'p',
    ])
    assert args.func is func
    assert (args.aet, args.address, args.port, args.local_aet) == ('PACS', '10.0.0.5', 11112, 'ME')
    assert cli._args_to_remote_ae(args) == RemoteAEConfig(
        'PACS', '10.0.0.5', 11112, username='u', password='p'
    )


def test_move_takes_a_destination_and_query_options():
    args = cli.parse_args(cli.get_parser(), [
        'move', '--aet', 'PACS', '--address', 'h', '--port', '1', '--dest_aet', 'WS1',
        '--local_port', '11113', '--storage_dir', 'in', '--root', 'patient', '--level',
        'series', '--attr', 'PatientID=1', '--attr', 'SeriesInstanceUID=', '--encoding',
        'ISO_IR 100',
    ])
    assert (args.dest_aet, args.local_port, args.storage_dir) == ('WS1', 11113, 'in')
    assert (args.root, args.level, args.encoding) == ('patient', 'series', 'ISO_IR 100')
    assert args.attr == ['PatientID=1', 'SeriesInstanceUID=']


def test_store_requires_file_or_dir(capsys):
    code, _, err = run(capsys, 'store', '--aet', 'A', '--address', 'h', '--port', '1')
    assert code == 2 and '--file_or_dir' in err


def test_no_subcommand_prints_help_and_exits_1(capsys):
    code, out, _ = run(capsys)
    assert code == 1
    assert 'verify' in out and 'demo' in out


# --- attributes ---------------------------------------------------------------------------------


def test_convert_tag():
    assert toolsupport.convert_tag('00100010') == 0x00100010
    assert toolsupport.convert_tag('0010,0020') == 0x00100020
    assert toolsupport.convert_tag('(0020,000D)') == 0x0020000D
    assert toolsupport.convert_tag('PatientName') == 'PatientName'
    with pytest.raises(ValueError, match='unknown attribute'):
        toolsupport.convert_tag('PatientNmae')


def test_convert_value():
    assert toolsupport.convert_value('PN', '') is None
    assert toolsupport.convert_value('US', '16') == 16
    assert toolsupport.convert_value('IS', '3') == 3
    assert toolsupport.convert_value('FD', '1.5') == 1.5
    assert toolsupport.convert_value('DS', '2') == 2.0
    assert toolsupport.convert_value('DA', '20240101-') == '20240101-'


def test_parse_attrs_splits_on_the_first_equals_sign():
    assert toolsupport.parse_attrs(['PatientName=A=B*', '00100020=', '0020,0011=4']) == [
        (0x00100010, 'PN', 'A=B*'), (0x00100020, 'LO', None), (0x00200011, 'IS', 4),
    ]


@pytest.mark.parametrize('bad', ['PatientName', 'Nonsense=1', '00091001=x', 'SeriesNumber=x'])
def test_parse_attrs_rejects(bad):
    with pytest.raises(ValueError):
        toolsupport.parse_attrs([bad])


def test_find_builds_the_identifier_and_calls_commands_find(monkeypatch, capsys):
    calls = []

    def fake_find(local_aet, remote_ae, request, root):
        calls.append((local_aet, remote_ae, request, root))
        match = Dataset()
        match.PatientName = 'Doe^J'
        yield match

    monkeypatch.setattr(commands, 'find', fake_find)
    code, out, _ = run(capsys, 'find', '--aet', 'PACS', '--address', 'h', '--port', '1',
                       '--root', 'patient', '--level', 'patient', '--attr', 'PatientName=Doe*',
                       '--attr', 'PatientID=')
    assert code == 0 and 'Doe^J' in out
    local_aet, remote, request, root = calls[0]
    assert (local_aet, remote.aet, root) == ('PYNETDICOM2', 'PACS',
                                             uids.PATIENT_ROOT_FIND_SOP_CLASS)
    assert request.QueryRetrieveLevel == 'PATIENT'
    assert request.SpecificCharacterSet == 'ISO_IR 192'
    assert request.PatientName == 'Doe*' and 'PatientID' in request


# --- end to end against the loopback SCP --------------------------------------------------------


def test_verify(capsys, dicom_scp):
    code, out, err = run(capsys, 'verify', *conn(dicom_scp), '--local_aet', 'CLI')
    assert code == 0, err
    assert 'Success' in out
    assert [r.command for r in dicom_scp.requests] == ['C-ECHO']
    assert dicom_scp.associations[0].calling_aet == 'CLI'


def test_store_a_file_then_a_directory(capsys, dicom_scp, tmp_path):
    study = make_study(2, 2, PatientID='P1')
    paths = [write_dataset(ds, tmp_path) for ds in study]
    (tmp_path / 'notes.txt').write_text('not DICOM')
    code, out, err = run(capsys, 'store', *conn(dicom_scp), '--file_or_dir', str(paths[0]))
    assert code == 0, err
    assert 'sent 1, failed 0, skipped 0' in out
    code, out, err = run(capsys, 'store', *conn(dicom_scp), '--file_or_dir', str(tmp_path))
    assert code == 0, err
    assert 'sent 4, failed 0, skipped 1' in out
    assert 'skipped' in out and 'notes.txt' in out
    assert len(dicom_scp.stored_files()) == 4


def test_find_end_to_end(capsys, dicom_scp):
    dicom_scp.add(*make_study(1, 2, PatientID='P1', PatientName='Doe^Jane'))
    dicom_scp.add(*make_study(1, 1, PatientID='P2', PatientName='Roe^Rick'))
    code, out, err = run(capsys, 'find', *conn(dicom_scp), '--attr', 'PatientName=Doe*',
                         '--attr', 'StudyInstanceUID=')
    assert code == 0, err
    assert out.count('Doe^Jane') == 1 and 'Roe' not in out


def test_move_with_dest_aet_and_local_port(capsys, dicom_scp, tmp_path):
    study = make_study(1, 3, PatientID='P1')
    dicom_scp.add(*study)
    port = free_port()
    dicom_scp.destinations['WS1'] = {'aet': 'WS1', 'address': '127.0.0.1', 'port': port}
    code, out, err = run(
        capsys, 'move', *conn(dicom_scp), '--dest_aet', 'WS1', '--local_port', str(port),
        '--storage_dir', str(tmp_path / 'in'),
        '--attr', f'StudyInstanceUID={study[0].StudyInstanceUID}',
    )
    assert code == 0, err
    assert 'completed 3, failed 0' in out
    assert len(list((tmp_path / 'in').glob('*.dcm'))) == 3
    assert dicom_scp.requests[-1].destination == 'WS1'


def test_get(capsys, dicom_scp, tmp_path):
    study = make_study(1, 2, PatientID='P1')
    dicom_scp.add(*study)
    code, out, err = run(capsys, 'get', *conn(dicom_scp), '--storage_dir', str(tmp_path),
                         '--level', 'patient', '--root', 'patient', '--attr', 'PatientID=P1')
    assert code == 0, err
    assert 'completed 2, failed 0' in out
    assert sorted(p.name for p in tmp_path.glob('*.dcm')) == sorted(
        f'{ds.SOPInstanceUID}.dcm' for ds in study
    )


# --- errors -------------------------------------------------------------------------------------


def one_line_error(code, out, err) -> str:
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert 'Traceback' not in err
    return lines[0]


def test_refused_connection_is_one_line(capsys):
    port = free_port()
    error = one_line_error(*run(capsys, 'verify', '--aet', 'X', '--address', '127.0.0.1',
                                '--port', str(port)))
    assert error.startswith('error: cannot connect') and '--port' in error


def test_rejected_association_is_one_line(capsys, dicom_scp):
    error = one_line_error(*run(capsys, 'verify', *conn(dicom_scp, aet='SOMEONE-ELSE')))
    assert 'rejected the association' in error and '--aet' in error


def test_unknown_attribute_is_one_line(capsys, dicom_scp):
    error = one_line_error(*run(capsys, 'find', *conn(dicom_scp), '--attr', 'PatientNmae=x'))
    assert "unknown attribute 'PatientNmae'" in error
    assert dicom_scp.associations == []  # checked before any association


def test_unreadable_file_is_one_line(capsys, dicom_scp, tmp_path):
    error = one_line_error(*run(capsys, 'store', *conn(dicom_scp), '--file_or_dir',
                                str(tmp_path / 'missing.dcm')))
    assert 'cannot read' in error and 'missing.dcm' in error


def test_a_store_failure_exits_1(capsys, dicom_scp, tmp_path):
    bad = tmp_path / 'bad.dcm'
    bad.write_bytes(b'\0' * 128 + b'DICM' + b'garbage')
    code, out, err = run(capsys, 'store', *conn(dicom_scp), '--file_or_dir', str(bad))
    assert code == 0  # skipped (with the reason), not failed
    assert 'skipped 1' in out


def test_debug_shows_the_traceback(capsys, dicom_scp):
    with pytest.raises(AssociationRejectedError):
        cli.main(['verify', *conn(dicom_scp, aet='SOMEONE-ELSE'), '-d'])


def test_python_dash_m(dicom_scp):
    done = subprocess.run(
        [sys.executable, '-m', 'pynetdicom2', 'verify', *conn(dicom_scp)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert 'Success' in done.stdout


def test_a_connection_failure_is_told_by_its_type(capsys, monkeypatch):
    """The hint comes with ConnectionFailedError, whatever its text; not with other aborts."""
    from pynetdicom2.exceptions import AssociationAbortedError, ConnectionFailedError

    def verify_failing(error):
        def verify(local_aet, remote):
            raise error
        return verify

    monkeypatch.setattr(commands, 'verify', verify_failing(ConnectionFailedError(2, 0, 'no route')))
    error = one_line_error(*run(capsys, 'verify', '--aet', 'X', '--address', 'h', '--port', '1'))
    assert error == 'error: no route: check --address and --port, and that the peer is listening'
    monkeypatch.setattr(commands, 'verify',
                        verify_failing(AssociationAbortedError(2, 0, 'cannot connect, or so')))
    error = one_line_error(*run(capsys, 'verify', '--aet', 'X', '--address', 'h', '--port', '1'))
    assert error == 'error: X at h:1 aborted the association (cannot connect, or so)'


# --- the original's flags, and where DCMTK's are ------------------------------------------------


@pytest.mark.parametrize('argv', [['--help'], ['verify', '--help'], ['move', '--help']])
def test_help_says_these_are_the_original_flags_and_points_to_the_dcmtk_tools(argv, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert '--aet is the called AE title (the peer)' in out
    for tool in ('pynetdicom2-echoscu', 'pynetdicom2-storescu', 'pynetdicom2-qrscp'):
        assert tool in out
    if argv != ['--help']:
        assert "DCMTK's -aec, not its -aet" in out


@pytest.mark.parametrize(('option', 'value'), [('--port', '70000'), ('--port', '0'),
                                               ('--local_port', '70000')])
def test_ports_outside_their_range_are_usage_errors(option, value, capsys):
    argv = ['move', '--aet', 'PACS', '--address', 'h', '--port', '104', option, value]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert f'argument {option}: {value} is not in 1..65535' in err
