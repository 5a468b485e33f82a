#!/usr/bin/env python3
"""pg_run.py — run a command beside a throwaway PostgreSQL 15.

  pg_run.py WORKDIR -- COMMAND [ARG...]

initdb's a cluster in a fresh folder under WORKDIR (the build tree; the
system's temporary folder when the server's user cannot enter it), starts
it with pg_ctl on a free 127.0.0.1 port with its unix socket in that folder,
runs COMMAND with PROVCA_PG_URL (a postgresql:// URL of database "provca")
and PROVCA_PG_DATA / PROVCA_PG_OPTS (the cluster's folder and server
options, for a test that stops and starts it: server_stop / server_start
below), then stops the server and removes the folder, also when COMMAND fails or
this script is interrupted. As root the server runs as `nobody`
(PostgreSQL refuses root); otherwise as the calling user. Exit status is
COMMAND's, or 1 when PostgreSQL cannot be started (with its log printed).
"""
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile

PG_BIN = "/usr/lib/postgresql/15/bin"
DB_NAME = "provca"


def free_port():
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_server_user():
    """(preexec function, uid, gid): drop to `nobody` when we are root."""
    if os.geteuid() != 0:
        return None, os.getuid(), os.getgid()
    pw = pwd.getpwnam("nobody")

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop, pw.pw_uid, pw.pw_gid


def pg(cmd, drop, **kw):
    """Run a PostgreSQL program as the server's user; CompletedProcess."""
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
    return subprocess.run([os.path.join(PG_BIN, cmd[0])] + cmd[1:],
                          preexec_fn=drop, env=env, capture_output=True,
                          text=True, **kw)


def reachable(path, uid, gid):
    """True if a process of uid/gid can enter every folder above path."""
    path = os.path.abspath(path)
    while True:
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent
        st = os.stat(path)
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False


def server_start(data, opts):
    """Start the cluster in data with server options opts (pg_ctl -w)."""
    drop = as_server_user()[0]
    return pg(["pg_ctl", "-D", data, "-l", os.path.join(os.path.dirname(data),
               "log"), "-o", opts, "-w", "-t", "60", "start"], drop)


def server_stop(data, mode="fast"):
    """Stop the cluster in data (pg_ctl -m mode -w)."""
    return pg(["pg_ctl", "-D", data, "-m", mode, "-w", "stop"],
              as_server_user()[0])


class Cluster:
    """One throwaway cluster: start() then stop() (idempotent)."""

    def __init__(self, workdir):
        self.drop, uid, gid = as_server_user()
        os.makedirs(workdir, exist_ok=True)
        # A build tree the server's user cannot enter (a clone under
        # /root) gets the system's temporary folder instead.
        if not reachable(os.path.join(workdir, "x"), uid, gid):
            workdir = None
        self.dir = tempfile.mkdtemp(prefix="provca-pg-", dir=workdir)
        os.chown(self.dir, uid, gid)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "log")
        self.port = free_port()
        self.started = False

    def start(self):
        r = pg(["initdb", "-D", self.data, "-U", "provca", "-A", "trust",
                "-E", "UTF8", "--no-sync"], self.drop)
        if r.returncode != 0:
            raise RuntimeError("initdb failed:\n" + r.stdout + r.stderr)
        self.opts = ("-c listen_addresses=127.0.0.1 -c port=%d"
                     " -c unix_socket_directories=%s -c fsync=on"
                     " -c max_connections=100" % (self.port, self.dir))
        r = server_start(self.data, self.opts)
        if r.returncode != 0:
            raise RuntimeError("pg_ctl start failed:\n" + r.stderr +
                               self.read_log())
        self.started = True
        r = pg(["createdb", "-h", self.dir, "-p", str(self.port),
                "-U", "provca", DB_NAME], self.drop)
        if r.returncode != 0:
            raise RuntimeError("createdb failed:\n" + r.stderr)

    def url(self):
        return "postgresql://provca@127.0.0.1:%d/%s" % (self.port, DB_NAME)

    def read_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.started:
            pg(["pg_ctl", "-D", self.data, "-m", "immediate", "-w",
                "stop"], self.drop)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    cluster = Cluster(argv[1])
    # A SIGTERM (ctest's timeout) unwinds through finally like a failure.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        try:
            cluster.start()
        except RuntimeError as e:
            print("pg_run: %s" % e, file=sys.stderr)
            return 1
        env = dict(os.environ, PROVCA_PG_URL=cluster.url(),
                   PROVCA_PG_DATA=cluster.data, PROVCA_PG_OPTS=cluster.opts)
        return subprocess.run(argv[3:], env=env).returncode
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
