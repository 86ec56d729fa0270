"""The layout's rules (docs/method.md, "Map of the modules"), checked on the source text:
no import circle inside cdsynth (imports inside functions count), no module over 600 lines,
the report's modules import neither the corpus, the tokenizer nor the stages, the statistics
import no evaluation module, and nothing below the graph imports it (or the CLI): the executors
sit above it, beside the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MOST_LINES = 600
REPORT_PACKAGE = "cdsynth.report"
STATISTICS = {"analysis", "power", "claims", "item_statistics", "tasks"}


def modules() -> dict[str, Path]:
    """cdsynth's modules by dotted name (a package by its own name)."""
    out = {}
    for f in sorted((SRC / "cdsynth").rglob("*.py")):
        parts = f.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The cdsynth modules `name` imports anywhere in its text (a `from pkg import mod` counts
    as importing mod when mod is a module, else pkg)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level > 1:
                base = base[: len(base) - node.level + 1]
            target = ".".join(base) if node.level else ""
            target = ".".join(p for p in (target, node.module or "") if p)
            subs = {f"{target}.{a.name}" for a in node.names} & known.keys()
            found |= subs or ({target} if target in known else set())
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names} & known.keys()
    return {m for m in found if m.startswith("cdsynth") and m != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(m, p, known) for m, p in known.items()}


def nested(a: str, b: str) -> bool:
    """A package and its own modules (an __init__ re-exporting them is not a design circle)."""
    return a.startswith(b + ".") or b.startswith(a + ".")


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if nested(v, w):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                found.append(sorted(group + [v]))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert circles(graph()) == []


def test_circles_finds_a_function_level_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_600_lines():
    long = {
        m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MOST_LINES
    }
    assert long == {}


def forbidden(importers, targets: tuple[str, ...]) -> dict[str, set[str]]:
    """What each module for which `importers(name)` holds imports of `targets` (or below)."""
    edges = graph()
    return {
        m: bad
        for m in edges
        if importers(m)
        if (bad := {t for t in edges[m] if any(t == x or t.startswith(x + ".") for x in targets)})
    }


def test_the_report_reads_no_corpus_tokenizer_or_stage():
    in_report = lambda m: m == REPORT_PACKAGE or m.startswith(REPORT_PACKAGE + ".")  # noqa: E731
    assert forbidden(in_report, ("cdsynth.corpus", "cdsynth.tokenizer", "cdsynth.stages")) == {}


def test_statistics_import_no_evaluation_module():
    statistics = lambda m: m in {f"cdsynth.{s}" for s in STATISTICS}  # noqa: E731
    assert forbidden(statistics, ("cdsynth.evaluate",)) == {}


def test_engines_know_no_pipeline_stage():
    stages = ("cdsynth.corpus", "cdsynth.generate", "cdsynth.stages", "cdsynth.study")
    edges = graph()
    bad = {m: edges[m] & {t for t in edges[m] if t.startswith(stages)} for m in edges}
    assert {m: b for m, b in bad.items() if m.startswith("cdsynth.engine") and b} == {}


def test_nothing_below_the_graph_imports_it():
    edges = graph()
    above = {"cdsynth.graph", "cdsynth.executors", "cdsynth.slurm", "cdsynth.cli"}
    assert {m for m, e in edges.items() if e & above and m not in above} == set()
