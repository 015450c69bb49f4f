"""Packaging for pynetdicom2, a pure-Python DICOM networking library."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# Permissively licensed decoders for pydicom 3 (pylibjpeg-libjpeg is GPLv3: not here).
CODECS = [
    f'{requirement}; python_version >= "3.10"'
    for requirement in ('numpy>=1.24', 'pillow>=10', 'pylibjpeg>=2', 'pylibjpeg-openjpeg>=2.3',
                        'pyjpegls>=1.2')
]

setup(
    name='pynetdicom2',
    version='1.0.0.dev0',
    description='Pure-Python DICOM networking: DIMSE services over the DICOM upper layer',
    long_description=(HERE / 'README.rst').read_text(encoding='utf-8'),
    long_description_content_type='text/x-rst',
    license='MIT',
    packages=find_packages(include=['pynetdicom2', 'pynetdicom2.*']),
    package_data={'pynetdicom2': ['py.typed']},
    python_requires='>=3.9',
    install_requires=['pydicom>=2.4,<4'],
    entry_points={
        # The pytest plugin (fixtures dicom_scp, dicom_client, dicom_dataset); no autouse
        # fixtures, lazy imports: loaded in every pytest run, it costs nothing unless used.
        'pytest11': ['pynetdicom2 = pynetdicom2.testing'],
        # DCMTK-style tools (flags spelled as DCMTK's: -aet, -aec, -to, -ta, -td, -pdu, -od).
        'console_scripts': [
            'pynetdicom2-echoscu = pynetdicom2.apps:echoscu_main',
            'pynetdicom2-storescu = pynetdicom2.apps:storescu_main',
            'pynetdicom2-storescp = pynetdicom2.apps:storescp_main',
            'pynetdicom2-findscu = pynetdicom2.apps:findscu_main',
            'pynetdicom2-movescu = pynetdicom2.apps:movescu_main',
            'pynetdicom2-getscu = pynetdicom2.apps:getscu_main',
            'pynetdicom2-qrscp = pynetdicom2.qrscp:qrscp_main',
        ],
    },
    extras_require={
        'test': ['pytest>=7', 'hypothesis>=6', 'pynetdicom>=2.0', 'sphinx>=7', 'mypy>=2.4,<2.5',
                 'prometheus_client>=0.17', 'psycopg[binary]>=3.1', *CODECS],
        # Compressed pixel data decoded when a peer accepts only uncompressed syntaxes
        # (pynetdicom2.pixelcodecs): pydicom 3's decoders, hence Python 3.10 or later.
        'codecs': CODECS,
        # autodoc imports every module: pynetdicom2.testing (the pytest plugin) needs pytest.
        'docs': ['sphinx>=7', 'pytest>=7'],
        'lint': ['ruff>=0.4'],
        # The Prometheus endpoint of an AE's counters (pynetdicom2.prometheus).
        'metrics': ['prometheus_client>=0.17'],
        # A PostgreSQL index for pynetdicom2-qrscp (pynetdicom2.qrpostgres), which several
        # qrscp processes can share: psycopg 3, its binary package bringing libpq.
        'postgresql': ['psycopg[binary]>=3.1'],
    },
    classifiers=[
        'Development Status :: 3 - Alpha',
        'Intended Audience :: Healthcare Industry',
        'Intended Audience :: Developers',
        'License :: OSI Approved :: MIT License',
        'Programming Language :: Python :: 3 :: Only',
        'Topic :: Scientific/Engineering :: Medical Science Apps.',
        'Topic :: System :: Networking',
        'Typing :: Typed',
    ],
)
