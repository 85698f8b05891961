"""The checks of `make lint` can fail: each is run on a copy of the package with one deliberate
violation and must name it; and the base install imports no role extra's package."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# What only a role's extra installs (pyproject.toml's [project.optional-dependencies]), and
# the modules allowed to import it, inside a function, where its feature is used.
EXTRAS = {
    "matplotlib": {"corral/sim/report.py"},
    "numpy": {"corral/sim/report.py"},
    "rich": {"corral/sim/cli.py"},
    "psycopg": set(),
    "pymysql": set(),
}


def _copy(tmp_path: Path) -> Path:
    """A copy of pyproject.toml and src/corral to break, without caches."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src" / "corral", tmp_path / "src" / "corral",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return tmp_path


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    return subprocess.run([str(BIN / "lint-imports"), "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_contracts_hold_on_the_tree() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("where", "line", "contract"), [
    # every clock, module-level: a plain `import time` in the core
    ("core/_violation.py", "import time\n", "the pure core does no I/O"),
    ("model/_violation.py", "import random\n", "the pure core does no I/O"),
    ("core/_violation.py", "import os\n", "the pure core does no I/O"),
    # indirect: a command imports a module of its own family that loads the core
    ("cli/slurm/_helper.py", "import corral.core.pool\n", "commands stay lean"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, where: str, line: str,
                                                contract: str) -> None:
    tree = _copy(tmp_path)
    (tree / "src" / "corral" / where).write_text(line)
    if where.startswith("cli/"):
        # srun reaches the core only through another module: the contract has no
        # allow_indirect_imports, so the chain is still caught.
        srun = tree / "src" / "corral" / "cli" / "slurm" / "srun.py"
        srun.write_text(srun.read_text() + "\nfrom corral.cli.slurm import _helper  # noqa\n")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout, result.stdout
    module = "corral." + where.removesuffix(".py").replace("/", ".")
    assert module in result.stdout


def test_mypy_fails_on_a_type_error_in_the_core(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    bad = tree / "src" / "corral" / "core" / "_violation.py"
    bad.write_text("def half(n):\n    return n // 2\n\n\nX: int = 'one'\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--config-file",
         str(tree / "pyproject.toml"), "src/corral/core/_violation.py"],
        cwd=tree, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    # strict in the core: an unannotated function is an error, and so is the wrong type
    assert "_violation.py:1: error: Function is missing a type annotation" in result.stdout
    assert "_violation.py:5: error: Incompatible types in assignment" in result.stdout


def _top_level_imports(path: Path) -> set[str]:
    """The packages a module imports when it is loaded (not inside a function, nor only
    for type checking)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return names


def test_the_base_install_imports_no_extra() -> None:
    src = ROOT / "src"
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        text = path.read_text()
        for package, allowed in EXTRAS.items():
            if package not in text:
                continue
            assert package not in _top_level_imports(path), f"{rel} imports {package} at load"
            tree = ast.parse(text)
            imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                        if isinstance(node, ast.Import) for alias in node.names}
            imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                         if isinstance(node, ast.ImportFrom) and node.module and not node.level}
            if package in imported:
                assert rel in allowed, f"{rel} imports {package}, which only an extra installs"
