"""The README's Keras example runs as written (with fewer epochs) and its commands stay the documented ones."""
import re
from pathlib import Path

import numpy as np

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_opens_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    cmds = [ln for ln in first_block.splitlines() if ln and not ln.startswith("#")]
    assert cmds[0] == 'pip install -e ".[test]" && python examples/mnist_cnn.py'
    assert cmds[1] == 'pip install -e ".[test]" && python -m pytest -q'
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert cmds[1] in ci, ".ci/run must run the README's test command"


def test_readme_keras_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1).replace("epochs=20", "epochs=1")
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    probs = scope["probabilities"]
    assert probs.shape == (5, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert (tmp_path / "model.gflow").stat().st_size > 0


def test_readme_custom_train_step_pattern_trains():
    """The README's custom ``train_step`` (gradflow's autograd where Keras's guides use each backend's)
    runs in ``fit``: it is called once per batch and lowers the loss."""
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    code = next(b for b in blocks if "def train_step" in b)
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    keras, CustomModel = scope["keras"], scope["CustomModel"]
    calls = []
    original = CustomModel.train_step

    def counted(self, data):
        calls.append(1)
        return original(self, data)

    CustomModel.train_step = counted
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], dtype="float32")).astype("float32")
    inputs = keras.Input(shape=(4,))
    model = CustomModel(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=32, epochs=5, verbose=0)
    assert len(calls) == 5 * 4
    assert set(history.history) == {"loss", "mae"}
    assert history.history["loss"][-1] < history.history["loss"][0]
