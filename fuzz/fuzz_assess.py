"""C2PA and generator-metadata parsing of hostile files (the assessment never raises)."""
import atheris

with atheris.instrument_imports():
    from haechi.assess.run import AssessOptions, assess_ref
    from haechi.sources import MediaRef

from _common import run

OPTS = AssessOptions(max_pixels=4_000_000, max_file_bytes=2_000_000)


def one(data: bytes) -> None:
    out = assess_ref(MediaRef(path="fuzz", data=data), OPTS)
    assert out["error"] is not None or out["verdict"] is not None


if __name__ == "__main__":
    run(one)
