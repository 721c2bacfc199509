"""``compute-market viz``: the market in the browser (Solara, built on Mesa's ``SolaraViz``).

``cli(argv)`` prepares the offline front-end files (``market.viz.assets``), starts ``solara run
market.viz.app`` in a child process bound to ``--host`` (default 127.0.0.1) and ``--port``
(default 8765; 0 picks a free port), waits until it answers, prints the URL and serves until
interrupted. The page itself is ``market.viz.app`` (``solara run market.viz.app`` works too, with
``SOLARA_ASSETS_PROXY_CACHE_DIR`` pointing at the prepared folder for offline use).
"""

from __future__ import annotations

import argparse
import errno
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
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host.strip("[]"), 0))
        return int(sock.getsockname()[1])


def _port(text: str) -> int:
    """A TCP port number: 0 (a free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65_535:
        raise argparse.ArgumentTypeError(f"{value}: a port is from 0 to 65535")
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine's loopback (127.0.0.0/8, ::1 or localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _remote_problem(host: str, allowed: bool) -> str:
    """Why ``--host`` is refused ("" if it is not): beyond loopback it needs --allow-remote."""
    if is_loopback(host) or allowed:
        return ""
    return (f"--host {host} would serve the app beyond this machine, and the app has no login; "
            "pass --allow-remote as well if that is what you want (or use an SSH tunnel to "
            "127.0.0.1)")


def _check_port(host: str, port: int) -> int:
    """``port`` if a server can listen on it now (OSError otherwise), checked before the URL
    is printed so that a busy port is not mistaken for this app."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind((host.strip("[]"), port))
    return port


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
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT,
                        help=f"port to serve on (default {DEFAULT_PORT}; 0 = a free port)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, this machine only)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host other than this machine's loopback: the app has "
                             "no login, so anyone who reaches the port can use it")
    parser.add_argument("--assets-dir", default=None,
                        help="folder of the offline front-end files (default: "
                             "$SOLARA_ASSETS_PROXY_CACHE_DIR or ~/.cache/compute-market/solara-cdn)")
    parser.add_argument("--prepare-only", action="store_true",
                        help="only fetch the offline front-end files, then exit")
    args = parser.parse_args(argv)
    problem = _remote_problem(args.host, args.allow_remote)
    if problem:
        print(f"compute-market viz: error: {problem}", file=sys.stderr)
        return 2

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

    if not is_loopback(args.host):
        print(f"compute-market viz: warning: listening on {args.host}, beyond this machine; "
              "the app has no login: anyone who can reach the port can run simulations on "
              "this machine. Prefer the default 127.0.0.1 and an SSH tunnel (ssh -L).",
              file=sys.stderr, flush=True)
    try:
        port = _free_port(args.host) if args.port == 0 else _check_port(args.host, args.port)
    except OSError as exc:
        print(f"compute-market viz: error: cannot listen on {args.host} port {args.port}: "
              f"{exc.strerror or exc}" + ("; another server (a second viz?) is using it: pass "
                                          "--port 0 for a free port" if exc.errno ==
                                          errno.EADDRINUSE else ""), file=sys.stderr)
        return 2
    local = "127.0.0.1" if args.host in ("0.0.0.0", "") else (
        f"[{args.host}]" if ":" in args.host else args.host)
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
