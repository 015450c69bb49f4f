"""``python -m pynetdicom2``: the command line of :mod:`pynetdicom2.cli`.

Usage::

    python -m pynetdicom2 verify --aet PACS --address 10.0.0.5 --port 104
    python -m pynetdicom2 demo
"""

from pynetdicom2.cli import main

if __name__ == '__main__':
    main()
