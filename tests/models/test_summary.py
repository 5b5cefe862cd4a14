"""model.summary(): the exact Keras-style table, counts computed by hand, print_fn and line_length."""
import pytest

from gradflow.layers import BatchNormalization, Conv2D, Dense, Flatten, Input, MaxPooling2D
from gradflow.models import Sequential
from gradflow.summary import readable_size


def small_cnn():
    return Sequential([
        Input(shape=(8, 8, 1)),
        Conv2D(4, 3, activation="relu", name="conv"),
        BatchNormalization(name="bn"),
        MaxPooling2D(2, name="pool"),
        Flatten(name="flat"),
        Dense(10, activation="relu", name="hidden"),
        Dense(3, activation="softmax", name="out"),
    ])


def test_small_cnn_summary_exact_text():
    model = small_cnn()
    model.get_layer("hidden").trainable = False  # a frozen layer counts as non-trainable
    conv = 3 * 3 * 1 * 4 + 4                # 40
    bn_train, bn_stats = 2 * 4, 2 * 4       # gamma, beta | moving mean, moving variance
    pooled = 3 * 3 * 4                      # 6x6 conv output pooled by 2 -> 3x3x4 = 36 features
    hidden = pooled * 10 + 10               # 370
    out = 10 * 3 + 3                        # 33
    total = conv + bn_train + bn_stats + hidden + out
    trainable = conv + bn_train + out
    frozen = bn_stats + hidden
    assert (total, trainable, frozen) == (459, 81, 378)
    lines = []
    model.summary(line_length=70, print_fn=lines.append)
    rule = "+------------------------------+------------------------+------------+"
    expected = [
        'Model: "sequential"',
        rule,
        "| Layer (type)                 | Output Shape           |    Param # |",
        "+==============================+========================+============+",
        f"| conv (Conv2D)                | (None, 6, 6, 4)        | {conv:10,d} |", rule,
        f"| bn (BatchNormalization)      | (None, 6, 6, 4)        | {bn_train + bn_stats:10,d} |", rule,
        "| pool (MaxPooling2D)          | (None, 3, 3, 4)        |          0 |", rule,
        "| flat (Flatten)               | (None, 36)             |          0 |", rule,
        f"| hidden (Dense)               | (None, 10)             | {hidden:10,d} |", rule,
        f"| out (Dense)                  | (None, 3)              | {out:10,d} |", rule,
        f" Total params: {total:,} (1.79 KB)",           # 459 * 4 bytes = 1836 B
        f" Trainable params: {trainable:,} (324.00 B)",  # 81 * 4
        f" Non-trainable params: {frozen:,} (1.48 KB)",  # 378 * 4 = 1512 B
    ]
    assert lines == expected
    assert all(len(line) == 70 for line in lines if line.startswith(("+", "|")))


