"""A dense classifier on standardised tabular features (synthetic age / weight / blood sugar data).

    python examples/tabular_mlp.py
    python examples/tabular_mlp.py --plot curves.png   # also write the training curves
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import parser, save_curves, setup  # noqa: E402


def make_data(n, rng):
    """Patients with age (years), weight (kg) and fasting blood sugar (mg/dL); label: at risk or not."""
    age = rng.uniform(18, 90, n)
    weight = rng.normal(78, 15, n)
    sugar = rng.normal(100, 20, n) + 0.4 * (age - 50) + 0.3 * (weight - 78)
    score = 0.04 * (age - 50) + 0.03 * (weight - 78) + 0.06 * (sugar - 110) + rng.normal(0, 0.7, n)
    x = np.stack([age, weight, sugar], axis=1).astype(np.float32)
    return x, (score > 0).astype(np.int64)


def main(argv=None):
    p = parser(__doc__, datasets=("synthetic",), epochs=30, batch_size=10)
    args = p.parse_args(argv)
    setup(args)
    from gradflow.layers import Dense
    from gradflow.models import Sequential
    from gradflow.optimizers import Adam

    rng = np.random.default_rng(args.seed)
    x, y = make_data(args.limit or 2100, rng)
    split = int(len(x) * 0.8)
    mean, std = x[:split].mean(0), x[:split].std(0)
    x = (x - mean) / std  # standardise with training statistics only
    model = Sequential([
        Dense(16, input_shape=(3,), activation="relu"),
        Dense(32, activation="relu"),
        Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    history = model.fit(x=x[:split], y=y[:split], batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
                        validation_split=0.1, verbose=args.verbose)
    probs = model.predict(x=x[split:], batch_size=10, verbose=0)
    acc = float((probs.argmax(1) == y[split:]).mean())
    print("first predictions (P(healthy), P(at risk)):")
    for row in probs[:5]:
        print(f"  {row[0]:.3f}  {row[1]:.3f}")
    print(f"test accuracy: {acc:.4f}")
    save_curves(history, args.plot, title="tabular_mlp")
    return acc


if __name__ == "__main__":
    main()
