"""The dependency rule on import statements. Pants enforces it on targets (the
`__dependencies_rules__` in packages/*/BUILD, whenever dependencies are computed); this also
catches what Pants cannot see: an import of a module no requirement provides, or a lazy
import Pants' inference skips."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports(package: str) -> list[tuple[str, str]]:
    found = []
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no sources under {package}"
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


def test_domain_imports_only_the_standard_library_attrs_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"attrs", "__future__"}
    bad = [
        (path, module)
        for path, module in imports("packages/domain")
        if module.split(".")[0] not in allowed and not module.startswith("execution_service.domain")
    ]
    assert bad == []


def test_adapters_never_import_app() -> None:
    bad = [
        (path, module)
        for path, module in imports("packages/adapters")
        if module.startswith("execution_service.app")
    ]
    assert bad == []


def test_an_adapter_imports_no_other_adapter() -> None:
    bad = []
    for path, module in imports("packages/adapters"):
        own = path.split("/")[4]
        if module.startswith("execution_service.adapters."):
            if module.split(".")[2] != own:
                bad.append((path, module))
    assert bad == []


def _called(package: str, name: str) -> set[str]:
    """Files under `package` that call `name` (a dotted name as written, e.g. nats.connect)."""
    found = set()
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == name:
                found.add(str(path.relative_to(ROOT)))
    return found


def test_one_place_opens_a_nats_connection_and_only_the_container_builds_the_pool() -> None:
    """Options live with the one call (the service's or a command's), and the container
    hands out the connector and the database, so no module connects on its own terms."""
    assert _called("packages", "nats.connect") == {
        "packages/adapters/execution_service/adapters/nats/connection.py"
    }
    container = {"packages/app/execution_service/app/container.py"}
    for built in ("NatsConnector", "create_database", "PostgresPruner"):
        assert _called("packages/app", built) <= container, built


def test_adapters_and_the_app_take_the_domain_from_its_public_face() -> None:
    """`execution_service.domain` itself, never one of its modules: the domain may move a
    name between its modules without touching a caller, and what it exports is what it
    offers."""
    bad = [
        (path, module)
        for package in ("packages/adapters", "packages/app")
        for path, module in imports(package)
        if module.startswith("execution_service.domain.")
    ]
    assert bad == []


def test_every_port_is_in_ports_and_every_error_in_errors() -> None:
    domain = ROOT / "packages/domain/execution_service/domain"
    misplaced = []
    for path in sorted(domain.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {ast.unparse(b) for b in node.bases}
            is_port = "Protocol" in bases
            is_error = node.name[0] != "_" and any(
                b.endswith(("Exception", "Error")) for b in bases
            )
            home = "ports.py" if is_port else "errors.py" if is_error else path.name
            if home != path.name:
                misplaced.append((path.name, node.name))
    assert misplaced == []