def test_summary_prints_to_stdout_with_thousands_separators(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    model = Sequential([Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(2), Flatten(),
                        Dense(128, activation="relu"), Dense(10, activation="softmax")])
    model.summary()
    out = capsys.readouterr().out
    dense = 13 * 13 * 32 * 128 + 128
    total = 320 + dense + 1290
    assert "conv2d (Conv2D)" in out and "(None, 26, 26, 32)" in out and "(None, 13, 13, 32)" in out
    assert f"{dense:,}" in out and f" Total params: {total:,} ({readable_size(total * 4)})" in out
    assert f" Total params: {total:,} (2.65 MB)" in out  # 693,962 params * 4 bytes
    assert len(out.splitlines()[1]) == 88  # Keras 3's default width


@pytest.mark.parametrize("columns, chain, graph", [("200", 88, 108), ("80", 80, 80), ("100", 88, 100),
                                                    ("20", 40, None)])
def test_default_width_fits_the_terminal(monkeypatch, columns, chain, graph):
    from gradflow.layers import Add
    from gradflow.models import Model

    monkeypatch.setenv("COLUMNS", columns)
    lines = []
    Sequential([Dense(3, input_shape=(5,)), Dense(2)]).summary(print_fn=lines.append)
    assert {len(line) for line in lines if line.startswith(("+", "|"))} == {chain}
    inp = Input(shape=(4,))
    lines = []
    Model(inp, Add()([Dense(4)(inp), inp])).summary(print_fn=lines.append)
    if graph is not None:  # (narrower than its four columns' minimum widths, a graph's table keeps them)
        assert {len(line) for line in lines if line.startswith(("+", "|"))} == {graph}
    assert any("Connecte" in line for line in lines)


def test_readable_size_matches_keras():
    assert readable_size(0) == "0.00 B"
    assert readable_size(1023) == "1023.00 B"
    assert readable_size(1024) == "1.00 KB"
    assert readable_size(473890 * 4) == "1.81 MB"


def test_narrow_summary_wraps_cells():
    lines = []
    Sequential([Conv2D(32, 3, input_shape=(28, 28, 1))]).summary(line_length=40, print_fn=lines.append)
    assert all(len(line) == 40 for line in lines if line.startswith(("+", "|")))
    text = "\n".join(lines)
    assert "(None, 26," in text and "26, 32)" in text


def test_unbuilt_summary_lists_the_layers_as_keras():
    lines = []
    Sequential([Dense(2)]).summary(print_fn=lines.append)  # Keras 3 prints what it can
    assert any("dense (Dense)" in line and "?" in line and "0 (unbuilt)" in line for line in lines)
    assert " Total params: 0 (0.00 B)" in lines


def test_unbuilt_summary_matches_keras_text(real_keras, monkeypatch):
    """An unbuilt Sequential's table (cells and footer) equals Keras 3's, box characters aside."""
    import gradflow as gf

    monkeypatch.setenv("COLUMNS", "120")  # Keras's console would cut the table at 80 columns

    def table(lines):
        rows = []
        for line in "\n".join(lines).splitlines():
            if line[:1] in "|\u2502\u2503":
                rows.append([c.strip() for c in line.replace("\u2503", "|").replace("\u2502", "|").split("|")[1:-1]])
            elif line.startswith((" Total", " Trainable", " Non-trainable", "Model:")):
                rows.append([line.rstrip()])
        return rows

    def build(k):
        return k.Sequential([k.layers.Dense(4), k.layers.Dropout(0.1), k.layers.Flatten(), k.layers.Activation("relu"),
                             k.layers.MaxPooling1D(), k.layers.BatchNormalization(), k.layers.Dense(2, name="out")],
                            name="seq")

    got, want = [], []
    build(gf).summary(line_length=100, print_fn=got.append)
    build(real_keras).summary(line_length=100, print_fn=want.append)
    assert table(got) == table(want)
    got, want = [], []
    gf.Sequential(name="empty").summary(line_length=100, print_fn=got.append)
    real_keras.Sequential(name="empty").summary(line_length=100, print_fn=want.append)
    assert table(got) == table(want)


def test_nested_model_row():
    inner = Sequential([Dense(4), Dense(2)], name="block")
    lines = []
    Sequential([Dense(3, input_shape=(5,)), inner]).summary(print_fn=lines.append)
    row = next(line for line in lines if line.startswith("| block"))
    assert "block (Sequential)" in row and "(None, 2)" in row and row.rstrip(" |").endswith("26")


def test_functional_summary_connects_a_graph_and_counts_shared_weights_once(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    import gradflow as keras
    from gradflow import layers

    a, b = keras.Input(shape=(8,), name="a"), keras.Input(shape=(4,), name="b")
    shared = layers.Dense(4, name="shared")
    h = layers.concatenate([shared(layers.Dense(4, name="proj")(a)), shared(b)], name="cat")
    model = keras.Model([a, b], layers.Dense(2, name="out")(h))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in lines[2] and all(len(line) == 108 for line in lines[1:-3])
    assert "| shared (Dense)" in text and "proj[0][0], b[0][0]" in text and "shared[0][0], shared[1][0]" in text
    assert "Total params: 74" in text  # proj 8*4+4 = 36, shared 4*4+4 = 20 (once), out 8*2+2 = 18
    chain_lines = []
    inp = keras.Input(shape=(3,))
    keras.Model(inp, layers.Dense(2)(inp)).summary(print_fn=chain_lines.append)
    assert "Connected to" not in chain_lines[2]  # a plain chain keeps the three Sequential columns


def test_a_built_optimizer_counts_in_the_total_as_keras_3():
    import numpy as np

    from gradflow.layers import Dense, Input
    from gradflow.models import Sequential

    model = Sequential([Input(shape=(3,)), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    before = []
    model.summary(print_fn=before.append)
    assert "Optimizer params" not in "\n".join(before)  # not built before its first step
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), verbose=0)
    after = []
    model.summary(print_fn=after.append)
    text = "\n".join(after)
    # Adam: momentum and velocity of the 8 weights, the iteration counter (int32) and the learning rate
    assert "Optimizer params: 18 (72.00 B)" in text and "Total params: 26 (104.00 B)" in text
