"""Data flows one way: data -> model -> sampler/loss -> trainer -> run; no
module imports a later layer (function-level imports included)."""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "gnnrec")

#: module or package -> layer; a module may import only lower layers (or its own package)
LAYERS = {
    "gnnrec.errors": -3, "gnnrec.lock": -2, "gnnrec.outputs": -1, "gnnrec.allocator": -1,
    "gnnrec.registry": 0, "gnnrec.checkpoint": 0, "gnnrec.plot": 0, "gnnrec.protocols": 0,
    "gnnrec.data": 1,
    "gnnrec.nn": 2, "gnnrec.metrics": 2,
    "gnnrec.model": 3,
    "gnnrec.sampling": 4, "gnnrec.losses": 4, "gnnrec.serving": 4,
    "gnnrec.train": 5,
    "gnnrec.spec": 6, "gnnrec.distributed": 6,
    "gnnrec.run": 7, "gnnrec.bench": 7, "gnnrec.runfolder": 7, "gnnrec.refit": 8,
    "gnnrec.tune": 9, "gnnrec.cli": 10, "gnnrec.__main__": 11,
}


def unit(module: str) -> str:
    """The LAYERS key a dotted module name belongs to."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return key
    raise KeyError(module)


def modules():
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, os.path.join(ROOT, ".."))[:-3].replace(os.sep, ".")
                if rel.endswith(".__init__"):
                    rel = rel[:-len(".__init__")]
                yield rel, path


def imports(path):
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize("module,path", sorted(modules()))
def test_no_import_runs_back_up(module, path):
    if module == "gnnrec":
        return  # the package root: gnnrec.load re-exports the model
    mine = unit(module)
    for imported in imports(path):
        if not imported.startswith("gnnrec"):
            continue
        assert imported != "gnnrec", f"{module} imports the package root"
        theirs = unit(imported)
        if theirs == mine:
            continue
        assert LAYERS[theirs] < LAYERS[mine], f"{module} imports {imported} (a later layer)"


def test_data_layer_is_free_of_models_and_training():
    for module, path in modules():
        if module.startswith("gnnrec.data"):
            for imported in imports(path):
                assert not imported.startswith(("gnnrec.nn", "gnnrec.losses", "gnnrec.sampling",
                                                "gnnrec.train", "gnnrec.model")), (module, imported)


def test_no_function_is_longer_than_about_60_lines():
    r"""Code lines of every function of the package (its docstring not
    counted): a longer one is two functions."""
    long = []
    for module, path in modules():
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                doc = isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant)
                start = body[1].lineno if doc and len(body) > 1 else body[0].lineno
                if node.end_lineno - start + 1 > 62:
                    long.append(f"{module}.{node.name}: {node.end_lineno - start + 1} lines")
    assert not long, long


@pytest.mark.parametrize("module,path", sorted(modules()))
def test_every_module_says_what_it_is_for(module, path):
    doc = ast.get_docstring(ast.parse(open(path).read()))
    assert doc and len(doc.split("\n\n")[0]) < 400, f"{module}: no one-paragraph docstring"
