"""A throw-away PostgreSQL server for integration tests: real server, 127.0.0.1, temp data dir.

The server binary comes from Debian's ``postgresql`` package (installed by scripts/setup.sh).
PostgreSQL refuses to run as root, so when tests run as root the server runs as the ``postgres``
system user that the package creates.  TCP logins need a password (``scram-sha-256``), so tests
use the URL form the README shows, ``postgresql://user:pw@127.0.0.1:PORT/db``, and exercise
password masking and a refused login for real.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

#: The test role's password: distinctive, so a test can assert it never shows.
PASSWORD = "pg-s3cret-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def find_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@dataclass
class PostgresServer:
    bindir: str
    datadir: str
    port: int
    user: str = "postgres"
    password: str = PASSWORD

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        """The README's form: a bare ``postgresql://`` (the driver is the package's choice)."""
        pw = self.password if password is None else password
        return f"postgresql://{self.user}:{pw}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run_as(user: str | None, args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    if user is not None:
        args = ["runuser", "-u", user, "--", *args]
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload]


def start_server() -> PostgresServer:
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL server not installed: run `bash scripts/setup.sh` (apt-get install postgresql)"
        )
    as_user = "postgres" if os.geteuid() == 0 else None
    datadir = tempfile.mkdtemp(prefix="hpo-pg-")
    if as_user:
        pw = pwd.getpwnam(as_user)
        os.chown(datadir, pw.pw_uid, pw.pw_gid)
    user = as_user or pwd.getpwuid(os.geteuid()).pw_name
    pwfile = os.path.join(datadir, "pwfile")
    with open(pwfile, "w") as f:
        f.write(PASSWORD + "\n")
    if as_user:
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    pgdata = os.path.join(datadir, "data")  # initdb wants an empty directory of its own
    _run_as(
        as_user,
        [
            f"{bindir}/initdb",
            "-D",
            pgdata,
            "-U",
            user,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
        ],
    )
    port = free_port()
    _run_as(
        as_user,
        [
            f"{bindir}/pg_ctl",
            "-D",
            pgdata,
            "-w",
            "-t",
            "60",
            "-l",
            f"{datadir}/server.log",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {datadir} -c fsync=off",
            "start",
        ],
    )
    deadline = time.monotonic() + 30  # pg_ctl -w waited already; this only double-checks
    while not _listening(port):
        if time.monotonic() >= deadline:
            with open(f"{datadir}/server.log", errors="replace") as log:
                raise RuntimeError(f"PostgreSQL is not listening on {port}:\n{log.read()[-3000:]}")
        time.sleep(0.2)
    return PostgresServer(bindir, datadir, port, user)


def stop_server(server: PostgresServer) -> None:
    as_user = "postgres" if os.geteuid() == 0 else None
    try:
        _run_as(
            as_user,
            [f"{server.bindir}/pg_ctl", "-D", os.path.join(server.datadir, "data"), "-m",
             "immediate", "stop"],
        )  # fmt: skip
    finally:
        shutil.rmtree(server.datadir, ignore_errors=True)
