"""What a convolutional filter responds to: gradient ascent on the input image, through a model
that outputs one conv layer's activations (digits by default, no download).

    python examples/visualize_filters.py --out filters.png --plot curves.png
    python examples/visualize_filters.py --layer conv1 --steps 60

Steps: train a small CNN (a Sequential with ``keras.Input`` first, so ``model.inputs`` exists);
build ``keras.Model(model.inputs, model.get_layer(name).output)``, a model that stops at the
named conv layer; start every filter from the same grey noise image and repeatedly move the
image along the gradient of that filter's mean activation with respect to the input (gradflow's
autograd: ``x = gradflow.Tensor(image, requires_grad=True)``, ``loss.backward()``, ``x.grad``),
keeping pixels in the data's range [0, 1]. The conv layers have no activation of their own (a ReLU
layer follows each), so the activation maximised is the filter's response before the ReLU, whose
gradient never vanishes. The PNG shows each filter's preferred input next to the layer's
activations for one real test digit.

``--model vgg16`` looks inside ``gradflow.applications.VGG16(include_top=False)`` instead (on
``--size`` x ``--size`` colour images, default 64): untrained (``weights=None``, its filters are
random) or with ``--weights FILE``, a weights file of the same architecture (for instance
ImageNet weights taken from Keras with ``set_weights(keras_vgg16.get_weights())`` and
``save_weights``; nothing is downloaded). ``--layer`` then names a VGG16 conv layer
(default ``block2_conv1``), ``--filters`` how many of its filters to show (default 16).

    python examples/visualize_filters.py --model vgg16 --layer block3_conv1 --filters 16
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, load_images, parser, save_curves, save_image_grid, setup  # noqa: E402


def build_model(input_shape, num_classes=10):
    import gradflow as keras
    from gradflow.layers import Activation, Conv2D, Dense, Flatten, MaxPooling2D

    return keras.Sequential([
        keras.Input(shape=input_shape),
        Conv2D(16, 3, padding="same", name="conv1"), Activation("relu"), MaxPooling2D(2),
        Conv2D(32, 3, padding="same", name="conv2"), Activation("relu"), MaxPooling2D(2),
        Flatten(),
        Dense(num_classes, activation="softmax"),
    ])


def mean_activations(extractor, images):
    """[n, filters]: each filter's activation averaged over the layer's positions, per image."""
    return extractor.predict(images, verbose=0).mean(axis=(1, 2))


def _blur(x):
    """A light 3x3 binomial blur of each image (edges repeated): high-frequency noise averages out."""
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    rows = (pad[:, :-2] + 2 * pad[:, 1:-1] + pad[:, 2:]) / 4
    return (rows[:, :, :-2] + 2 * rows[:, :, 1:-1] + rows[:, :, 2:]) / 4


def gradient_ascent(extractor, start, steps, step_size, seed=0):
    """One preferred input per filter: image k climbs filter k's mean activation.

    All filters climb at once as one batch; the model has no batch statistics, so image k's
    gradient comes from its own objective only. Three regularisers keep the images from turning into
    salt-and-pepper noise that excites a filter without showing what it looks for (as in Keras's
    filter-visualisation tutorial and "Understanding neural networks through deep visualization"):
    a random shift of up to one pixel before each step (jitter), a light blur every fourth step, and
    a small decay of every pixel towards mid grey.
    """
    import gradflow

    rng = np.random.default_rng(seed)
    filters = extractor.output_shape[-1]
    x = np.repeat(start, filters, axis=0)                                       # [filters, H, W, C]
    mask = np.eye(filters, dtype=np.float32)[:, None, None, :]                  # picks filter k for image k
    for step in range(steps):
        dy, dx = (int(v) for v in rng.integers(-1, 2, 2))
        shifted = np.roll(x, (dy, dx), axis=(1, 2))
        image = gradflow.Tensor(shifted, requires_grad=True)
        activation = extractor(image)                                          # [filters, h, w, filters]
        objective = (activation * mask).sum() / float(np.prod(activation.shape[1:3]))
        objective.backward()
        grad = np.roll(image.grad.numpy(), (-dy, -dx), axis=(1, 2))
        grad /= np.sqrt(np.mean(grad ** 2, axis=(1, 2, 3), keepdims=True)) + 1e-8  # same step length per image
        x = x + step_size * grad
        x = 0.5 + (x - 0.5) * (1.0 - 0.01)                                      # decay towards grey
        if step % 4 == 3:
            x = 0.8 * x + 0.2 * _blur(x)
        x = np.clip(x, 0.0, 1.0).astype(np.float32)
    return x


def _shared_range(maps) -> tuple[float, float]:
    """One value range for every activation map (so their shades compare), symmetric about zero."""
    m = float(np.max(np.abs(maps))) or 1.0
    return (-m, m)


def main(argv=None):
    p = parser(__doc__, datasets=("digits", "mnist", "fashion_mnist"), epochs=10, batch_size=32)
    p.add_argument("--model", default="small_cnn", choices=["small_cnn", "vgg16"],
                   help="the network to look inside: small_cnn (trained here, default) or vgg16 "
                        "(gradflow.applications.VGG16, untrained or --weights FILE)")
    p.add_argument("--layer", default=None,
                   help="the conv layer: conv1 or conv2 (default) for small_cnn, a VGG16 layer such as "
                        "block2_conv1 (default) for vgg16")
    p.add_argument("--weights", default=None, help="vgg16: a weights file for VGG16 (default: untrained)")
    p.add_argument("--size", type=int, default=64, help="vgg16: input height and width (default 64)")
    p.add_argument("--filters", type=int, default=16, help="vgg16: how many filters to visualise (default 16)")
    p.add_argument("--steps", type=int, default=60, help="gradient-ascent steps (default 60)")
    p.add_argument("--step-size", type=float, default=0.02, help="pixels moved per step, in RMS (default 0.02)")
    p.add_argument("--out", default="filters.png", help="where to write the PNG (default filters.png)")
    args = p.parse_args(argv)
    setup(args)
    import gradflow as keras

    (x_train, y_train), (x_test, y_test) = load_images(args.dataset, args.data_dir, limit=args.limit)
    if args.model == "vgg16":
        return inside_vgg16(args, x_test, y_test)
    args.layer = args.layer or "conv2"
    if args.layer not in ("conv1", "conv2"):
        p.error(f"--layer must be conv1 or conv2 for small_cnn, got {args.layer!r}")
    model = build_model(x_train.shape[1:])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    with Timer() as t:
        history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
                            validation_data=(x_test, y_test), verbose=args.verbose)
    acc = model.evaluate(x_test, y_test, batch_size=256, verbose=0)[1]
    print(f"trained in {t.seconds:.1f} s; test accuracy: {acc:.4f}")

    extractor = keras.Model(model.inputs, model.get_layer(args.layer).output)
    print(f"feature extractor: {model.inputs[0].shape} -> {args.layer} output {extractor.output_shape}")
    rng = np.random.default_rng(args.seed)
    start = np.clip(0.5 + 0.05 * rng.standard_normal((1,) + x_train.shape[1:]), 0, 1).astype(np.float32)
    with Timer() as t:
        preferred = gradient_ascent(extractor, start, args.steps, args.step_size)
    before = mean_activations(extractor, start)[0]
    after = np.diag(mean_activations(extractor, preferred))
    print(f"gradient ascent: {args.steps} steps in {t.seconds:.2f} s; mean activation per filter, grey noise -> "
          "preferred input:")
    for k in range(len(after)):
        print(f"  filter {k:2d}: {before[k]:+.3f} -> {after[k]:+.3f}")
    gain = float(np.mean(after - before))
    print(f"mean increase over {len(after)} filters: {gain:+.3f} "
          f"({int(np.sum(after > before))}/{len(after)} filters increased)")

    digit = x_test[:1]
    maps = extractor.predict(digit, verbose=0)[0]                               # [h, w, filters]
    cols = 8
    low, high = _shared_range(maps)
    try:
        save_image_grid(args.out, [
            (f"preferred inputs of {args.layer}'s {len(after)} filters", preferred[..., 0], cols, (0, 1)),
            (f"test digit ({y_test[0]})", digit[..., 0], 1, (0, 1)),
            (f"{args.layer} activations for it (one scale: black {low:.2f}, white {high:+.2f})",
             np.moveaxis(maps, -1, 0), cols, (low, high)),
        ])
        print(f"wrote {args.out}")
    except ImportError:
        print('matplotlib is missing: pip install "gradflow-keras[plot]" to write the PNG')
    save_curves(history, args.plot, title="visualize_filters: the small CNN's training")
    return before, after, acc


def inside_vgg16(args, x_test, y_test):
    """The same look inside an applications.VGG16 base, on colour images of ``--size`` pixels."""
    import gradflow as keras

    layer = args.layer or "block2_conv1"
    base = keras.applications.VGG16(include_top=False, weights=args.weights, input_shape=(args.size, args.size, 3))
    conv = base.get_layer(layer)
    extractor = keras.Model(base.inputs, conv.output)
    n = min(args.filters, extractor.output_shape[-1])
    print(f"VGG16 ({'weights from ' + args.weights if args.weights else 'untrained'}): {base.inputs[0].shape} -> "
          f"{layer} output {extractor.output_shape}; visualising its first {n} filters")
    rng = np.random.default_rng(args.seed)
    start = np.clip(0.5 + 0.05 * rng.standard_normal((1, args.size, args.size, 3)), 0, 1).astype(np.float32)
    first = keras.Model(base.inputs, keras.layers.Lambda(lambda t: t[..., :n], name="first_filters")(conv.output))
    with Timer() as t:
        preferred = gradient_ascent(first, start, args.steps, args.step_size)
    before = mean_activations(first, start)[0]
    after = np.diag(mean_activations(first, preferred))
    print(f"gradient ascent: {args.steps} steps in {t.seconds:.2f} s")
    for k in range(n):
        print(f"  filter {k:2d}: {before[k]:+.3f} -> {after[k]:+.3f}")
    print(f"mean increase over {n} filters: {float(np.mean(after - before)):+.3f} "
          f"({int(np.sum(after > before))}/{n} filters increased)")
    digit = x_test[:1]
    if digit.shape[-1] == 1:
        digit = np.repeat(digit, 3, axis=-1)
    digit = keras.layers.Resizing(args.size, args.size)(digit).numpy()
    maps = first.predict(digit, verbose=0)[0]
    low, high = _shared_range(maps)
    try:
        save_image_grid(args.out, [
            (f"preferred inputs of {layer}'s first {n} filters", preferred.mean(axis=-1), 8, (0, 1)),
            (f"test digit ({y_test[0]})", digit.mean(axis=-1), 1, (0, 1)),
            (f"{layer} activations for it (one scale: black {low:.2f}, white {high:+.2f})",
             np.moveaxis(maps, -1, 0), 8, (low, high)),
        ])
        print(f"wrote {args.out}")
    except ImportError:
        print('matplotlib is missing: pip install "gradflow-keras[plot]" to write the PNG')
    return before, after, None


if __name__ == "__main__":
    main()
