"""dvc.yaml stays honest: every package module a stage's script imports is in that stage's deps.

DVC reruns a stage only when one of its deps changes, so a module the stage imports but does
not list can change the stage's results without DVC noticing. The imports are collected from
the source with ``ast`` (no code runs): transitively, relative imports resolved,
``from deblurflow.x import y`` counting ``deblurflow/x/y.py`` when y is a submodule, every
imported package counting its ``__init__.py``, imports under ``if TYPE_CHECKING:`` left out.
A package whose ``__init__`` loads names lazily (a module ``__getattr__``) counts all its
submodules for ``from package import name``. A folder in deps covers every file under it.
A slow cross-check imports each script and compares with the modules really loaded.
"""

from __future__ import annotations

import ast
import copy
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = "deblurflow"
# Modules deliberately left out of every stage's deps, with the reason (README, "departures").
EXEMPT = {
    "src/deblurflow/params.py": "the params loader; each stage tracks its values via `params:`, "
    "so adding a training param does not rerun the data stages",
}


def module_file(name: str, src: Path = SRC) -> Path | None:
    """The file of module ``name`` (``a.b`` -> src/a/b.py or src/a/b/__init__.py), or None."""
    base = src.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` -> [a, a.b, a.b.c]: importing a module runs its packages' __init__ first."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _lazy_submodules(package: str, src: Path) -> list[str]:
    """All submodules of ``package`` when its __init__ defines a module ``__getattr__``, else []."""
    init = module_file(package, src)
    if init is None or init.name != "__init__.py":
        return []
    tree = ast.parse(init.read_text(), filename=str(init))
    if not any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body):
        return []
    return sorted(
        f"{package}.{p.stem if p.is_file() else p.name}"
        for p in init.parent.iterdir()
        if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()
    )


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):
    """Import and ImportFrom nodes anywhere in ``tree`` (functions too), minus TYPE_CHECKING."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(path: Path, module: str | None, src: Path = SRC) -> set[str]:
    """Package modules (``deblurflow.*``) that ``path`` imports directly, parents included.

    ``module`` is the file's own dotted name (None for a script), to resolve relative imports.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            if node.level:
                if module is None:
                    raise ValueError(f"{path}: relative import outside a package")
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            # `from pkg import name`: name may be a submodule, which the import then loads,
            # or a name that a lazy package loads from any of its submodules.
            names = [base]
            for alias in node.names:
                if module_file(f"{base}.{alias.name}", src) is not None:
                    names.append(f"{base}.{alias.name}")
                else:
                    names.extend(_lazy_submodules(base, src))
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                found.update(_with_parents(name))
    return found


def script_modules(script: Path, src: Path = SRC) -> dict[str, list[str]]:
    """{package module: import chain from the script} of everything ``script`` imports."""
    start = script.relative_to(REPO).as_posix() if script.is_relative_to(REPO) else script.name
    chains: dict[str, list[str]] = {}
    todo = [(name, [start]) for name in sorted(imported_modules(script, None, src))]
    while todo:
        name, chain = todo.pop(0)  # breadth first: the shortest chain explains each module
        if name in chains:
            continue
        path = module_file(name, src)
        if path is None:
            raise ValueError(f"{' -> '.join(chain)} imports {name}, which has no file in {src}")
        chains[name] = [*chain, name]
        todo.extend((sub, chains[name]) for sub in sorted(imported_modules(path, name, src)))
    return chains


def stage_script(cmd: str) -> Path:
    """The Python script a stage's ``cmd`` runs (the first ``*.py`` argument)."""
    for token in shlex.split(cmd):
        if token.endswith(".py"):
            return REPO / token
    raise ValueError(f"no .py script in {cmd!r}")


def _dep_paths(deps: list) -> list[str]:
    out = []
    for dep in deps or []:  # a dep is a path, or {path: {options}}
        out.extend(dep if isinstance(dep, dict) else [dep])
    return [str(d).rstrip("/") for d in out]


def covered(path: str, deps: list[str]) -> bool:
    """Is ``path`` (repo-relative) a dep itself or under a folder dep?"""
    return any(path == dep or path.startswith(dep + "/") for dep in deps)


def missing_deps(dvc: dict) -> dict[str, list[str]]:
    """{stage: ["path (imported via a -> b -> c)", ...]} for every import its deps lack."""
    report: dict[str, list[str]] = {}
    for stage, spec in dvc["stages"].items():
        script = stage_script(spec["cmd"])
        deps = _dep_paths(spec.get("deps"))
        missing = []
        script_rel = script.relative_to(REPO).as_posix()
        if not covered(script_rel, deps):
            missing.append(f"{script_rel} (the stage's own script)")
        for name, chain in sorted(script_modules(script).items()):
            path = module_file(name).relative_to(REPO).as_posix()
            if not covered(path, deps) and path not in EXEMPT:
                missing.append(f"{path} (imported via {' -> '.join(chain)})")
        if missing:
            report[stage] = missing
    return report


def load_dvc() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


# --- the checks --------------------------------------------------------------------------------


def test_every_stage_lists_the_modules_it_imports():
    report = missing_deps(load_dvc())
    lines = [
        f"stage {stage!r} lacks dep {item}" for stage, items in report.items() for item in items
    ]
    assert not lines, "dvc.yaml deps miss imported modules:\n" + "\n".join(lines)


def test_the_checker_reports_a_removed_dep():
    dvc = load_dvc()
    before = missing_deps(dvc)  # empty when dvc.yaml is honest; only the difference counts here
    broken = copy.deepcopy(dvc)
    broken["stages"]["prepare"]["deps"].remove("src/deblurflow/prepare.py")
    added = set(missing_deps(broken).get("prepare", [])) - set(before.get("prepare", []))
    assert added == {
        "src/deblurflow/prepare.py (imported via stages/prepare.py -> deblurflow.prepare)"
    }
    # Removing a folder dep uncovers every module under it that the stage imports.
    broken["stages"]["download"]["deps"].remove("src/deblurflow/sources")
    uncovered = [m.split()[0] for m in missing_deps(broken)["download"]]
    assert "src/deblurflow/sources/__init__.py" in uncovered
    assert "src/deblurflow/sources/download.py" in uncovered  # only reached through gopro.py


def _fake_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_relative_submodule_and_lazy_imports_are_followed(tmp_path):
    src = _fake_package(
        tmp_path / "src",
        {
            "deblurflow/__init__.py": "",
            "deblurflow/a/__init__.py": "",
            "deblurflow/a/b.py": "from ..c import f\nfrom . import d\n",
            "deblurflow/a/d.py": "def g():\n    from deblurflow.e import h  # imported when used\n",
            "deblurflow/c.py": "import os\n",
            "deblurflow/e.py": "",
            "deblurflow/unused.py": "",
        },
    )
    script = tmp_path / "stage.py"
    script.write_text("import json\nfrom deblurflow.a import b\n")
    chains = script_modules(script, src)
    assert set(chains) == {
        "deblurflow", "deblurflow.a", "deblurflow.a.b", "deblurflow.a.d", "deblurflow.c",
        "deblurflow.e",
    }  # fmt: skip
    assert chains["deblurflow.c"] == ["stage.py", "deblurflow.a.b", "deblurflow.c"]


def test_a_lazy_package_counts_all_its_submodules(tmp_path):
    src = _fake_package(
        tmp_path / "src",
        {
            "deblurflow/__init__.py": "",
            "deblurflow/lazy/__init__.py": "def __getattr__(name):\n    ...\n",
            "deblurflow/lazy/one.py": "",
            "deblurflow/lazy/two.py": "",
        },
    )
    script = tmp_path / "stage.py"
    script.write_text("from deblurflow.lazy import thing\n")
    assert set(script_modules(script, src)) == {
        "deblurflow", "deblurflow.lazy", "deblurflow.lazy.one", "deblurflow.lazy.two",
    }  # fmt: skip
    script.write_text("import deblurflow.lazy\n")  # no name taken: nothing loaded lazily
    assert set(script_modules(script, src)) == {"deblurflow", "deblurflow.lazy"}


def test_type_checking_imports_do_not_count(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from deblurflow import metrics\n"
        "from deblurflow import blur\n"
    )
    assert set(script_modules(script)) == {"deblurflow", "deblurflow.blur"}


def test_the_real_download_stage_reaches_the_http_download():
    # `from deblurflow.sources import ...` -> sources/__init__ -> gopro.py -> download.py
    chains = script_modules(REPO / "stages" / "download.py")
    assert chains["deblurflow.sources.download"][-2:] == [
        "deblurflow.sources.gopro", "deblurflow.sources.download",
    ]  # fmt: skip


@pytest.mark.parametrize("dep, ok", [("src/deblurflow/sources", True), ("src/deblurflow/s", False)])
def test_a_folder_dep_covers_its_files(dep, ok):
    assert covered("src/deblurflow/sources/gopro.py", [dep]) is ok


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(load_dvc()["stages"]))
def test_modules_loaded_at_import_time_are_deps_too(stage):
    """Cross-check the static reading: import the script (its main() does not run) and list the
    package modules really loaded, which also catches imports made through importlib."""
    spec = load_dvc()["stages"][stage]
    script = stage_script(spec["cmd"])
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('stage_script', {str(script)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "for name, mod in list(sys.modules.items()):\n"
        f"    if name.split('.')[0] == {PACKAGE!r} and getattr(mod, '__file__', None):\n"
        "        print(mod.__file__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    deps = _dep_paths(spec.get("deps"))
    loaded = [Path(f).resolve() for f in out.stdout.split() if f]
    missing = [
        rel
        for rel in (p.relative_to(REPO).as_posix() for p in loaded if p.is_relative_to(SRC))
        if not covered(rel, deps) and rel not in EXEMPT
    ]
    assert not missing, f"stage {stage!r} loads {missing} at import time but lacks them in deps"
