"""The shape of the code (DESIGN.md, Layout): few entry modules under lib/, study code in its package,
and no import cycles, so a newcomer can read any module without first reading its importers."""

import ast
import os

from tests.helpers import REPO

PACKAGES = ("lib", "models", "callbacks")
MAX_LIB_ENTRY_MODULES = 8


def modules() -> dict[str, str]:
    """{dotted module name: file path} of every module in the project's packages."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(REPO, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    dotted = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                    found[dotted.removesuffix(".__init__")] = path
    return found


def imports(path: str, known: dict) -> set[str]:
    """Project modules imported anywhere in a file (also inside functions: a lazy import is still a dependency)."""
    targets = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets.add(node.module)
            targets.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {target for target in targets if target in known}


def import_graph() -> dict[str, set[str]]:
    """Edges module -> imported module, leaving out a package's imports of its own submodules:
    that is how a registry package registers its entries (lib.studies -> lib.studies.glorot)."""
    known = modules()
    return {module: {target for target in imports(path, known) if target != module and not target.startswith(module + ".")}
            for module, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        stack.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_no_import_cycles():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_lib_has_few_entry_modules():
    entry = sorted(name for name in os.listdir(os.path.join(REPO, "lib")) if name.endswith(".py") and name != "__init__.py")
    assert len(entry) <= MAX_LIB_ENTRY_MODULES, entry


def test_every_study_lives_in_its_own_package():
    from lib.studies import STUDIES

    for name in STUDIES.names():
        folder = os.path.join(REPO, "lib", "studies", name)
        assert os.path.isfile(os.path.join(folder, "__init__.py")) and os.path.isfile(os.path.join(folder, "config.py"))
        assert os.path.isdir(os.path.join(REPO, "tests", name)), f"tests/{name}/ mirrors lib/studies/{name}/"
