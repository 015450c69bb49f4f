"""Packaging for pynetdicom2, a pure-Python DICOM networking library."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

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
    extras_require={
        'test': ['pytest>=7', 'hypothesis>=6', 'pynetdicom>=2.0'],
        'docs': ['sphinx>=7'],
        'lint': ['ruff>=0.4'],
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
