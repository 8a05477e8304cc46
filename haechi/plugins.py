"""One read-only index of Haechi's plugin registries, with each entry's optional dependencies.

Haechi's extension points are seven registries, each kept next to its code (that stays the one
place to register a new plugin):

=================  ===================================================  ==================
registry           where                                                an entry is
=================  ===================================================  ==================
signal_types       ``haechi.signals.SIGNAL_TYPES``                      a ``SignalType``
detectors          ``haechi.assess.DETECTORS``                          a ``Detector``
face_detectors     ``haechi.signals.faces.FACE_DETECTORS``              a ``FaceDetector``
exchange_formats   ``haechi.cases.exchange.EXCHANGES``                  a file format
stores             ``haechi.store.blobs.STORES`` (by URL scheme)        a ``BlobStore``
job_kinds          ``haechi.jobs`` / ``haechi.workers.tasks.JOB_KINDS``  a task body
notice_regimes     ``haechi/cases/templates/notices.yaml`` ``regimes``  lawyer-editable data
=================  ===================================================  ==================

This module only reads them, so they can be discovered from outside the package (``haechi
doctor``, ``tests/contracts/``, a partner's tooling) — python-threatexchange's
``extensions/manifest.py`` plays this part there.

Optional dependencies are declared by the plugin itself, as auto-archiver's module manifests do
(``"dependencies": {"python": [...], "bin": [...]}``): a class attribute ``dependencies`` with
the same two keys. A plugin whose dependency is missing does not stop Haechi — a detector
answers ``unavailable``, a capture runs without its screenshot, an ``s3://`` store refuses to
open with a ``ConfigError`` — so ``haechi doctor`` reports it as "optional, not installed"
rather than as a problem. Presence is checked without importing (``importlib.util.find_spec``;
a program by path or on ``$PATH``), so the index is cheap to build.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

REGISTRIES = ("signal_types", "detectors", "face_detectors", "exchange_formats", "stores", "job_kinds",
              "notice_regimes")

#: what to install for a missing dependency (module or program -> the package that provides it)
INSTALL_HINTS: dict[str, str] = {
    "c2pa": "pip package c2pa-python",
    "onnxruntime": "pip package onnxruntime",
    "dlib": "pip package dlib-bin",
    "av": "pip package av (PyAV)",
    "boto3": "pip install 'haechi[s3]'",
    "cv2": "pip package opencv-python-headless",
    "pywt": "pip package PyWavelets",
    "/usr/bin/chromium": "Debian package chromium (make system-deps)",
}

#: job kinds whose work needs more than the core install (the task bodies live in a door,
#: ``workers/``, so the declaration is kept here)
JOB_KIND_DEPENDENCIES: dict[str, dict[str, tuple[str, ...]]] = {
    # screenshots of captured pages (the WARC capture itself needs no browser)
    "capture": {"bin": ("/usr/bin/chromium",)},
    "crawl": {"bin": ("/usr/bin/chromium",)},
    "watch": {"bin": ("/usr/bin/chromium",)},
}


#: what each job kind does (the task bodies in ``workers/`` carry no docstrings of their own)
JOB_KIND_SUMMARIES: dict[str, str] = {
    "scan": "scan one file against the banks",
    "capture": "capture one URL as evidence (WARC, media, screenshot)",
    "recheck": "check whether a notified item is still up",
    "crawl": "crawl pages from a URL, capturing each",
    "watch": "run one due watch (look for new copies on a watched page)",
}


@dataclass(frozen=True)
class Dependency:
    """A python module (``kind="python"``, the import name) or a program (``kind="bin"``, a path
    or a name looked up on ``$PATH``)."""

    kind: str
    name: str

    def present(self) -> bool:
        if self.kind == "python":
            try:
                return importlib.util.find_spec(self.name) is not None
            except (ImportError, ValueError):
                return False
        if self.kind == "bin":
            return Path(self.name).exists() if "/" in self.name else shutil.which(self.name) is not None
        raise ValueError(f"unknown dependency kind {self.kind!r} (python or bin)")

    def __str__(self) -> str:
        what = f"python module {self.name}" if self.kind == "python" else f"program {self.name}"
        hint = INSTALL_HINTS.get(self.name)
        return f"{what} ({hint})" if hint else what


@dataclass(frozen=True)
class Plugin:
    registry: str
    name: str
    summary: str
    dependencies: tuple[Dependency, ...] = ()

    def missing(self) -> tuple[Dependency, ...]:
        return tuple(d for d in self.dependencies if not d.present())

    def public(self) -> dict[str, Any]:
        missing = self.missing()
        return {"registry": self.registry, "name": self.name, "summary": self.summary,
                "dependencies": [str(d) for d in self.dependencies],
                "missing": [str(d) for d in missing]}


def declared(obj: Any) -> tuple[Dependency, ...]:
    """The ``dependencies`` an object declares (``{"python": [...], "bin": [...]}``)."""
    spec = getattr(obj, "dependencies", None) or {}
    if not isinstance(spec, Mapping) or not set(spec) <= {"python", "bin"}:
        raise TypeError(f"{obj!r}: dependencies must be a mapping with keys python and bin")
    return tuple(Dependency(kind, name) for kind in ("python", "bin") for name in spec.get(kind, ()))


def _summary(obj: Any) -> str:
    """The first paragraph of the object's docstring, else of its module's (at most 200 chars)."""
    import sys

    doc = (getattr(obj, "__doc__", None) or "").strip()
    if not doc or doc == (type(obj).__doc__ or "").strip() and not isinstance(obj, type):
        module = sys.modules.get(getattr(obj, "__module__", "") or "")
        doc = doc or ((module.__doc__ or "") if module else "").strip()
    text = " ".join(doc.split("\n\n")[0].split())
    return text if len(text) <= 200 else text[:199] + "…"


# -- the registries, read-only --------------------------------------------------------------------

def signal_types() -> Mapping[str, Any]:
    from haechi.signals import SIGNAL_TYPES

    return MappingProxyType(SIGNAL_TYPES)


def detectors() -> Mapping[str, Any]:
    from haechi.assess import DETECTORS

    return MappingProxyType({d.name: d for d in DETECTORS})


def face_detectors() -> Mapping[str, Any]:
    from haechi.signals.faces import FACE_DETECTORS

    return MappingProxyType(FACE_DETECTORS)


def exchange_formats() -> Mapping[str, Any]:
    from haechi.cases.exchange import EXCHANGES

    return MappingProxyType(EXCHANGES)


def stores() -> Mapping[str, Any]:
    from haechi.store.blobs import STORES

    return MappingProxyType(STORES)


def job_kinds() -> Mapping[str, Any]:
    """Job kind -> task body. Read from ``haechi.jobs`` when it exists (its ``KINDS`` or
    ``JOB_KINDS``), else from ``haechi.workers.tasks.JOB_KINDS``; imported only when asked
    (Celery is not needed to list the other registries)."""
    for module, names in (("haechi.jobs", ("KINDS", "JOB_KINDS")), ("haechi.workers.tasks", ("JOB_KINDS",))):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        for name in names:
            kinds = getattr(mod, name, None)
            if isinstance(kinds, Mapping):
                return MappingProxyType(dict(kinds))
            if isinstance(kinds, (tuple, list)):
                return MappingProxyType(dict.fromkeys(kinds))
            if isinstance(kinds, (set, frozenset)):
                return MappingProxyType(dict.fromkeys(sorted(kinds)))
    raise LookupError("no job kind registry found (haechi.jobs or haechi.workers.tasks)")


def notice_regimes() -> Mapping[str, Any]:
    from haechi.cases.service import templates

    return MappingProxyType(dict(templates()["regimes"]))


def registry(name: str) -> Mapping[str, Any]:
    """One registry by name (see :data:`REGISTRIES`)."""
    if name not in REGISTRIES:
        raise ValueError(f"unknown registry {name!r} (one of {', '.join(REGISTRIES)})")
    loaded: Mapping[str, Any] = globals()[name]()
    return loaded


# -- the index -------------------------------------------------------------------------------------

def index(names: tuple[str, ...] = REGISTRIES) -> list[Plugin]:
    """Every registered plugin with its declared dependencies, registry by registry."""
    out: list[Plugin] = []
    for reg in names:
        for key, obj in registry(reg).items():
            if reg == "signal_types":
                summary = f"content types: {', '.join(obj.content_types)}"
            elif reg == "notice_regimes":
                summary = str(obj.get("name", ""))
            elif reg == "job_kinds":
                summary = JOB_KIND_SUMMARIES.get(key) or _summary(obj)
            elif reg == "face_detectors":
                summary = obj.summary
            else:
                summary = _summary(type(obj) if reg in ("detectors", "exchange_formats") else obj)
            deps = (tuple(Dependency(kind, n) for kind, ns in JOB_KIND_DEPENDENCIES.get(key, {}).items() for n in ns)
                    if reg == "job_kinds" else () if reg == "notice_regimes" else declared(obj))
            out.append(Plugin(reg, str(key), summary, deps))
    return out


def missing_dependencies(plugins: list[Plugin] | None = None) -> dict[Dependency, list[Plugin]]:
    """Each missing dependency with the plugins that need it (for ``haechi doctor``)."""
    out: dict[Dependency, list[Plugin]] = {}
    for plugin in index() if plugins is None else plugins:
        for dep in plugin.missing():
            out.setdefault(dep, []).append(plugin)
    return out
