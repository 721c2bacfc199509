"""Solara's front-end files, prepared once so that the app renders with no internet.

The page that Solara serves loads its JavaScript, CSS and fonts through ``/_solara/cdn/PATH``; the
server answers from the folder named by ``SOLARA_ASSETS_PROXY_CACHE_DIR`` and, for a file that is
not there, fetches ``https://cdn.jsdelivr.net/npm/PATH`` (so without internet the page stays
blank). A jsDelivr path is ``NPM-PACKAGE@VERSION/FILE``: the files are those of the npm package.
``prepare`` therefore fills the folder with the packages the page requests, each fetched with
``npm pack`` from the npm registry (pinned to an exact version and checked against the registry's
sha512 integrity where ``PINNED`` knows the package) and unpacked under the path the page uses.

The list of requested files is read from the installed Solara (its page template and the Vue
templates of the widgets this app uses: the Vega-Lite chart and the grid layout), so an upgraded
Solara that requests other files gets them too (unpinned until ``PINNED`` is updated).

Every start checks the cached packages against their digests (``tree_sha256``: every file's
path and SHA-256): pinned in ``PINNED`` for the packages above, recorded at the first fetch in
``.digests.json`` for any other. A package that does not match (a truncated or edited file) is
fetched again, or the start stops with a one-line error; so no check passes on existence alone.

A fresh machine needs ``npm`` (Node.js) and access to the npm registry once; for the pinned
packages a plain HTTPS download of the same registry tarball is used when ``npm`` is missing.
About 95 MB once unpacked; ``python -c "import market.viz.assets as a; a.main()"`` reports.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PINNED",
    "AssetsError",
    "cache_dir",
    "damaged_packages",
    "is_ready",
    "missing_files",
    "prepare",
    "requested_files",
    "tree_sha256",
]

FONTAWESOME_PATH = "/font-awesome@4.5.0/css/font-awesome.min.css"
"""Solara's default ``SOLARA_ASSETS_FONTAWESOME_PATH``."""
DEFAULT_REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Pinned:
    """An npm package as the page names it (``spec``), its exact version and tarball digest."""

    spec: str
    version: str
    integrity: str
    """npm's sha512 integrity of the tarball, checked when it is fetched."""
    tree_sha256: str = ""
    """``tree_sha256`` of the unpacked folder, checked at every start ("" = recorded at the
    first fetch, like an unpinned package)."""

    @property
    def name(self) -> str:
        """The npm package name (``@scope/name`` or ``name``)."""
        return _split_spec(self.spec)[0]


PINNED: dict[str, Pinned] = {p.spec: p for p in (
    Pinned("@widgetti/solara-vuetify-app@10.1.1", "10.1.1",
           "sha512-Cdu6G7KIBeohT2jyeQUEDr61dhEozY23St+iDwfA3+ZyPZyoIza/nS4W2g8+dbs0Xhb+WQnXlaRI92TLgeY/Jw==",
           "921b298082bd98b6569900b7799507bc716172544071f636d7bd8ebca7a894ff"),
    Pinned("@widgetti/vue-grid-layout@2.3.13-alpha.2", "2.3.13-alpha.2",
           "sha512-zCPKe2r09eLUDl1NcdL66oPELDsbC07Z2xejPiQpPbE8hLITcr0DHvPEdL5UITQQilordKJwcxJXDE/QWo/KUA==",
           "cac3eeacdae984e1196c5908e019d953a8797ad67e0fce9367081fcaac38ce27"),
    Pinned("requirejs@2.3.6", "2.3.6",
           "sha512-ipEzlWQe6RK3jkzikgCupiTbTvm4S0/CAU5GlgptkN5SO6F3u0UD0K18wy6ErDqiCyP4J4YYe1HuAShvsxePLg==",
           "7c16b611d80bd69d25f6d0535d0f0fc84ca6a5c8e39163618fadba51f5c37254"),
    Pinned("font-awesome@4.5.0", "4.5.0",
           "sha512-XGGY8CN/NT8e5fKOC/K7CESNQ3+2oYOfZqwZcKgEMtcmTiHtFIH+XZWRoU0HtcdwhtSkpWXLfTIUlTdJ4PhX8A==",
           "74f617f5b05545bf09c67c655a9b12736451d50ea183ba168f29eb7426a398a9"),
    # the Vega-Lite widget asks for semver ranges; jsDelivr serves the newest match, pinned here
    Pinned("vega@5", "5.33.1",
           "sha512-1fArfVDUqVbb5z8n+/nVQb+VNBzx8svY6CrsyTK4Ujm4yrd9I1auoKxBAPXLCavY1LcrbHUskQbGUP8gXOzyQw==",
           "8b87c6dfa17548e36cb28127f47677584cfc8b6178873462b18b652a049bf047"),
    Pinned("vega-lite@5", "5.23.0",
           "sha512-l4J6+AWE3DIjvovEoHl2LdtCUkfm4zs8Xxx7INwZEAv+XVb6kR6vIN1gt3t2gN2gs/y4DYTs/RPoTeYAuEg6mA==",
           "6228b098e25ccba106b46b4c17e485a5bc11a7ad5f2d466f7c6b9c7078486735"),
    Pinned("vega-embed@6", "6.29.0",
           "sha512-PmlshTLtLFLgWtF/b23T1OwX53AugJ9RZ3qPE2c01VFAbgt3/GSNI/etzA/GzdrkceXFma+FDHNXUppKuM0U6Q==",
           "baa65275359e15b7809838558df385456c39a53266bd84ac1b5bd9a0a402754b"),
)}
"""Packages the page of Solara 1.64 requests, with the versions verified to render the app."""


