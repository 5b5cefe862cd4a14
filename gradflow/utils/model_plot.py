"""``plot_model``: a picture of the model's graph through pydot and Graphviz, where installed."""
from __future__ import annotations

import shutil

__all__ = ["plot_model", "model_to_dot"]


def _pydot():
    try:
        import pydot  # noqa: PLC0415 - optional dependency (pydot)
    except ImportError:
        raise ImportError('plot_model needs pydot and the Graphviz programs: pip install "gradflow-keras[plot-model]" '
                          'and install Graphviz (e.g. apt-get install graphviz)') from None
    if shutil.which("dot") is None:
        raise ImportError("plot_model needs the Graphviz 'dot' program on PATH (e.g. apt-get install graphviz)")
    return pydot


def model_to_dot(model, show_shapes=False, show_layer_names=True, rankdir="TB", **kwargs):
    """A pydot graph: one box per layer, one edge per tensor a layer reads."""
    pydot = _pydot()
    graph = pydot.Dot(graph_type="digraph", rankdir=rankdir)
    rows = model._summary_rows() if hasattr(model, "_summary_rows") else \
        [(layer, getattr(layer, "output_shape", None), None) for layer in model.layers]
    by_name = {}
    for layer, shape, _ in rows:
        label = f"{layer.name} ({type(layer).__name__})" if show_layer_names else type(layer).__name__
        if show_shapes:
            label += f"\\n{shape}"
        graph.add_node(pydot.Node(str(id(layer)), label=label, shape="record"))
        by_name[layer.name] = layer
    previous = None
    for layer, _, connected in rows:
        sources = [c.split("[")[0] for c in (connected or []) if c != "-"] if connected is not None else \
            ([previous.name] if previous is not None else [])
        for src in sources:
            graph.add_edge(pydot.Edge(str(id(by_name[src])), str(id(layer))))
        previous = layer
    return graph


def plot_model(model, to_file="model.png", show_shapes=False, show_layer_names=True, rankdir="TB", dpi=200,
               **kwargs):
    """Write the model's graph to ``to_file`` (the format from its extension)."""
    graph = model_to_dot(model, show_shapes=show_shapes, show_layer_names=show_layer_names, rankdir=rankdir)
    graph.set("dpi", dpi)
    extension = str(to_file).rsplit(".", 1)[-1] if "." in str(to_file) else "png"
    graph.write(to_file, format=extension)
