"""The package's layers: the model at the bottom imports nothing of ours; the analysis never
reaches down into hosts, the lab or netperf's command line."""

import ast
from pathlib import Path

import vnetbench

PACKAGE = Path(vnetbench.__file__).parent
BOTTOM = {"model", "errors", "atomic", "message_sizes", "stats", "wire", "machine"}
ANALYSIS = {"aggregate", "comparison", "metrics", "plots", "precision", "provenance", "stats", "summary"}
ANALYSIS |= {"change", "change_cli", "change_report", "verdicts", "variants", "load_plots"}
RUNNING = {"broker", "cell", "guests", "guest_image", "hosts", "lifecycle", "netperf", "netserver"}
RUNNING |= {
    "preflight",
    "sshd",
    "testbed",
    "config",
    "sizing",
    "__main__",
    "netns",
    "datapaths",
    "blocks",
    "lab",
    "uml",
    "noxstate",
    "gvisor",
    "ebpf",
    "load",
    "slurm_lab",
}


def imports_of(module: str) -> set[str]:
    """The package's own modules that `module` imports at run time (relative imports only: the
    package never imports itself by name; a type named under TYPE_CHECKING is no dependency)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    tree.body = [node for node in tree.body if not _type_checking_only(node)]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module]
            assert not any(name and name.startswith("vnetbench") for name in names), module
    return found


def _type_checking_only(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def test_every_module_is_in_a_layer():
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules <= BOTTOM | ANALYSIS | RUNNING | {"records", "order"}, (
        modules - BOTTOM - ANALYSIS - RUNNING
    )


def test_the_model_at_the_bottom_imports_none_of_the_package():
    for module in BOTTOM:
        assert imports_of(module) <= {"errors"}, module
    # Not even a type of the lab's, under TYPE_CHECKING.
    assert "TYPE_CHECKING" not in (PACKAGE / "model.py").read_text()


def test_the_analysis_never_imports_hosts_the_lab_or_netperf():
    for module in ANALYSIS:
        assert not imports_of(module) & RUNNING, (module, imports_of(module) & RUNNING)
