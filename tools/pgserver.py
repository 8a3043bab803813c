"""A throwaway local PostgreSQL server for the distributed-search tests and bench/storage_bench.py.

Debian's `postgresql` package (tools/test_services.sh installs it when absent) brings initdb/pg_ctl under
/usr/lib/postgresql/VERSION/bin. This makes a fresh cluster in a temporary folder, started on 127.0.0.1 at
a free port with trust authentication for one superuser, `archspec`, and a database `archspec`; stopping it
removes the folder. PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
user and its programs run through `runuser`. Nothing touches the system's own cluster.

    python tools/pgserver.py        # start one, print its URL, stop on Ctrl+C
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class PostgresMissing(RuntimeError):
    pass


def bin_dir() -> Path:
    """The folder of initdb/pg_ctl: the newest Debian cluster version, else initdb on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3].split(".")[0]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresMissing("no PostgreSQL server programs (initdb, pg_ctl) here; install them with "
                          "`apt-get install postgresql` (tools/test_services.sh does it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self):
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="archspec-pg-"))
        self.data, self.sock = self.root / "data", self.root / "sock"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.started = False

    def _run(self, *cmd, **kw):
        if self.as_root:
            # runuser is in /usr/sbin, which a root shell's PATH may leave out (a minimal PATH=/usr/bin:/bin)
            runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin") or "runuser"
            cmd = (runuser, "-u", "postgres", "--", *cmd)
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)

    def start(self) -> "Server":
        self.sock.mkdir(parents=True)
        if self.as_root:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
            os.chmod(self.root, 0o755)
        try:
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "archspec", "--auth=trust", "-E", "UTF8",
                      "--no-sync", "--no-instructions")
            opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w",
                      "-t", "60", "start")
            self.started = True
            self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "archspec", "archspec")
        except subprocess.CalledProcessError as exc:
            log = (self.root / "log").read_text(errors="replace")[-2000:] if (self.root / "log").exists() else ""
            self.stop()
            raise RuntimeError(f"{' '.join(exc.cmd)} failed:\n{exc.stdout}{exc.stderr}{log}") from None
        return self

    @property
    def url(self) -> str:
        return f"postgresql://archspec@127.0.0.1:{self.port}/archspec"

    def stop(self) -> None:
        if self.started:
            try:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    with Server() as s:
        print(s.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
