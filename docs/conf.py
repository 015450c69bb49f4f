"""Sphinx configuration for the pynetdicom2 documentation."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

project = 'pynetdicom2'
author = 'The pynetdicom2 developers'
copyright = '2026, The pynetdicom2 developers'

extensions = ['sphinx.ext.autodoc', 'sphinx.ext.napoleon', 'sphinx.ext.viewcode']
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
nitpicky = False
exclude_patterns = ['_build']
html_theme = 'alabaster'
