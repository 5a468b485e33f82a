"""pgdb — what a Python test needs to run ca-server on PostgreSQL beside
pg_run.py's throwaway server (PROVCA_PG_URL): a fresh database per CA,
the `init` arguments that use it, and psql for checks a test makes in the
database itself."""
import os
import subprocess
import urllib.parse

PG_BIN = "/usr/lib/postgresql/15/bin"
_count = [0]


def enabled():
    """True when the test runs under pg_run.py."""
    return bool(os.environ.get("PROVCA_PG_URL"))


def fresh_db():
    """A new empty database on the server PROVCA_PG_URL names; its URL."""
    u = urllib.parse.urlparse(os.environ["PROVCA_PG_URL"])
    _count[0] += 1
    name = "provca_t%d_%d" % (os.getpid(), _count[0])
    subprocess.run([os.path.join(PG_BIN, "createdb"), "-h", u.hostname, "-p", str(u.port),
                    "-U", u.username, name], check=True, capture_output=True, timeout=60)
    return urllib.parse.urlunparse(u._replace(path="/" + name))


def init_args():
    """(db_url, extra `ca-server init` arguments): a fresh database under
    pg_run.py, else (None, ()) for SQLite in the data folder."""
    if not enabled():
        return None, ()
    url = fresh_db()
    return url, ("--db", url)


def sql(url, text, **params):
    """Run text on the database url names through psql, the values of
    params bound as psql variables (:'name' in text quotes one as a
    literal); the output rows, fields split on '|'."""
    args = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url]
    for k, v in params.items():
        args += ["-v", "%s=%s" % (k, v)]
    p = subprocess.run(args, input=text, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("psql: %s" % p.stderr)
    return [line.split("|") for line in p.stdout.splitlines() if line]
