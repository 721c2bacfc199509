"""A throwaway Dask cluster on this machine, as separate processes (for tests, benchmarks and
trying ``--scheduler`` without a real cluster)::

    with LoopbackCluster(n_workers=2) as address:
        run_study("study.toml", scheduler=address)

The scheduler and each worker (``--nworkers 1 --nthreads 1``, no dashboard) are started with
``python -m distributed.cli.dask_{scheduler,worker}`` in their own process groups, bound to
127.0.0.1; the scheduler picks a free port and writes its address to a scheduler file. The
scheduler and the workers import ``market.sweep.worker`` when they start (``--preload``; the same
flag serves a real cluster): the workers run it, and the scheduler unpickles every submitted
task, so each would otherwise import the model on a study's first run. On exit every process
group is terminated (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path


class LoopbackCluster:
    """A Dask scheduler and ``n_workers`` single-threaded workers on 127.0.0.1."""

    def __init__(self, n_workers: int = 2, timeout_s: float = 60.0,
                 python: str = sys.executable,
                 preload: Sequence[str] = ("market.sweep.worker",)) -> None:
        self.n_workers = n_workers
        self.preload = list(preload)
        self.timeout_s = timeout_s
        self.python = python
        self.procs: list[subprocess.Popen] = []
        self.address = ""
        self._dir = tempfile.TemporaryDirectory(prefix="market-dask-")
        self.dir = Path(self._dir.name)

    def __enter__(self) -> str:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self.address

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "wb")
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        proc = subprocess.Popen([self.python, "-m", *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        log.close()
        self.procs.append(proc)
        return proc

    def _preload_args(self) -> list[str]:
        return [arg for module in self.preload for arg in ("--preload", module)]

    def logs(self) -> str:
        """The last lines of every process's log (for error messages)."""
        out = []
        for log in sorted(self.dir.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-15:]
            out.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(out)

    def start(self) -> None:
        """Start the scheduler, then the workers; return once all workers have joined."""
        sched_file = self.dir / "scheduler.json"
        sched = self._spawn("scheduler", [
            "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
            "--no-dashboard", "--scheduler-file", str(sched_file), *self._preload_args()])
        deadline = time.monotonic() + self.timeout_s
        while True:
            if sched.poll() is not None:
                raise RuntimeError(f"dask scheduler exited ({sched.returncode})\n{self.logs()}")
            if sched_file.exists():
                try:
                    self.address = json.loads(sched_file.read_text())["address"]
                    break
                except (ValueError, KeyError):
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"dask scheduler did not start in {self.timeout_s} s\n"
                                   f"{self.logs()}")
            time.sleep(0.1)
        for i in range(self.n_workers):
            self._spawn(f"worker-{i}", [
                "distributed.cli.dask_worker", self.address, "--host", "127.0.0.1",
                "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                "--name", f"worker-{i}", "--local-directory", str(self.dir / f"w{i}"),
                *self._preload_args()])
        self.wait_for_workers(deadline)

    def wait_for_workers(self, deadline: float) -> None:
        """Wait until every worker has registered with the scheduler (asked by a subprocess,
        so no Dask client lives in this process)."""
        probe = ("import sys; from distributed import Client\n"
                 f"c = Client({self.address!r}, timeout=30)\n"
                 f"c.wait_for_workers({self.n_workers}, timeout={self.timeout_s})\n"
                 "c.close()")
        remaining = max(1.0, deadline - time.monotonic())
        try:
            subprocess.run([self.python, "-c", probe], check=True, capture_output=True,
                           timeout=remaining, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"dask workers did not join: {exc}\n{self.logs()}") from None
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"a dask process exited ({p.returncode})\n{self.logs()}")

    def close(self, grace_s: float = 10.0) -> None:
        """Terminate every process group (workers first), then remove the temporary folder."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for p in reversed(self.procs):
                if p.poll() is None:
                    try:
                        os.killpg(p.pid, sig)
                    except ProcessLookupError:
                        pass
            end = time.monotonic() + grace_s
            while any(p.poll() is None for p in self.procs) and time.monotonic() < end:
                time.sleep(0.05)
            if all(p.poll() is not None for p in self.procs):
                break
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.procs.clear()
        self._dir.cleanup()
