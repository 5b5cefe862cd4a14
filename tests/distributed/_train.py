"""Run by tests/distributed/test_data_parallel.py under ``mpirun -n P python -m mpi4py``, or alone
(P = 1, no distribution) for the reference: trains a small model and writes its weights, the
history and evaluate's figures to OUT/rank<r>.npz."""
import json
import sys

import numpy as np

import gradflow as keras

out_dir, mode, optimizer = sys.argv[1], sys.argv[2], sys.argv[3]
if len(sys.argv) > 5 and sys.argv[5] == "reference":  # the plain float64 oracle: equality to 1e-12
    keras.set_backend("reference")
    keras.backend.set_floatx("float64")
distributed = mode == "distributed"
if distributed:
    # small buckets: the gradients travel in several all-reduces started during the backward pass
    keras.distribution.set_distribution(keras.distribution.DataParallel(bucket_bytes=256))
rank = keras.distribution.process_id() if distributed else 0
keras.utils.set_random_seed(100 + rank)  # ranks start from different weights: fit broadcasts rank 0's
if not distributed:
    keras.utils.set_random_seed(100)

rng = np.random.default_rng(0)
x = rng.normal(size=(96, 6)).astype(keras.backend.floatx())
y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")
opt = keras.optimizers.Adam(1e-2, global_clipnorm=0.5) if optimizer == "adam" else \
    keras.optimizers.SGD(0.1, momentum=0.9)
if len(sys.argv) > 4 and sys.argv[4] == "two_heads":
    # two outputs (per-output losses and metrics), sample weights, validation data
    inputs = keras.Input(shape=(6,))
    hidden = keras.layers.Dense(16, activation="tanh")(inputs)
    model = keras.Model(inputs, {"cls": keras.layers.Dense(2, activation="softmax", name="cls")(hidden),
                                 "reg": keras.layers.Dense(1, name="reg")(hidden)})
    model.compile(optimizer=opt, loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"], "reg": ["mae"]})
    targets = {"cls": y, "reg": x[:, :1] * 2.0}
    weights = np.linspace(0.5, 1.5, len(x)).astype("float32")
    history = model.fit(x[:80], {k: v[:80] for k, v in targets.items()}, sample_weight=weights[:80], batch_size=16,
                        epochs=3, shuffle=True, verbose=0,
                        validation_data=(x[80:], {k: v[80:] for k, v in targets.items()}))
    evaluation = model.evaluate(x, targets, batch_size=40, verbose=0, return_dict=True)
    predictions = model.predict(x[:10], batch_size=4, verbose=0)["cls"]
elif len(sys.argv) > 4 and sys.argv[4] == "dropout_bn":
    # dropout masks differ per rank and batch norm sees each rank's rows: not one process's numbers,
    # but every rank must still hold the same model (a last batch of 96 % 40 = 16 rows, uneven shares)
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(16), keras.layers.BatchNormalization(),
                              keras.layers.Activation("relu"), keras.layers.Dropout(0.3),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=40, epochs=3, shuffle=True, verbose=0, validation_split=0.2)
    evaluation = model.evaluate(x, y, batch_size=40, verbose=0, return_dict=True)
    predictions = model.predict(x[:10], batch_size=4, verbose=0)
elif len(sys.argv) > 4 and sys.argv[4] == "sync_bn":
    # BatchNormalization(synchronized=True): the statistics of the global batch, so data-parallel
    # training (uneven shares of 40 over 3 ranks) equals one process exactly as for Dense alone
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(16),
                              keras.layers.BatchNormalization(synchronized=True), keras.layers.Activation("relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=40, epochs=3, shuffle=True, verbose=0)
    evaluation = model.evaluate(x, y, batch_size=40, verbose=0, return_dict=True)
    predictions = model.predict(x[:10], batch_size=4, verbose=0)
elif len(sys.argv) > 4 and sys.argv[4] == "files":
    # every rank names its own files: only rank 0's may appear. The second fit finds rank 0's backup
    # (the other ranks have none) and every rank must resume at its epoch with its weights.
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [keras.callbacks.CSVLogger(f"{out_dir}/log{rank}.csv"),
                 keras.callbacks.ModelCheckpoint(f"{out_dir}/ckpt{rank}.weights.h5", save_weights_only=True),
                 keras.callbacks.BackupAndRestore(f"{out_dir}/backup{rank}", delete_checkpoint=False)]
    model.fit(x, y, batch_size=32, epochs=2, shuffle=True, verbose=0, callbacks=callbacks)
    model.save(f"{out_dir}/model{rank}.keras")
    keras.utils.set_random_seed(7 + rank)  # ranks diverge before the resume: it must bring them together
    for w in model.weights:
        w.assign(np.random.default_rng(rank).normal(size=w.shape))
    # kept after this fit too (Keras removes a completed fit's backup folder): the test checks who wrote it
    backup = keras.callbacks.BackupAndRestore(f"{out_dir}/backup0" if rank == 0 else f"{out_dir}/backup{rank}",
                                              delete_checkpoint=False)
    history = model.fit(x, y, batch_size=32, epochs=4, shuffle=True, verbose=0, callbacks=[backup])
    evaluation = model.evaluate(x, y, batch_size=40, verbose=0, return_dict=True)
    predictions = model.predict(x[:10], batch_size=4, verbose=0)
else:
    model = keras.Sequential([keras.Input(shape=(6,)),
                              keras.layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-3)),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=4, shuffle=True, verbose=0)
    evaluation = model.evaluate(x, y, batch_size=40, verbose=0, return_dict=True)
    predictions = model.predict(x[:10], batch_size=4, verbose=0)
np.savez(f"{out_dir}/rank{rank}.npz", *model.get_weights(), predictions=predictions,
         meta=np.frombuffer(json.dumps({"history": history.history, "evaluate": evaluation}).encode(), np.uint8))
