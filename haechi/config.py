"""One settings object, built once at a door (CLI, library, API, worker) and passed down.

Every ``HAECHI_*`` environment variable is read here, once, by :func:`resolve_settings`; nothing
else below the doors reads the environment (``tests/test_layers.py`` holds that), which keeps
tests and workers explicit. Precedence for each setting: argument, ``$HAECHI_<NAME>``, the TOML
config file, the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

#: PDQ matching threshold used by HMA and ThreatExchange (Hamming distance over 256 bits).
DEFAULT_PDQ_THRESHOLD = 31
#: PDQ quality below which a hash is unreliable (HMA / ThreatExchange convention).
DEFAULT_QUALITY_FLOOR = 50
#: Largest image we decode (pixels); above it a file is treated as a decompression bomb.
DEFAULT_MAX_PIXELS = 80_000_000
#: Cosine similarity of L2-normalised dlib face embeddings at or above which a face is reported
#: as a possible match — chosen from the ROC measured by bench/bench_faces.py (README "Faces").
DEFAULT_FACE_THRESHOLD = 0.92
#: Largest single file or archive member read into memory (bytes).
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
#: Largest video file (bytes): videos are streamed from disk, never read whole into memory.
DEFAULT_MAX_VIDEO_BYTES = 16 * 1024 * 1024 * 1024
#: Largest total uncompressed size read from one archive (bytes).
DEFAULT_MAX_ARCHIVE_BYTES = 4 * 1024 * 1024 * 1024
#: Largest ratio of uncompressed to compressed size for one zip member (zip-bomb guard).
DEFAULT_MAX_COMPRESSION_RATIO = 200


@dataclass(frozen=True)
class Settings:
    """Runtime settings for one Haechi instance."""

    home: Path
    database_url: str
    pdq_threshold: int = DEFAULT_PDQ_THRESHOLD
    quality_floor: int = DEFAULT_QUALITY_FLOOR
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES
    max_video_bytes: int = DEFAULT_MAX_VIDEO_BYTES
    max_compression_ratio: int = DEFAULT_MAX_COMPRESSION_RATIO
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    local_features: bool = True
    #: scans search the pictures inside an image (album tiles, a screenshot's photo) on their own
    #: and spread keypoints over the frame (issue #20); off only to measure what it costs
    composite_search: bool = True
    #: vPDQ (video): seconds between sampled frames, frames hashed at most, match thresholds
    video_seconds_per_hash: float = 1.0
    video_max_frames: int = 3600
    vpdq_query_match_percent: float = 80.0
    vpdq_compared_match_percent: float = 0.0
    #: cosine similarity for a face match (bench/bench_faces.py ROC; README "Faces")
    face_threshold: float = DEFAULT_FACE_THRESHOLD
    #: Celery broker for distributed work (Redis or RabbitMQ URL); None: everything in-process
    broker_url: str | None = None
    #: where evidence artefacts are stored (haechi.store.blobs): None = <home>/evidence,
    #: file:///path, or s3://bucket/prefix (with s3_endpoint_url for a non-AWS server)
    storage_url: str | None = None
    s3_endpoint_url: str | None = None
    #: evidence artefacts sealed at rest with the home's key (haechi.store.sealed); off only for a
    #: deliberate plaintext store, e.g. a court's offline copy
    encrypt_evidence: bool = True
    #: Fernet key(s) ("new,old" while rotating) instead of <home>/secret.key; never printed
    secret_key: str | None = field(default=None, repr=False)
    #: who notices come from (a centre's identity; issue #18 makes it required configuration)
    sender_name: str = "Deletion support team"
    sender_org: str = "Digital sex crime victim support centre"
    sender_email: str = "takedown@example.org"
    #: the rest of the centre's identity (haechi/cases/templates/README.md): the signer's phone and
    #: role, the legal basis the centre acts on (a key of ``bases`` in notices.yaml), a designated
    #: body's registration number, and names per language (JSON/TOML table {"ko": {"name", "org"}})
    sender_phone: str = ""
    sender_role: str = ""
    sender_basis: str = ""
    sender_registration: str = ""
    sender_local: str = ""
    #: a centre with one caseworker may let the drafter approve (four-eyes off, said in the log)
    single_person_centre: bool = False
    #: originals one reviewer may reveal per UTC day in the web review queue (0: no limit; the
    #: day's count is always shown to her)
    review_daily_limit: int = 0
    #: EU notices: the Member State whose law is cited (ISO code, e.g. DE) and the centre's
    #: trusted-flagger status under DSA Art. 22 (e.g. "awarded by Coimisiun na Mean, 2025-03-01")
    eu_member_state: str = ""
    trusted_flagger: str = ""
    #: removed items are re-checked this many days after removal, then every `..._then_every` days
    recheck_removed_days: str = "1,7,30"
    recheck_removed_then_every: int = 30
    #: RFC 3161 timestamp authority (URL) and its certificate (PEM path) for evidence
    tsa_url: str | None = None
    tsa_cert: str | None = None
    #: RDAP bootstrap base URL for abuse contacts (None: the public IANA-bootstrapped service)
    rdap_url: str | None = None
    #: dlib's CNN face detector (slow; finds full profiles the HOG detector misses)
    face_cnn: bool = False
    #: face detector: "hog" (dlib, default) or "blazeface" (pip install 'haechi[blazeface]'; bench/faces.md)
    face_detector: str = "hog"
    #: Celery queue name, Redis visibility timeout (s), beat periods (s)
    queue: str = "haechi"
    visibility_timeout: int = 3600
    recheck_every: float = 6 * 3600.0
    watch_poll_every: float = 300.0
    #: let user-given URLs reach private addresses (test labs only: SSRF protection off)
    allow_private_urls: bool = False
    #: test hooks: seconds a worker sleeps before / after a task (SIGKILL tests)
    test_task_delay: float = 0.0
    test_task_delay_after: float = 0.0
    #: API: response shape of the HMA routes when a request does not ask (``hma`` or ``legacy``)
    hma_api_format: str = "hma"
    #: API: comma-separated CIDRs whose requests without a token act as a partner (HMA clients
    #: send none). Off by default: anyone who can send from these addresses can look up and hash
    hma_trusted_networks: str | None = None
    #: reverse proxies whose X-Forwarded-For is believed (comma-separated addresses); none by
    #: default: otherwise any client could rotate that header past every per-address limit
    trusted_proxies: str = ""
    #: where login, self-service and case-creation throttles are counted: a Redis URL shared by
    #: every server process (default: ``broker_url`` when it is Redis), ``memory://`` per process
    throttle_url: str | None = None
    #: API: media a request sends or names is decoded and hashed in a pool of this many worker
    #: processes per server process (0: in the serving process, as before — benchmarks only); at
    #: most ``hash_pool_queue`` more uploads wait for a worker (beyond: 503 + Retry-After); a
    #: file still decoding after ``hash_time_limit`` seconds is stopped, its worker replaced (422).
    #: Default: this process's share of the cores (:func:`default_hash_pool_workers`)
    hash_pool_workers: int = field(default_factory=lambda: default_hash_pool_workers())
    hash_pool_queue: int = 8
    hash_time_limit: float = 60.0

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def key_file(self) -> Path:
        return self.home / "secret.key"


#: set by ``haechi serve --workers N`` for the processes it starts (read by
#: :func:`default_hash_pool_workers`)
SERVER_PROCESSES_ENV = "HAECHI_SERVER_PROCESSES"


def default_hash_pool_workers(server_processes: int | None = None) -> int:
    """Hashing-pool workers for one server process: the cores it may run on (CPU affinity)
    divided among the ``server_processes`` serving processes (default: ``$HAECHI_SERVER_PROCESSES``,
    else 1), at least one.

    Why a share and not every core: each of ``serve --workers N``'s processes has its own pool,
    so N pools of ``cores`` workers would start N × cores decoders — more than the machine can
    run at once, each holding up to a pixel-capped image in memory. With the share, the server
    as a whole decodes on every core, one file per core, whether it runs one process or N."""
    if server_processes is None:
        try:
            server_processes = int(os.environ.get(SERVER_PROCESSES_ENV, "") or 1)
        except ValueError:
            server_processes = 1
    return max(1, _cores() // max(1, server_processes))


def _cores() -> int:
    """Cores this process may run on: its CPU affinity (else the machine's count), lowered to a
    container's CPU quota (cgroup v2 ``cpu.max``, rounded up) — a container limited to 2 CPUs on
    a 64-core host would otherwise start 64 decoders per server process."""
    try:
        cores = len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(cores, quota)) if quota else cores


def _cgroup_cpu_quota(path: str = "/sys/fs/cgroup/cpu.max") -> int | None:
    """CPUs allowed by the cgroup v2 quota at ``path`` (``"200000 100000"`` -> 2; ``max`` or no
    file -> None)."""
    try:
        with open(path) as fh:
            quota, period = fh.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, -(-int(quota) // int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def default_home() -> Path:
    """Per-user data directory (``platformdirs``), used when neither --home nor HAECHI_HOME is set."""
    return Path(platformdirs.user_data_dir("haechi", appauthor=False))


def _flag(raw: object) -> bool:
    """A boolean from TOML (true/false) or the environment (1/true/yes/on, 0/false/no/off)."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(raw)


def _json_table(raw: object) -> str:
    """A table from TOML (a dict) or the environment (JSON text), kept as canonical JSON text."""
    import json

    value = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(value, dict):
        raise ValueError(raw)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


#: settings a config file or the environment may set (HAECHI_<NAME> upper-case), with their types
_SETTABLE: dict[str, Any] = {
    "pdq_threshold": int, "quality_floor": int, "max_pixels": int, "max_file_bytes": int, "max_archive_bytes": int,
    "max_video_bytes": int, "workers": int, "face_threshold": float, "broker_url": str, "storage_url": str,
    "s3_endpoint_url": str, "encrypt_evidence": _flag,
    "video_seconds_per_hash": float, "video_max_frames": int, "local_features": _flag, "composite_search": _flag,
    "sender_name": str, "sender_org": str, "sender_email": str, "tsa_url": str, "tsa_cert": str, "rdap_url": str,
    "face_cnn": _flag, "face_detector": str, "queue": str, "visibility_timeout": int, "recheck_every": float,
    "watch_poll_every": float,
    "allow_private_urls": _flag, "test_task_delay": float, "test_task_delay_after": float,
    "sender_phone": str, "sender_role": str, "sender_basis": str, "sender_registration": str,
    "sender_local": _json_table, "single_person_centre": _flag, "eu_member_state": str, "trusted_flagger": str,
    "recheck_removed_days": str, "recheck_removed_then_every": int,
    "hma_api_format": str, "hma_trusted_networks": str, "trusted_proxies": str,
    "throttle_url": str, "review_daily_limit": int,
    "hash_pool_workers": int, "hash_pool_queue": int, "hash_time_limit": float,
}
#: settings only the environment may set: a secret never sits in a config file
_ENV_ONLY: dict[str, Any] = {"secret_key": str}


def _type_name(kind: Any) -> str:
    return "a boolean" if kind is _flag else kind.__name__


def load_config_file(path: Path) -> dict[str, object]:
    """Settings from a TOML file (``[haechi]`` table or top level); unknown keys are an error,
    so a typo never silently falls back to a default."""
    import tomllib

    from haechi.errors import ConfigError

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    table = data.get("haechi", data)
    out: dict[str, object] = {}
    for key, value in table.items():
        if key in ("home", "database_url"):
            out[key] = str(value)
            continue
        if key not in _SETTABLE:
            raise ConfigError(f"{path}: unknown setting {key!r} (known: {', '.join(sorted(_SETTABLE))})")
        try:
            out[key] = _SETTABLE[key](value)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: {key} must be {_type_name(_SETTABLE[key])}, got {value!r}") from None
    return out


def resolve_settings(
    home: str | os.PathLike[str] | None = None,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    **overrides: object,
) -> Settings:
    """Build settings from explicit arguments, then the environment, then defaults.

    Every setting: argument, then ``$HAECHI_<NAME>``, then the config file (``$HAECHI_CONFIG``,
    else ``<home>/haechi.toml`` when present), then the default. The home: argument,
    ``$HAECHI_HOME``, the config file named by ``$HAECHI_CONFIG``, the platformdirs default. The
    database: argument, ``$HAECHI_DATABASE_URL``, config file, SQLite under the home.
    """
    from haechi.errors import ConfigError

    env = dict(os.environ) if env is None else env
    explicit = env.get("HAECHI_CONFIG")
    file_cfg = load_config_file(Path(explicit).expanduser()) if explicit else {}
    home_path = Path(home or env.get("HAECHI_HOME") or str(file_cfg.get("home") or "") or default_home()).expanduser()
    if not explicit and (home_path / "haechi.toml").is_file():
        file_cfg = load_config_file(home_path / "haechi.toml")
    url = (database_url or env.get("HAECHI_DATABASE_URL") or str(file_cfg.get("database_url") or "")
           or f"sqlite:///{home_path / 'haechi.db'}")
    for name, kind in {**_SETTABLE, **_ENV_ONLY}.items():
        if name in overrides:
            continue
        raw = env.get(f"HAECHI_{name.upper()}")
        if raw:
            try:
                overrides[name] = kind(raw)
            except ValueError:
                raise ConfigError(f"HAECHI_{name.upper()} must be {_type_name(kind)}, got "
                                  f"{'(hidden)' if name in _ENV_ONLY else repr(raw)}") from None
        elif name in file_cfg:
            overrides[name] = file_cfg[name]
    return Settings(home=home_path, database_url=url, **overrides)  # type: ignore[arg-type]