class AssetsError(RuntimeError):
    """The offline front-end files are missing and cannot be fetched; the message is one line."""


def cache_dir() -> Path:
    """Where the files live: ``$SOLARA_ASSETS_PROXY_CACHE_DIR`` if set, else
    ``$XDG_CACHE_HOME/compute-market/solara-cdn`` (``~/.cache/...``)."""
    explicit = os.environ.get("SOLARA_ASSETS_PROXY_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "compute-market" / "solara-cdn"


def _solara_root() -> Path:
    spec = importlib.util.find_spec("solara")
    if spec is None or not spec.submodule_search_locations:
        raise AssetsError("solara is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _major(package: str, default: int) -> int:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return default
    folder = Path(next(iter(spec.submodule_search_locations)))
    for name in ("_version.py", "__init__.py"):
        path = folder / name
        if path.is_file():
            found = re.search(r"__version__\s*=\s*['\"](\d+)", path.read_text())
            if found:
                return int(found.group(1))
    return default


_TEMPLATE_CDN = re.compile(r"\{\{\s*cdn\s*\}\}/([^\"'\s<>]+)")
_VUE_CDN = re.compile(r"\$\{this\.getCdn\(\)\}/([^`\"'\s]+)")


def requested_files() -> list[str]:
    """Paths under ``/_solara/cdn/`` that the app's page can request (development and
    production variants), read from the installed Solara: its page template (the Vue 2 or the
    Vue 3 variant, as ipyvue decides), the Vega-Lite widget and the grid layout."""
    root = _solara_root()
    widgets = str(_major("ipywidgets", 8))
    vue3 = _major("ipyvue", 1) >= 2
    found: set[str] = set()
    template = (root / "server" / "templates" / "solara.html.j2").read_text()
    for path in _TEMPLATE_CDN.findall(template):
        found.add(path.replace("{{ipywidget_major_version}}", widgets))
    if "assets.fontawesome_path" in template:
        found.add(os.environ.get("SOLARA_ASSETS_FONTAWESOME_PATH", FONTAWESOME_PATH).lstrip("/"))
    grid = "gridlayout_v3.vue" if vue3 else "gridlayout.vue"
    for name in ("vegalite.vue", grid):
        found.update(_VUE_CDN.findall((root / "widgets" / "vue" / name).read_text()))
    unused = "/solara-vuetify-app@" if vue3 else "/solara-vuetify3-app@"
    return sorted(p for p in found if "{" not in p and "@" in p and unused not in p)


def _split_spec(spec: str) -> tuple[str, str]:
    """``@scope/name@range`` or ``name@range`` into name and range."""
    at = spec.rindex("@")
    return spec[:at], spec[at + 1:]


def _spec_of(path: str) -> str:
    """The npm spec a jsDelivr path starts with: ``@scope/name@v`` or ``name@v``."""
    parts = path.split("/")
    return "/".join(parts[:2]) if path.startswith("@") else parts[0]


def missing_files(folder: Path | None = None) -> list[str]:
    """Requested files not in the folder (a ``.min.js`` counts as present when it will be
    made from its ``.js``)."""
    folder = cache_dir() if folder is None else folder
    out = []
    for path in requested_files():
        if (folder / path).is_file():
            continue
        if path.endswith(".min.js") and (folder / path.replace(".min.js", ".js")).is_file():
            continue
        out.append(path)
    return out


def is_ready(folder: Path | None = None) -> bool:
    """Whether every requested file is in the folder and every package matches its digest."""
    return not missing_files(folder) and not damaged_packages(folder)


DIGESTS_FILE = ".digests.json"
"""In the cache folder: ``tree_sha256`` of each package without a pinned one, recorded when it
was fetched (npm checked its tarball against the registry's integrity)."""


def tree_sha256(folder: Path) -> str:
    """SHA-256 over every file of a folder: its relative path and the SHA-256 of its bytes, in
    path order (a changed, truncated, added or removed file changes it)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{path.relative_to(folder).as_posix()}\0{data}\n".encode())
    return digest.hexdigest()


def _recorded(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / DIGESTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _expected(spec: str, recorded: dict[str, str]) -> str:
    pin = PINNED.get(spec)
    return pin.tree_sha256 if pin and pin.tree_sha256 else str(recorded.get(spec, ""))


def damaged_packages(folder: Path | None = None) -> list[str]:
    """Packages in the folder whose files do not match their digest (changed, truncated, or
    never verified)."""
    folder = cache_dir() if folder is None else Path(folder)
    recorded = _recorded(folder)
    specs = sorted({_spec_of(p) for p in requested_files()})
    return [spec for spec in specs if (folder / spec).is_dir()
            and tree_sha256(folder / spec) != _expected(spec, recorded)]


def _record_digests(folder: Path, specs: list[str]) -> None:
    """Record the digest of freshly fetched packages that have no pinned one."""
    todo = [s for s in specs if not (s in PINNED and PINNED[s].tree_sha256)]
    if not todo:
        return
    recorded = _recorded(folder) | {s: tree_sha256(folder / s) for s in todo}
    tmp = folder / f".{DIGESTS_FILE}.tmp"
    tmp.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, folder / DIGESTS_FILE)


def _integrity_ok(data: bytes, integrity: str) -> bool:
    algo, _, digest = integrity.partition("-")
    return base64.b64encode(hashlib.new(algo, data).digest()).decode() == digest


def _npm_pack(spec: str, workdir: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm")
    proc = subprocess.run(
        [npm, "pack", spec, "--pack-destination", str(workdir), "--ignore-scripts", "--silent"],
        cwd=workdir, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise AssetsError(f"npm pack {spec} failed: {last}")
    tarballs = sorted(workdir.glob("*.tgz"))
    if len(tarballs) != 1:
        raise AssetsError(f"npm pack {spec} produced {len(tarballs)} tarballs")
    return tarballs[0]


def _download(pin: Pinned, workdir: Path) -> Path:
    registry = os.environ.get("npm_config_registry", DEFAULT_REGISTRY).rstrip("/")
    base = pin.name.split("/")[-1]
    url = f"{registry}/{pin.name}/-/{base}-{pin.version}.tgz"
    target = workdir / f"{base}-{pin.version}.tgz"
    with urllib.request.urlopen(url, timeout=120) as response:
        target.write_bytes(response.read())
    return target


def _fetch(spec: str, folder: Path, log) -> None:
    """Fetch one package and unpack it at ``folder/spec`` (atomically: unpack, then rename)."""
    pin = PINNED.get(spec)
    exact = f"{pin.name}@{pin.version}" if pin else spec
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as tmp:
        work = Path(tmp)
        log(f"fetching {exact} from the npm registry (for {spec})")
        try:
            tarball = _npm_pack(exact, work)
        except FileNotFoundError:
            if pin is None:
                raise AssetsError(f"{spec} is needed and npm is not installed "
                                  "(install Node.js and npm, e.g. apt-get install npm)") from None
            try:
                tarball = _download(pin, work)
            except OSError as exc:
                raise AssetsError(f"cannot download {exact} from the npm registry ({exc}); "
                                  "install npm or allow access to registry.npmjs.org") from None
        if pin and not _integrity_ok(tarball.read_bytes(), pin.integrity):
            raise AssetsError(f"{exact}: tarball does not match its pinned sha512 integrity")
        unpacked = work / "unpacked"
        with tarfile.open(tarball) as tar:
            tar.extractall(unpacked, filter="data")
        roots = list(unpacked.iterdir())
        if len(roots) != 1 or not roots[0].is_dir():
            raise AssetsError(f"{exact}: unexpected tarball layout")
        target = folder / spec
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # incomplete earlier copy, or another process won the race
            shutil.rmtree(target, ignore_errors=True)
        try:
            roots[0].rename(target)
        except OSError:
            if not target.is_dir():
                raise


def prepare(folder: Path | None = None, *, log=print) -> Path:
    """Make sure every requested file is in ``folder`` (default :func:`cache_dir`); fetch the
    packages that are not. Returns the folder; raises :class:`AssetsError` (one line) when a
    package cannot be fetched."""
    folder = cache_dir() if folder is None else Path(folder)
    for spec in damaged_packages(folder):
        log(f"{spec}: the cached files do not match their digest (changed or truncated); "
            "fetching them again")
        shutil.rmtree(folder / spec)
    missing = missing_files(folder)
    fetched = sorted({_spec_of(p) for p in missing})
    for spec in fetched:
        _fetch(spec, folder, log)
    for path in requested_files():  # jsDelivr minifies on request; npm has only the .js
        target = folder / path
        source = folder / path.replace(".min.js", ".js")
        if path.endswith(".min.js") and not target.exists() and source.is_file():
            shutil.copyfile(source, target)
    _record_digests(folder, fetched)
    still = missing_files(folder)
    if still:
        raise AssetsError(f"offline front-end files still missing in {folder}: "
                          f"{', '.join(still)}")
    bad = damaged_packages(folder)
    if bad:
        raise AssetsError(f"{', '.join(bad)}: the fetched files do not match the pinned digest "
                          "(PINNED in market/viz/assets.py)")
    return folder


def main() -> int:
    """Prepare the files and report (``python -c 'import market.viz.assets as a; a.main()'``)."""
    try:
        folder = prepare()
    except AssetsError as exc:
        print(f"offline assets: {exc}")
        return 1
    print(f"offline assets ready in {folder} ({len(requested_files())} files requested)")
    return 0
