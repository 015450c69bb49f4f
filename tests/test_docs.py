"""The documentation: it builds without warnings or network, and every code example in it runs.

Python code reaches the pages in three ways, all executed here:

* ``literalinclude`` of a script in ``docs/examples`` — each script is run as a separate
  process (``test_*.py`` files with pytest), on loopback, in a temporary directory;
* ``>>>`` blocks in the ``.rst`` pages — run with :mod:`doctest`;
* ``>>>`` examples in the docstrings autodoc renders — run with :mod:`doctest` per module.

A ``code-block:: python`` would be code nobody runs, so the pages may not have one.
"""

from __future__ import annotations

import doctest
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tlsutil import make_pki

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / 'docs'
EXAMPLES = DOCS / 'examples'
PAGES = sorted(DOCS.rglob('*.rst'))
SCRIPTS = sorted(EXAMPLES.glob('*.py'))
MODULES = ['pynetdicom2'] + sorted(
    '.'.join(p.relative_to(ROOT).with_suffix('').parts).replace('.__init__', '')
    for p in (ROOT / 'pynetdicom2').rglob('*.py')
    if p.name == '__init__.py' and p.parent != ROOT / 'pynetdicom2' or not p.stem.startswith('__')
)
DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: Bound for one example script or one documentation build.
EXAMPLE_TIMEOUT = 90
BUILD_TIMEOUT = 600
# Any HTTP(S) fetch during the build goes to a closed port and fails (a warning, so an error).
NO_NETWORK = {name: 'http://127.0.0.1:9' for name in
              ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY')}
INCLUDE = re.compile(r'^\s*\.\. literalinclude::\s*(\S+)', re.MULTILINE)
UNTESTED_BLOCK = re.compile(r'^\s*\.\. (?:code-block|code|sourcecode)::\s*(?:python|py|pycon)\s*$',
                            re.MULTILINE)


def included_scripts() -> dict[Path, list[Path]]:
    """Example script -> the pages that include it."""
    found: dict[Path, list[Path]] = {}
    for page in PAGES:
        for target in INCLUDE.findall(page.read_text(encoding='utf-8')):
            found.setdefault((page.parent / target).resolve(), []).append(page)
    return found


def example_arguments(script: Path, tmp_path: Path) -> list[str]:
    if script.name.startswith('tls_'):  # TLS examples take their PEM files as arguments
        pki = make_pki(tmp_path / 'pki')
        return [str(p) for p in (pki.ca_cert, pki.server_cert, pki.server_key,
                                 pki.client_cert, pki.client_key)]
    return []


@pytest.mark.parametrize('script', SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_example_runs(script, tmp_path):
    if script.name.startswith('test_'):
        command = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', str(script)]
    else:
        command = [sys.executable, str(script), *example_arguments(script, tmp_path)]
    work = tmp_path / 'work'
    work.mkdir()
    done = subprocess.run(command, cwd=work, capture_output=True, text=True,
                          timeout=EXAMPLE_TIMEOUT, env={**os.environ, **NO_NETWORK})
    assert done.returncode == 0, f'{script.name} failed:\n{done.stdout}\n{done.stderr}'
    assert done.stdout.strip(), f'{script.name} printed nothing to show what it did'
    assert list(work.iterdir()) == [], f'{script.name} left files in its working directory'


def test_every_example_is_shown_and_every_include_exists():
    included = included_scripts()
    missing = [f'{target} (in {", ".join(p.name for p in pages)})'
               for target, pages in included.items() if not target.exists()]
    assert not missing, f'literalinclude of files that do not exist: {missing}'
    unshown = [s.name for s in SCRIPTS if s.resolve() not in included]
    assert not unshown, f'examples no page includes: {unshown}'


@pytest.mark.parametrize('page', PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_has_only_tested_python(page):
    text = page.read_text(encoding='utf-8')
    assert not UNTESTED_BLOCK.search(text), (
        f'{page.relative_to(ROOT)}: a python code-block is not run by any test; put the code '
        'in docs/examples and literalinclude it, or write it as a >>> doctest')
    if '>>>' in text:
        result = doctest.testfile(str(page), module_relative=False, optionflags=DOCTEST_FLAGS,
                                  encoding='utf-8', verbose=False, report=True)
        assert result.failed == 0, f'{page.relative_to(ROOT)}: {result.failed} doctest(s) failed'


@pytest.mark.parametrize('name', MODULES)
# The demo's doctest stores pydicom's sample files; one of them has a UID pydicom finds invalid.
@pytest.mark.filterwarnings('ignore:Invalid value for VR UI:UserWarning')
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=DOCTEST_FLAGS, verbose=False, report=True)
    assert result.failed == 0, f'{name}: {result.failed} docstring example(s) failed'


def test_no_skipped_doctests():
    """A ``>>>`` example runs, or is an illustration (``Usage::``), never a skipped doctest."""
    marker = 'doctest: ' + '+SKIP'  # spelled in two parts so this file does not match itself
    files = sorted(p for folder in (ROOT / 'pynetdicom2', DOCS) for pattern in ('*.py', '*.rst')
                   for p in folder.rglob(pattern))
    assert files
    found = [f'{path.relative_to(ROOT)}:{number}'
             for path in files
             for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1)
             if marker in line]
    assert not found, (f'{marker} in {found}: make the example run (loopback SCP on port 0, '
                       'files in a TemporaryDirectory) or turn it into a Usage:: literal block')


def test_docs_build_without_warnings_or_network(tmp_path):
    pytest.importorskip('sphinx', reason="Sphinx is in the 'test' and 'docs' extras")
    done = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q', '-b', 'html',
         '-d', str(tmp_path / 'doctrees'), str(DOCS), str(tmp_path / 'html')],
        cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
        env={**os.environ, **NO_NETWORK})
    assert done.returncode == 0, f'sphinx-build -W failed:\n{done.stderr[-6000:]}'
    assert (tmp_path / 'html' / 'index.html').exists()


def test_every_public_module_is_in_the_api_reference():
    documented = set(re.findall(r'^\.\. automodule:: (\S+)\s*$',
                                '\n'.join(p.read_text(encoding='utf-8') for p in PAGES),
                                re.MULTILINE))
    missing = [name for name in MODULES if name != 'pynetdicom2' and name not in documented]
    assert not missing, f'modules without an automodule directive in docs/: {missing}'


def test_code_and_docs_cite_the_standard_not_working_notes():
    """Docstrings and pages cite the DICOM standard and this repository's files; the team's
    working notes are not part of the product and must not be cited."""
    notes = re.compile(r'\b(?:api|design|style)\.md\b|shared/docs|\bthe contract\b')
    sources = [*(ROOT / 'pynetdicom2').rglob('*.py'), *PAGES, *SCRIPTS, ROOT / 'README.rst']
    cited = [f'{path.relative_to(ROOT)}:{number}'
             for path in sources
             for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1)
             if notes.search(line)]
    assert not cited, cited
