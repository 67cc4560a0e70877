# Copyright (c) sekd-mm contributors. All rights reserved.
"""The search (sekd_mm.search) on a real PostgreSQL server: two worker
processes, each in its own work dir as on two machines, share one study;
a database that refuses the connection fails before anything trains.

``SEKD_TEST_POSTGRES_URL`` names the database (``tools/run_tests.sh`` sets
it where it runs as root, as CI does: it installs and starts Debian's
``postgresql``). Without it the tests are skipped with the reason. The
searches are those of ``tests/test_search.py`` (its helpers)."""
import json
import os
import socket
import uuid

import pytest
import sqlalchemy
import test_search
from test_search import FAST, ITERS, PRUNING, Configure, _fork, row, runs

from sekd_mm.search import StorageError, search
from sekd_mm.search.storage import describe

URL = os.environ.get('SEKD_TEST_POSTGRES_URL')
#: Why the test command has no server (tools/run_tests.sh sets it).
WHY = os.environ.get('SEKD_TEST_POSTGRES_SKIP', 'not run by the test command')
pytestmark = pytest.mark.skipif(
    not URL, reason=f'no PostgreSQL server ({WHY}): SEKD_TEST_POSTGRES_URL '
    'is not set. Run the test command (bash tools/run_tests.sh) as root to '
    'install and start one, or set it to a database of yours, e.g. '
    'postgresql+psycopg://user:password@localhost:5432/dbname')
#: The random-init teacher checkpoints (a fixture of tests/test_search.py).
teacher = test_search.teacher


@pytest.fixture
def database():
    """A URL of ``URL``'s database with a schema of its own (the database
    outlives the test; the schema is dropped afterwards): its tables do not
    exist yet, so workers started at once race to create them, as on a new
    database."""
    schema = f'test_{uuid.uuid4().hex[:12]}'
    engine = sqlalchemy.create_engine(URL)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA {schema}'))
    url = sqlalchemy.engine.make_url(URL).update_query_dict(
        dict(options=f'-csearch_path={schema}'))
    yield url.render_as_string(hide_password=False)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA {schema} CASCADE'))
    engine.dispose()


def test_two_workers_share_a_postgres_study(data_root, teacher, tmp_path,
                                            database):
    """Both workers start at once on a database without tables (the one
    that loses the race to create them opens it again); each training runs
    once, in the work dir of the worker that took it; the pruning hook
    reports to the database (x10 sees no box: pruned at its first
    evaluation); both workers end with the same result, which one more
    worker on the study takes as it is, training nothing."""
    study = 'shared'
    factors = (1.0, 10.0)
    configure = Configure(data_root, teacher, blind=(10.0, ))
    options = dict(PRUNING, storage=database, study_name=study)
    dirs = [tmp_path / 'a', tmp_path / 'b']
    workers = [_fork(factors, str(d), configure, options) for d in dirs]
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0]
    results = []
    for folder in dirs:
        with open(folder / 'search.json') as f:
            results.append(json.load(f))
    result = results[0]
    assert result['done'] and result['study'] == study
    assert result['storage'] == describe(database)
    assert '***' in describe(database)
    assert results[1]['trials'] == result['trials']
    assert results[1]['chosen'] == result['chosen']
    trained = [t for t in result['trials'] if t['duplicate_of'] is None]
    trials = {(t['key'], t['seed']): t for t in trained}
    assert len(trials) == len(trained) == 3  # nothing trained twice
    started = [runs(d) for d in dirs]
    assert not set(started[0]) & set(started[1])
    assert [n for s in started for n in s.values()] == [1, 1, 1]
    names = [f'{socket.gethostname()}:{w.pid}' for w in workers]
    assert {t['worker'] for t in trained} == set(names)
    for t in trained:
        assert t['work_dir'].startswith(str(dirs[names.index(t['worker'])]))
    blind = trials[('x10', 0)]
    assert blind['state'] == 'PRUNED' and blind['pruned_step'] == 1
    assert blind['iters'] == 1
    assert [trials[('x1', s)]['state'] for s in (0, 1)] == ['COMPLETE'] * 2
    chosen = result['chosen']
    assert (chosen['method'], chosen['key']) == ('sekd', 'x1')
    assert chosen['mean'] == pytest.approx(
        (trials[('x1', 0)]['value'] + trials[('x1', 1)]['value']) / 2)
    assert result['cost']['iters'] == 2 * ITERS + 1
    again = search(dict(sekd=row(*factors)), configure, str(tmp_path / 'c'),
                   **FAST, **options)
    assert again['trials'] == result['trials']
    assert again['chosen'] == chosen
    assert not (tmp_path / 'c' / 'trials').exists()


def test_refused_postgres_login_fails_before_training(data_root, teacher,
                                                      tmp_path):
    """The server answers but refuses: a database that does not exist, a
    wrong password. One StorageError each, without the password."""
    url = sqlalchemy.engine.make_url(URL)
    bad = {url.set(database='sekd_no_such_db'): 'does not exist',
           url.set(password='wrong-secret'): 'password authentication failed'}
    configure = Configure(data_root, teacher)
    for bad_url, reason in bad.items():
        with pytest.raises(StorageError,
                           match=f'cannot reach.*{reason}.*database must '
                           'exist') as err:
            search(dict(sekd=row(1.0)), configure, str(tmp_path),
                   storage=bad_url.render_as_string(hide_password=False),
                   **FAST)
        assert 'secret' not in str(err.value)
    assert not (tmp_path / 'trials').exists()
