"""The diagrams drawn from the model: Graphviz plumbing, phase machine, state graph, sequence, tables."""
