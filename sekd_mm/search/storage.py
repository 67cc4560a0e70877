# Copyright (c) sekd-mm contributors. All rights reserved.
"""Where a search's study lives: a journal file (default) or a database.

A *storage spec* is a string:

- a file path: Optuna's ``JournalStorage`` on a ``JournalFileBackend``, an
  append-only log of operations (a ``kill -9`` loses at most the operation
  being written; every process that opens it replays the log). Workers on
  one machine, or on machines that share the folder, can share it. This is
  the default, ``<work_dir>/optuna_journal.log``;
- a database URL (``sqlite:///path.db``, ``postgresql://user:pw@host/db``,
  ``mysql+pymysql://...``): Optuna's ``RDBStorage``, for workers on several
  machines. The database must exist; Optuna creates its tables.

:func:`open_storage` fails with one :class:`StorageError` naming the fix
before anything trains: a database that cannot be reached, a missing
database driver, a URL that is no URL. Workers that open a new database
at the same moment race to create Optuna's tables (PostgreSQL refuses the
loser's ``CREATE TABLE`` with a duplicate-key error); the loser opens it
again (:data:`SCHEMA_RACE_TRIES`) and finds the tables made.
"""
import os
import os.path as osp
import time

import optuna

#: The journal file of a search's work dir (the default storage).
JOURNAL_FILE = 'optuna_journal.log'
#: Seconds a database server gets to answer the first connection.
CONNECT_TIMEOUT = 10
#: pip packages of the database driver modules SQLAlchemy imports
#: (``postgresql://`` is psycopg 3 since SQLAlchemy 2.1, psycopg2 before).
DRIVERS = dict(psycopg="'psycopg[binary]'", psycopg2='psycopg2-binary',
               pymysql='PyMySQL', MySQLdb='mysqlclient')
#: A URL scheme with another driver, per backend, for the messages.
OTHER_DRIVER = dict(postgresql='postgresql+psycopg2', mysql='mysql+pymysql')
#: SQLAlchemy URL schemes whose drivers take ``connect_timeout`` (seconds).
TIMEOUT_SCHEMES = ('postgresql', 'postgresql+psycopg2', 'postgresql+psycopg',
                   'mysql', 'mysql+mysqldb', 'mysql+pymysql')
#: How often a database is opened while another worker creating its tables
#: at the same moment makes the opening fail, and the seconds between.
SCHEMA_RACE_TRIES = 5
SCHEMA_RACE_WAIT = 1.0


class StorageError(RuntimeError):
    """A storage that cannot be opened; the message names the fix."""


def default_storage(work_dir: str) -> str:
    """The storage spec of a search without one: the journal file in
    ``work_dir``."""
    return osp.join(osp.abspath(work_dir), JOURNAL_FILE)


def is_database(spec: str) -> bool:
    """Whether ``spec`` is a database URL (else a journal file path)."""
    return '://' in spec


def describe(spec: str) -> str:
    """``spec`` for logs and reports: a database URL without its
    password."""
    if not is_database(spec):
        return spec
    import sqlalchemy
    try:
        return sqlalchemy.engine.make_url(spec).render_as_string(
            hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return spec.split('://')[0] + '://...'


def open_storage(spec: str) -> optuna.storages.BaseStorage:
    """The Optuna storage of ``spec`` (see the module docstring).

    Raises:
        StorageError: it cannot be opened; the message says what to do.
    """
    if is_database(spec):
        return _open_database(spec)
    folder = osp.dirname(osp.abspath(spec))
    try:
        os.makedirs(folder, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(spec)
        return optuna.storages.JournalStorage(backend)
    except OSError as err:
        raise StorageError(
            f'cannot open the journal file {spec!r}: {err}. Point the '
            'storage (or the work dir) at a writable folder.') from err


def _open_database(spec: str) -> optuna.storages.BaseStorage:
    """Optuna's ``RDBStorage`` of ``spec`` in the cache that a study wraps
    it in (``optuna.storages.get_storage``): the caller and the studies it
    makes on it then share one cache, which must know every trial id the
    caller takes (a bare ``RDBStorage`` beside the study's cached one fails
    the study's first ``suggest`` of a trial the caller took)."""
    import sqlalchemy
    shown = describe(spec)
    fix = ('Give a database URL such as postgresql://user:password@host:5432/'
           'dbname or sqlite:////abs/path/study.db, or a file path for a '
           'journal file.')
    try:
        url = sqlalchemy.engine.make_url(spec)
    except sqlalchemy.exc.ArgumentError as err:
        raise StorageError(f'storage {shown!r} is no database URL ({err}). '
                           + fix) from err
    backend, kwargs = url.drivername.partition('+')[0], {}
    if url.drivername in TIMEOUT_SCHEMES:
        kwargs = dict(connect_args=dict(connect_timeout=CONNECT_TIMEOUT))
    try:
        storage = _rdb_storage(spec, kwargs)
    except ImportError as err:
        cause = err.__cause__ if isinstance(err.__cause__,
                                            ImportError) else err
        module = getattr(cause, 'name', None) or '?'
        package = DRIVERS.get(module, module)
        other = (f', or name an installed driver in the URL (e.g. '
                 f'{OTHER_DRIVER[backend]}://...)'
                 if backend in OTHER_DRIVER else '')
        raise StorageError(
            f'storage {shown!r}: its database driver ({module}) is not '
            f'installed. Install it (pip install {package}){other}.'
        ) from err
    except sqlalchemy.exc.ArgumentError as err:  # an unknown dialect
        raise StorageError(f'storage {shown!r} is no database URL that '
                           f'SQLAlchemy knows ({err}). ' + fix) from err
    except sqlalchemy.exc.SQLAlchemyError as err:
        reason = str(getattr(err, 'orig', None) or err).strip()
        raise StorageError(
            f'cannot reach the storage {shown!r} ({reason.splitlines()[0]}). '
            'Start the database server and check the host, port, user, '
            'password and database name (the database must exist), or leave '
            'the storage out to use a journal file in the work dir.'
        ) from err
    return optuna.storages.get_storage(storage)


def _rdb_storage(spec: str, engine_kwargs: dict) -> optuna.storages.RDBStorage:
    """``RDBStorage(spec)``, opened again while its table creation loses a
    race with another worker's (an integrity or "already exists" error;
    the tables are there on the next try)."""
    import sqlalchemy
    for attempt in range(SCHEMA_RACE_TRIES):
        try:
            return optuna.storages.RDBStorage(spec,
                                              engine_kwargs=engine_kwargs)
        except (sqlalchemy.exc.IntegrityError,
                sqlalchemy.exc.ProgrammingError):
            if attempt == SCHEMA_RACE_TRIES - 1:
                raise
            time.sleep(SCHEMA_RACE_WAIT)
