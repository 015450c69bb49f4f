"""The command line of the original pynetdicom2 (0.9.8), driven from a script.

``python -m pynetdicom2 verify | store | find | move`` with the original's flags (``--aet
--address --port --local_aet``, ``store --file_or_dir``, ``find --root --level --attr K=V``,
``move --local_port --storage_dir``) run as subprocesses against a PACS this script starts
(pynetdicom2.loopback.LoopbackSCP) on the first port given. The original's ``move`` always
names PYNETDICOM2 as the destination: the PACS knows that AE at the second port, where
``move --local_port`` receives the study.
"""

import os
import subprocess
import sys
import tempfile

from pynetdicom2.loopback import LoopbackSCP, make_study, write_dataset


def pynetdicom2(*args):
    done = subprocess.run([sys.executable, '-m', 'pynetdicom2', *args],
                          capture_output=True, text=True, timeout=60)
    if done.returncode:
        print('failed', args[0], done.returncode, done.stderr.strip())
    return done.stdout.splitlines()


def main(pacs_port, local_port):
    conn = ['--aet', 'PACS', '--address', '127.0.0.1', '--port', str(pacs_port),
            '--local_aet', 'MYSCU']
    with tempfile.TemporaryDirectory() as tmp:
        pacs = LoopbackSCP(os.path.join(tmp, 'pacs'), 'PACS', pacs_port)
        pacs.destinations['PYNETDICOM2'] = {'aet': 'PYNETDICOM2', 'address': '127.0.0.1',
                                            'port': local_port}
        study = make_study(2, 2, PatientID='P1', PatientName='Doe^Jane')
        outgoing = os.path.join(tmp, 'outgoing')
        os.mkdir(outgoing)
        for ds in study:
            write_dataset(ds, outgoing)
        pacs.add(*make_study(1, 1, PatientID='P2', PatientName='Roe^Rick'))
        with pacs:
            out = pynetdicom2('verify', *conn)
            print('verify', out[-1].split(': ', 1)[1])

            out = pynetdicom2('store', *conn, '--file_or_dir', outgoing)
            print('store', out[-1])

            out = pynetdicom2('find', *conn, '--root', 'study', '--level', 'study',
                              '--attr', 'PatientName=Doe*', '--attr', 'StudyInstanceUID=')
            print('find study', sum('Doe^Jane' in line for line in out),
                  sum(study[0].StudyInstanceUID in line for line in out))

            out = pynetdicom2('find', *conn, '--root', 'patient', '--level', 'patient',
                              '--attr', '00100020=P*', '--attr', '0010,0010=')
            ids = [line.split()[-1].strip("'") for line in out if 'Patient ID' in line]
            print('find patient', sorted(ids))

            incoming = os.path.join(tmp, 'incoming')
            out = pynetdicom2('move', *conn, '--local_port', str(local_port),
                              '--storage_dir', incoming, '--level', 'series',
                              '--attr', 'StudyInstanceUID=' + study[0].StudyInstanceUID,
                              '--attr', 'SeriesInstanceUID=' + study[0].SeriesInstanceUID)
            print('move', out[-1])
            print('moved files', len(os.listdir(incoming)))
        print('calling', sorted({a.calling_aet for a in pacs.associations}))


if __name__ == '__main__':
    main(int(sys.argv[1]), int(sys.argv[2]))
