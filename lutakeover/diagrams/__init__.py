"""The diagrams drawn from the model: Graphviz plumbing, phase machine, state graph, sequence, tables.

The kinds of picture and the state graph's size limit live here, not in the modules that
draw them, so that the command line can list them without importing Graphviz."""

KINDS: dict[str, str] = {
    "phases": "the per-LU phase machine: phases as nodes, actions labelled with patent steps",
    "states": "the reachable state graph of a small scenario, counterexample in red",
    "trace": "a counterexample (or --trace FILE, an ITF trace) as a sequence diagram",
    "tables": "every controller's configuration table before and after the take-overs",
}

GRAPH_KINDS = ("phases", "states")  # the kinds that are graphs (and can be written as GraphML)

DEFAULT_MAX_NODES = 150  # Graphviz lays 156 states out in about 2 s; more is unreadable anyway
