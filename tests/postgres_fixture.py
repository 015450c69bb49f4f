"""A real PostgreSQL server for the tests of the PostgreSQL index (:mod:`pynetdicom2.qrpostgres`).

Fixtures, for a test module to import (``from postgres_fixture import
postgres_server_fixture, postgres_url_fixture``, which defines them in it as ``postgres_server``
and ``postgres_url``):

* ``postgres_server`` (session): a server of its own, made by ``initdb`` in a new temporary
  directory and started by ``pg_ctl`` on a free port of 127.0.0.1, its Unix socket in that
  directory, trust authentication, no fsync (nothing here must survive a crash). At the end
  of the session it is stopped (``pg_ctl stop -m fast``) and the directory removed.
* ``postgres_url``: a new, empty UTF8 database on that server for one test, as a
  ``postgresql://`` URL; dropped after the test (``WITH (FORCE)``, whatever is connected).

The server's programs are the newest of ``/usr/lib/postgresql/<version>/bin`` (Debian's
layout), or the ``pg_ctl`` on PATH. ``initdb`` refuses to run as root: as root, the
programs run as the ``postgres`` system user (``runuser``, else ``su``), and the directory
is given to that user; as anyone else, they run as that user.

Without PostgreSQL or psycopg 3, the tests that need them skip and say why; with
``PYNETDICOM2_REQUIRE_POSTGRES=1`` in the environment (``.ci/run`` sets it) they fail
instead, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

#: Bound of one ``initdb`` or ``pg_ctl`` run.
COMMAND_TIMEOUT = 120.0
#: libpq's connect timeout for the fixture's own connections (seconds).
CONNECT_TIMEOUT = 10
#: Ports tried before giving up (another process may take a port between probe and start).
START_ATTEMPTS = 3

_databases = itertools.count(1)


def postgres_required() -> bool:
    """True when a missing PostgreSQL must fail the tests (PYNETDICOM2_REQUIRE_POSTGRES=1)."""
    return os.environ.get('PYNETDICOM2_REQUIRE_POSTGRES', '').strip() not in ('', '0')


def missing_postgres(reason: str) -> NoReturn:
    """Skip, or with PYNETDICOM2_REQUIRE_POSTGRES set, fail: ``reason`` says what is missing."""
    if postgres_required():
        pytest.fail(f'PYNETDICOM2_REQUIRE_POSTGRES is set but {reason}', pytrace=False)
    pytest.skip(reason)


def _version_of(bin_dir: str) -> tuple[int, ...]:
    found = re.search(r'/postgresql/([0-9.]+)/bin$', bin_dir)
    return tuple(int(part) for part in found.group(1).split('.') if part) if found else ()


def find_bin_dir() -> str | None:
    """The directory of ``initdb`` and ``pg_ctl``: the newest Debian version, else PATH's."""
    candidates = [d for d in glob.glob('/usr/lib/postgresql/*/bin')
                  if os.access(os.path.join(d, 'initdb'), os.X_OK)
                  and os.access(os.path.join(d, 'pg_ctl'), os.X_OK)]
    if candidates:
        return max(candidates, key=_version_of)
    pg_ctl = shutil.which('pg_ctl')
    if pg_ctl and os.access(os.path.join(os.path.dirname(pg_ctl), 'initdb'), os.X_OK):
        return os.path.dirname(pg_ctl)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: where it listens, and how to run its programs."""

    bin_dir: str
    directory: Path
    port: int
    as_user: list[str]
    host: str = '127.0.0.1'
    user: str = 'postgres'

    @property
    def data_dir(self) -> Path:
        return self.directory / 'data'

    @property
    def log_path(self) -> Path:
        return self.directory / 'server.log'

    def url(self, dbname: str = 'postgres') -> str:
        return f'postgresql://{self.user}@{self.host}:{self.port}/{dbname}'

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one of the server's programs as the server's system user; raise on failure."""
        command = [os.path.join(self.bin_dir, program), *args]
        if self.as_user and self.as_user[0].endswith('su'):
            argv = [*self.as_user, shlex.join(command)]
        else:
            argv = [*self.as_user, *command]
        done = subprocess.run(argv, cwd=self.directory, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f'{" ".join(argv)} failed ({done.returncode}):\n'
                               f'{done.stdout}{done.stderr}{self.log()}')
        return done

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors='replace')
        except OSError:
            return ''

    def admin_sql(self, statement: str) -> None:
        """Run one statement in the ``postgres`` database, outside a transaction."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True,
                             connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def create_database(self, encoding: str = 'UTF8') -> str:
        """A new empty database; its URL."""
        name = f'pynetdicom2_test_{os.getpid()}_{next(_databases)}'
        self.admin_sql(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING '{encoding}'")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self.admin_sql(f'DROP DATABASE IF EXISTS {url.rsplit("/", 1)[1]} WITH (FORCE)')

    def start(self) -> None:
        options = (f'-h {self.host} -p {self.port} -k {self.directory} '
                   '-c fsync=off -c synchronous_commit=off -c full_page_writes=off')
        self.run('pg_ctl', 'start', '-D', str(self.data_dir), '-l', str(self.log_path),
                 '-w', '-t', '60', '-o', options)

    def stop(self) -> None:
        self.run('pg_ctl', 'stop', '-D', str(self.data_dir), '-m', 'fast', '-w', '-t', '60')


def _run_as() -> list[str]:
    """The command prefix that runs a program as the ``postgres`` user (nothing unless root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam('postgres')
    except KeyError:
        missing_postgres('running as root and there is no postgres system user to run '
                         'initdb as (initdb refuses root)')
    runuser = shutil.which('runuser')
    if runuser:
        return [runuser, '-u', 'postgres', '--']
    return [shutil.which('su') or 'su', 'postgres', '-s', '/bin/sh', '-c']


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A server of its own for the block (see the module), stopped and removed after it; the
    session fixture's, and the benchmarks' (``benchmarks/bench_workers.py --server qrscp``)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing_postgres("psycopg 3 is not installed (pip install -e '.[postgresql]')")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        missing_postgres('PostgreSQL is not installed (no initdb and pg_ctl under '
                         '/usr/lib/postgresql/*/bin or on PATH; Debian: apt-get install '
                         'postgresql)')
    as_user = _run_as()
    directory = Path(tempfile.mkdtemp(prefix='pynetdicom2-pg-'))
    server = None
    try:
        if as_user:
            owner = pwd.getpwnam('postgres')
            os.chown(directory, owner.pw_uid, owner.pw_gid)
        server = PostgresServer(bin_dir, directory, 0, as_user)
        server.run('initdb', '-D', str(server.data_dir), '-U', 'postgres', '--auth=trust',
                   '-E', 'UTF8', '--locale=C', '--no-sync')
        for attempt in range(1, START_ATTEMPTS + 1):
            server.port = _free_port()
            try:
                server.start()
                break
            except RuntimeError:
                if attempt == START_ATTEMPTS:
                    raise
        yield server
    finally:
        try:
            if server is not None and (server.data_dir / 'postmaster.pid').exists():
                server.stop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope='session', name='postgres_server')
def postgres_server_fixture() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(name='postgres_url')
def postgres_url_fixture(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)
