"""The architecture as a test (docs/architecture.md draws it): the suite's parts, the arrows allowed between them,
and what each part may load.

Every module of ``trademate_load`` belongs to one layer of ``LAYERS``, listed from the bottom up; a module may
import its own layer and the layers below it, never one above. The suite and the reference API never import each
other. The verdict, the report, the run directory and the command-line tools outside Locust load neither Locust
nor gevent, directly or through another module of the suite. Imports are read from the source (``ast``), so a
module imported only inside a function counts too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITE, API = "trademate_load", "trademate_api"

LAYERS: dict[str, set[str]] = {
    # plain values: exit codes and findings, exact statistics, schedules, sequential tests
    "foundation": {"__init__", "verdict", "stats", "formatting", "traffic", "sequential"},
    # what the user wrote: YAML reading and checking, SLA files, profiles, credentials
    "spec": {"config", "sla_spec", "profile", "credentials"},
    # what a run records: the sample record, its Parquet store and frames; the generator's health rows; run.json
    "record": {"record", "errors", "store", "frame", "health", "runinfo"},
    # the judgement: SLA checks, uptime, early decisions, validity, the baseline gate, scalability, findings
    "judgement": {
        "sla_checks",
        "sla_figures",
        "sla",
        "uptime",
        "decisions",
        "validity",
        "validity_figures",
        "validity_text",
        "validity_verdict",
        "gate",
        "scalability",
        "plan",
        "simulation",
        "losses",
        "history_rows",
        "changes",
        "compliance",
    },
    # pure renderers of a judged run
    "report": {
        "report",
        "report.summary",
        "report.console",
        "report.junit",
        "report.html",
        "report.html_parts",
        "report.html_header",
        "report.html_tiers",
        "report.html_generator",
        "report.html_scalability",
        "report.html_baseline",
        "report.html_tables",
        "report.charts",
        "report.chart_style",
        "report.time_charts",
        "report.distribution_charts",
        "report.run_charts",
        "report.series",
        "report.history_charts",
        "report.history_page",
    },
    # a run directory: samples and run.json in, the verdict and every report out; the history of run directories
    "rundir": {"rundir", "history", "history_publish"},
    # inside Locust's processes: hooks, users, the live figures, workers, start-up checks
    "runtime": {
        "collector",
        "connections",
        "locust_stats",
        "locust_compat",
        "monitor",
        "live",
        "live_tail",
        "live_scope",
        "live_watch",
        "metrics",
        "webtab",
        "users",
        "shapes",
        "active_run",
        "distributed",
        "lifecycle",
        "signals",
        "plugin",
        "workers",
    },
    # the commands
    "entry": {"__main__", "cli", "launcher", "probe", "probe_rounds", "probe_console"},
}
# Parts that run outside Locust's processes: they load neither Locust nor gevent.
NO_LOCUST_LAYERS = ("foundation", "spec", "record", "judgement", "report", "rundir")
NO_LOCUST_MODULES = {"cli", "launcher", "probe", "probe_rounds", "probe_console"}
LOCUST_PACKAGES = {"locust", "gevent", "geventhttpclient", "flask"}
# Parts the Locust processes import at start-up: they load neither pandas nor pyarrow (nor do the collector's
# imports), so each worker stays small until it writes a run directory.
NO_PANDAS_MODULES = {"collector", "record", "connections", "users", "shapes"}
PANDAS_PACKAGES = {"pandas", "pyarrow", "matplotlib"}


def module_name(path: Path, package: str) -> str:
    parts = path.relative_to(ROOT / package).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__") or "__init__"


def imports_of(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports, absolute (a relative import resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = [package, *module_name(path, package).split(".")]
    if path.name != "__init__.py":
        here = here[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            found.add(target)
            # ``from trademate_load import gate``: the names may be modules themselves
            found |= {f"{target}.{alias.name}" for alias in node.names}
    return found


def graph(package: str) -> dict[str, set[str]]:
    """Module (relative to ``package``) -> every absolute import it makes."""
    return {
        module_name(path, package): imports_of(path, package)
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def suite_imports(imports: set[str], modules: set[str]) -> set[str]:
    """The suite's own modules among ``imports``."""
    return {name.removeprefix(f"{SUITE}.") for name in imports if name.removeprefix(f"{SUITE}.") in modules}


def layer_of(module: str) -> str | None:
    return next((layer for layer, members in LAYERS.items() if module in members), None)


def loads(module: str, modules: dict[str, set[str]]) -> set[str]:
    """The third-party top-level packages ``module`` loads, itself or through the suite's modules it imports."""
    seen, todo, packages = set(), [module], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        imports = modules[current]
        packages |= {name.split(".")[0] for name in imports if not name.startswith(SUITE)}
        todo += suite_imports(imports, set(modules))
    return packages


MODULES = graph(SUITE)


def test_every_module_of_the_suite_has_one_layer():
    placed = [module for members in LAYERS.values() for module in members]
    assert len(placed) == len(set(placed)), "a module is in two layers"
    assert set(MODULES) <= set(placed), (
        f"modules in no layer (add them to LAYERS): {sorted(set(MODULES) - set(placed))}"
    )
    assert set(placed) <= set(MODULES), f"LAYERS names modules that do not exist: {sorted(set(placed) - set(MODULES))}"


def test_docs_architecture_draws_the_same_layers():
    """docs/architecture.md's table of layers lists each layer's modules as LAYERS does, bottom up."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\w+) \| ([^|]+) \|", section, re.M)
    drawn = {layer: set(re.findall(r"`([\w.]+)`", modules)) for layer, modules in rows if layer in LAYERS}
    assert list(drawn) == list(LAYERS), f"docs/architecture.md's layers, bottom up: {list(drawn)}, not {list(LAYERS)}"
    for layer, members in LAYERS.items():
        assert drawn[layer] == members, (
            f"docs/architecture.md, layer {layer}: missing {sorted(members - drawn[layer])}, "
            f"not in it {sorted(drawn[layer] - members)}"
        )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_the_layers_below(module):
    order = [*LAYERS, None]  # a module in no layer (its own test fails) counts as the top
    mine = order.index(layer_of(module))
    above = {
        f"{name} ({layer_of(name)})"
        for name in suite_imports(MODULES[module], set(MODULES))
        if name != module and order.index(layer_of(name)) > mine
    }
    assert not above, f"{SUITE}.{module} ({order[mine]}) imports a layer above its own: {sorted(above)}"


def test_the_suite_and_the_reference_api_never_import_each_other():
    api = graph(API)
    assert not {module for module, imports in MODULES.items() if any(i.split(".")[0] == API for i in imports)}
    assert not {module for module, imports in api.items() if any(i.split(".")[0] == SUITE for i in imports)}


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if layer_of(m) in NO_LOCUST_LAYERS or m in NO_LOCUST_MODULES)
)
def test_the_verdict_the_report_and_the_commands_load_no_locust(module):
    assert not loads(module, MODULES) & LOCUST_PACKAGES, (
        f"{SUITE}.{module} loads {loads(module, MODULES) & LOCUST_PACKAGES}"
    )


@pytest.mark.parametrize("module", sorted(NO_PANDAS_MODULES & set(MODULES)))
def test_what_every_locust_process_imports_loads_no_pandas(module):
    assert not loads(module, MODULES) & PANDAS_PACKAGES, (
        f"{SUITE}.{module} loads {loads(module, MODULES) & PANDAS_PACKAGES}"
    )
