"""``compute-market viz``: the market in the browser (Solara, built on Mesa's ``SolaraViz``).

``cli(argv)`` prepares the offline front-end files (``market.viz.assets``), starts ``solara run
market.viz.app`` in a child process bound to ``--host`` (default 127.0.0.1) and ``--port``
(default 8765; 0 picks a free port), waits until it answers, prints the URL and serves until
interrupted. The page itself is ``market.viz.app`` (``solara run market.viz.app`` works too, with
``SOLARA_ASSETS_PROXY_CACHE_DIR`` pointing at the prepared folder for offline use).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

__all__ = ["cli", "server_command", "server_env"]

DEFAULT_PORT = 8765
READY_TIMEOUT_S = 120.0


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_env(assets_dir: str | os.PathLike | None) -> dict[str, str]:
    """The environment of the server process: the offline folder, no telemetry, no warning
    about plain-http cookies."""
    env = dict(os.environ)
    env.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "false")
    # plain http on this machine: solara falls back to samesite=lax cookies, and says so at length
    quiet = "ignore:Cookies with samesite=none require https:UserWarning"
    env["PYTHONWARNINGS"] = ",".join(w for w in (env.get("PYTHONWARNINGS"), quiet) if w)
    if assets_dir is not None:
        env["SOLARA_ASSETS_PROXY"] = "true"
        env["SOLARA_ASSETS_PROXY_CACHE_DIR"] = str(assets_dir)
    return env


def server_command(host: str, port: int) -> list[str]:
    """``solara run market.viz.app`` with this interpreter, no browser, no version check."""
    return [sys.executable, "-m", "solara", "run", "market.viz.app", "--host", host,
            "--port", str(port), "--production", "--no-open", "--no-check-version",
            "--log-level", "warning"]


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _wait_ready(url: str, proc: subprocess.Popen, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


def cli(argv: list[str]) -> int:
    """Run ``compute-market viz [--port P] [--host H]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="compute-market viz",
        description="Start the browser app (Solara) and print its local URL.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to serve on (default {DEFAULT_PORT}; 0 = a free port)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--assets-dir", default=None,
                        help="folder of the offline front-end files (default: "
                             "$SOLARA_ASSETS_PROXY_CACHE_DIR or ~/.cache/compute-market/solara-cdn)")
    parser.add_argument("--prepare-only", action="store_true",
                        help="only fetch the offline front-end files, then exit")
    args = parser.parse_args(argv)

    from market.viz import assets

    try:
        folder = assets.prepare(args.assets_dir and os.path.expanduser(args.assets_dir),
                                log=lambda msg: print(f"compute-market viz: {msg}",
                                                      file=sys.stderr, flush=True))
    except assets.AssetsError as exc:
        print(f"compute-market viz: offline front-end files missing: {exc}", file=sys.stderr)
        return 2
    if args.prepare_only:
        print(f"compute-market viz: offline front-end files ready in {folder}")
        return 0

    port = _free_port(args.host) if args.port == 0 else args.port
    local = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    url = f"http://{local}:{port}/"
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)  # stop the server too
    proc = subprocess.Popen(server_command(args.host, port), env=server_env(folder))
    try:
        if not _wait_ready(url, proc, READY_TIMEOUT_S):
            print(f"compute-market viz: the server did not start on {url}", file=sys.stderr)
            proc.terminate()
            proc.wait(timeout=10)
            return proc.returncode or 1
        print(f"compute-market viz: serving at {url} (Ctrl-C to stop)", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
