"""The shape of the code (issue #22), checked on every run so it cannot drift back.

Rooms and the direction of imports (``docs/architecture.md``): doors (``cli``, ``api``, ``web``,
``workers``) → facade (``app``) → use-cases (``services``, ``cases``, ``jobs``, ``runtime``) →
mechanisms (``sources``, ``media``, ``signals``, ``index``, ``store``, ``evidence``, ``assess``)
→ ``errors``/``config``. Every import is read from the syntax tree, function-level ones included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "haechi"
DOORS = ("haechi.cli", "haechi.api", "haechi.web", "haechi.workers")
FACADE = "haechi.app"


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return out


MODULES = _modules()


def _imports(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _in(name: str, rooms: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in rooms)


def _below_doors(name: str) -> bool:
    return not _in(name, (*DOORS, FACADE, "haechi.demo")) and name != "haechi"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _below_doors(m)))
def test_nothing_below_the_doors_imports_the_facade_or_a_door(module: str) -> None:
    upward = {i for i in _imports(MODULES[module]) if _in(i, (*DOORS, FACADE))}
    assert not upward, f"{module} imports {sorted(upward)} — use-cases take a Runtime, never Haechi"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, DOORS) or m == FACADE))
def test_doors_and_the_facade_hold_no_orm_queries(module: str) -> None:
    tree = MODULES[module]
    queries = [node.lineno for node in ast.walk(tree)
               if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id in ("select", "delete", "update", "insert")]
    orm = {i for i in _imports(tree) if i.startswith("sqlalchemy") and not i.startswith("sqlalchemy.exc")}
    assert not queries and not orm, f"{module}: queries at lines {queries}, imports {sorted(orm)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, DOORS)))
def test_doors_open_no_database_sessions(module: str) -> None:
    """A door calls the facade; it never opens a transaction itself (``h.db.session()``)."""
    opened = [node.lineno for node in ast.walk(MODULES[module])
              if isinstance(node, ast.Attribute) and node.attr == "session"
              and isinstance(node.value, ast.Attribute) and node.value.attr == "db"]
    assert not opened, f"{module} opens database sessions at lines {opened}: add a facade method"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_config_and_the_cli_read_the_environment(module: str) -> None:
    if module == "haechi.config" or _in(module, ("haechi.cli",)):
        return
    reads = [node.lineno for node in ast.walk(MODULES[module])
             if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
             and isinstance(node.value, ast.Name) and node.value.id == "os"]
    assert not reads, f"{module} reads os.environ at lines {reads}: add a Settings field in config.py"


def test_the_facade_is_a_thin_delegation() -> None:
    """About five lines per operation (signature, docstring, one-line body, blank) and no method
    with logic of its own: the use-cases live below."""
    source = (ROOT / "app.py").read_text(encoding="utf-8").splitlines()
    cls = next(n for n in MODULES[FACADE].body if isinstance(n, ast.ClassDef) and n.name == "Haechi")
    methods = [f for f in cls.body if isinstance(f, ast.FunctionDef)]
    assert len(source) <= 60 + 5 * len(methods), f"app.py: {len(source)} lines for {len(methods)} methods"
    long = [f.name for f in methods if len([s for s in f.body if not isinstance(s, ast.Expr)]) > 4]
    assert not long, f"facade methods with logic of their own: {long}"


def test_job_kinds_have_bodies_and_bodies_have_kinds() -> None:
    from haechi.jobs import KINDS
    from haechi.workers.tasks import JOB_KINDS

    assert set(KINDS) == set(JOB_KINDS)
