"""plot_history writes a real PNG from a History object or a dict."""
import sys

import pytest

from gradflow.utils import plot_history

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HISTORY = {"loss": [1.0, 0.6, 0.4], "accuracy": [0.5, 0.7, 0.8],
           "val_loss": [1.1, 0.7, 0.6], "val_accuracy": [0.45, 0.65, 0.7]}


class History:
    def __init__(self, history):
        self.history = history


@pytest.mark.parametrize("history", [HISTORY, History(HISTORY), {"loss": [0.3]}, {"val_loss": [1.0, 0.5]}])
def test_writes_png(tmp_path, history):
    path = plot_history(history, tmp_path / "sub" / "curves.png")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_metrics_selection(tmp_path):
    assert plot_history(HISTORY, tmp_path / "a.png", metrics=["accuracy"], title="run").exists()
    with pytest.raises(ValueError, match=r"metrics \['f1'\] not in the history"):
        plot_history(HISTORY, tmp_path / "b.png", metrics=["f1"])


def test_bad_input(tmp_path):
    with pytest.raises(TypeError, match="expected a History object with a .history dict, or a dict, got list"):
        plot_history([1, 2], tmp_path / "x.png")
    with pytest.raises(ValueError, match="history is empty"):
        plot_history({}, tmp_path / "x.png")


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match=r"gradflow-keras\[plot\]"):
        plot_history(HISTORY, tmp_path / "x.png")


def _png_size(path):
    import struct

    data = path.read_bytes()
    return struct.unpack(">II", data[16:24])


def test_many_metrics_make_a_grid_not_a_strip(tmp_path):
    history = {name: [1.0, 0.5] for name in ("loss", "a", "b", "c", "d")}
    assert _png_size(plot_history(history, tmp_path / "grid.png")) == (1500, 800)  # 3 + 2 panels
    assert _png_size(plot_history(history, tmp_path / "row.png", columns=5)) == (2500, 400)
    with pytest.raises(ValueError, match="columns must be >= 1"):
        plot_history(history, tmp_path / "x.png", columns=0)


def test_validation_label_and_panel_titles(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    seen = {"plots": [], "titles": []}
    real_plot, real_title = Axes.plot, Axes.set_title
    monkeypatch.setattr(Axes, "plot", lambda self, *a, **k: (seen["plots"].append(k.get("label")),
                                                             real_plot(self, *a, **k))[1])
    monkeypatch.setattr(Axes, "set_title", lambda self, text, *a, **k: (seen["titles"].append(text),
                                                                         real_title(self, text, *a, **k))[1])
    plot_history(HISTORY, tmp_path / "c.png", validation_label="test", labels={"loss": "loss (MSE)"})
    assert seen["plots"] == ["train", "test", "train", "test"]
    assert seen["titles"] == ["loss (MSE)", "accuracy"]
