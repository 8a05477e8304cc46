"""HTML media and link extraction."""
import atheris

with atheris.instrument_imports():
    from haechi.sources.html_media import extract

from _common import run


def one(data: bytes) -> None:
    extract(data.decode("utf-8", "replace"), "https://site.example/a/b")


if __name__ == "__main__":
    run(one)
