"""One settings object, built once at a door (CLI, library, API) and passed down.

Nothing below the doors reads environment variables: that keeps tests and workers explicit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

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
    #: vPDQ (video): seconds between sampled frames, frames hashed at most, match thresholds
    video_seconds_per_hash: float = 1.0
    video_max_frames: int = 3600
    vpdq_query_match_percent: float = 80.0
    vpdq_compared_match_percent: float = 0.0
    #: cosine similarity for a face match (bench/bench_faces.py ROC; README "Faces")
    face_threshold: float = DEFAULT_FACE_THRESHOLD
    #: Celery broker for distributed work (Redis or RabbitMQ URL); None: everything in-process
    broker_url: str | None = None

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def key_file(self) -> Path:
        return self.home / "secret.key"


def default_home() -> Path:
    """Per-user data directory (``platformdirs``), used when neither --home nor HAECHI_HOME is set."""
    return Path(platformdirs.user_data_dir("haechi", appauthor=False))


def resolve_settings(
    home: str | os.PathLike[str] | None = None,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    **overrides: object,
) -> Settings:
    """Build settings from explicit arguments, then the environment, then defaults.

    Order for the home: argument, ``$HAECHI_HOME``, the platformdirs default.
    Order for the database: argument, ``$HAECHI_DATABASE_URL``, SQLite under the home.
    """
    env = dict(os.environ) if env is None else env
    home_path = Path(home or env.get("HAECHI_HOME") or default_home()).expanduser()
    url = database_url or env.get("HAECHI_DATABASE_URL") or f"sqlite:///{home_path / 'haechi.db'}"
    if "broker_url" not in overrides and env.get("HAECHI_BROKER_URL"):
        overrides["broker_url"] = env["HAECHI_BROKER_URL"]
    if "workers" not in overrides and env.get("HAECHI_WORKERS"):
        overrides["workers"] = int(env["HAECHI_WORKERS"])
    return Settings(home=home_path, database_url=url, **overrides)  # type: ignore[arg-type]
