"""A subclassed keras.Model with its own train_step: gradient clipping by global norm, and the
gradient norm tracked as a metric (digits by default, no download).

    python examples/custom_train_step.py --plot curves.png

The layers are attributes and ``call`` wires them (Keras 3's subclassing). ``train_step`` is the
README's pattern, gradflow's autograd where Keras's guides use each backend's: forward with
``training=True``, ``compute_loss``, ``self.zero_grad()``, ``loss.backward()``, then the gradients
(``v.grad``), clipped to a global norm of ``--clip-norm``, go to ``self.optimizer.apply``. A
``keras.metrics.Mean`` held as an attribute is one of ``self.metrics``, so ``fit`` resets it each
epoch and the History gets its ``grad_norm`` column; ``evaluate`` uses the default ``test_step``.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, load_images, parser, save_curves, setup  # noqa: E402


def make_model_class():
    """The class is made after setup() so that --backend applies before gradflow builds anything."""
    import gradflow as keras
    from gradflow.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    class DigitClassifier(keras.Model):
        def __init__(self, num_classes=10, clip_norm=1.0, **kwargs):
            super().__init__(**kwargs)
            self.clip_norm = clip_norm
            self.conv1 = Conv2D(32, 3, activation="relu", padding="same")
            self.pool1 = MaxPooling2D(2)
            self.conv2 = Conv2D(64, 3, activation="relu", padding="same")
            self.pool2 = MaxPooling2D(2)
            self.flatten = Flatten()
            self.dropout = Dropout(0.25)
            self.classifier = Dense(num_classes, activation="softmax")
            self.grad_norm_tracker = keras.metrics.Mean(name="grad_norm")

        def call(self, inputs, training=False):
            x = self.pool1(self.conv1(inputs))
            x = self.pool2(self.conv2(x))
            return self.classifier(self.dropout(self.flatten(x), training=training))

        def train_step(self, data):
            x, y = data
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            self.zero_grad()
            loss.backward()
            grads = [v.grad for v in self.trainable_weights]
            norm = float(np.sqrt(sum(float((g.numpy().astype(np.float64) ** 2).sum()) for g in grads)))
            if norm > self.clip_norm:                     # clip by global norm, as clipnorm would
                grads = [g * (self.clip_norm / norm) for g in grads]
            self.optimizer.apply(grads, self.trainable_weights)
            for m in self.metrics:
                if m is self.grad_norm_tracker:
                    m.update_state(norm)
                elif m.name == "loss":
                    m.update_state(loss)
                else:
                    m.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    return DigitClassifier


def main(argv=None):
    p = parser(__doc__, datasets=("digits", "mnist", "fashion_mnist"), epochs=12, batch_size=32)
    p.add_argument("--clip-norm", type=float, default=1.0, help="clip the gradients to this global norm (default 1)")
    args = p.parse_args(argv)
    setup(args)
    from gradflow.optimizers import Adam

    (x_train, y_train), (x_test, y_test) = load_images(args.dataset, args.data_dir, limit=args.limit)
    model = make_model_class()(clip_norm=args.clip_norm)
    model.compile(optimizer=Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with Timer() as t:
        history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
                            validation_data=(x_test, y_test), verbose=args.verbose)
    print(f"trained in {t.seconds:.1f} s")
    norms = history.history["grad_norm"]
    print(f"mean gradient norm before clipping to {args.clip_norm}: epoch 1 {norms[0]:.3f}, last epoch {norms[-1]:.3f}")
    loss, acc = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"test accuracy: {acc:.4f} (loss {loss:.4f})")
    save_curves(history, args.plot, title="subclassed model, custom train_step")
    return acc, norms


if __name__ == "__main__":
    main()
