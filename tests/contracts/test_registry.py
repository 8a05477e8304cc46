"""The plugin index itself: every registry is listed, names are unique, dependencies are well
formed, and ``haechi doctor`` treats a missing optional dependency as optional (exit 0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from haechi import plugins


def test_every_registry_is_indexed_with_unique_names() -> None:
    entries = plugins.index()
    assert {p.registry for p in entries} == set(plugins.REGISTRIES)
    for reg in plugins.REGISTRIES:
        names = [p.name for p in entries if p.registry == reg]
        assert names and len(names) == len(set(names)), reg
        assert names == [str(k) for k in plugins.registry(reg)]


def test_registries_are_read_only() -> None:
    with pytest.raises(TypeError):
        plugins.signal_types()["new"] = object  # type: ignore[index]


def test_declared_dependencies_are_well_formed() -> None:
    for p in plugins.index():
        for dep in p.dependencies:
            assert dep.kind in ("python", "bin"), p
            assert isinstance(dep.present(), bool)
            assert dep.name in str(dep)
    with pytest.raises(ValueError):
        plugins.registry("nope")

    class Broken:
        dependencies = {"pip": ("x",)}

    with pytest.raises(TypeError):
        plugins.declared(Broken())


def test_presence_is_real() -> None:
    assert plugins.Dependency("python", "json").present()
    assert not plugins.Dependency("python", "haechi_no_such_module_xyz").present()
    assert not plugins.Dependency("bin", "/nonexistent/haechi-browser").present()
    assert plugins.Dependency("bin", "sh").present()


def test_job_kinds_come_from_the_job_registry() -> None:
    kinds = plugins.job_kinds()
    assert {"scan", "capture", "recheck", "crawl", "watch"} <= set(kinds)
    assert set(plugins.JOB_KIND_SUMMARIES) >= set(kinds), "describe the new job kind in JOB_KIND_SUMMARIES"


def test_doctor_reports_a_missing_optional_dependency_as_optional(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from haechi.cli.main import app

    monkeypatch.setitem(plugins.JOB_KIND_DEPENDENCIES, "scan", {"bin": ("/nonexistent/haechi-test-browser",)})
    result = CliRunner().invoke(app, ["doctor", "--json", "--home", str(tmp_path / "h")],
                                env={"HAECHI_BROKER_URL": None})
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    (row,) = [r for r in rows if r["check"] == "optional: /nonexistent/haechi-test-browser"]
    assert row["optional"] and row["status"] == "optional, not installed" and "job kind scan" in row["detail"]
    assert result.exit_code == 0, result.output
    assert {r["check"] for r in rows} >= {f"plugins: {reg.replace('_', ' ')}" for reg in plugins.REGISTRIES}
