"""Run by tests/distributed/test_data_parallel.py under ``mpirun -n P python -m mpi4py``, or alone
(P = 1, no distribution) for the reference: trains a small model and writes its weights, the
history and evaluate's figures to OUT/rank<r>.npz."""
import json
import sys

import numpy as np

import gradflow as keras

out_dir, mode, optimizer = sys.argv[1], sys.argv[2], sys.argv[3]
distributed = mode == "distributed"
if distributed:
    keras.distribution.set_distribution(keras.distribution.DataParallel())
rank = keras.distribution.process_id() if distributed else 0
keras.utils.set_random_seed(100 + rank)  # ranks start from different weights: fit broadcasts rank 0's
if not distributed:
    keras.utils.set_random_seed(100)

rng = np.random.default_rng(0)
x = rng.normal(size=(96, 6)).astype("float32")
y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")
model = keras.Sequential([keras.Input(shape=(6,)),
                          keras.layers.Dense(16, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-3)),
                          keras.layers.Dense(2, activation="softmax")])
opt = keras.optimizers.Adam(1e-2, global_clipnorm=0.5) if optimizer == "adam" else \
    keras.optimizers.SGD(0.1, momentum=0.9)
model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=32, epochs=4, shuffle=True, verbose=0)
evaluation = model.evaluate(x, y, batch_size=40, verbose=0, return_dict=True)
predictions = model.predict(x[:10], batch_size=4, verbose=0)
np.savez(f"{out_dir}/rank{rank}.npz", *model.get_weights(), predictions=predictions,
         meta=np.frombuffer(json.dumps({"history": history.history, "evaluate": evaluation}).encode(), np.uint8))
