"""Runs several of tests/distributed/_train.py's cases in one process, one after the other, so a
multi-host test pays for starting the job and importing gradflow once:

    python _cases.py TRAIN ROOT NAME:MODE:OPTIMIZER:MODEL [...]

writes each case's ROOT/NAME/rank<r>.npz as _train.py does."""
import os
import runpy
import sys

train, root = sys.argv[1], sys.argv[2]
for spec in sys.argv[3:]:
    name, mode, optimizer, model = spec.split(":")
    out = os.path.join(root, name)
    os.makedirs(out, exist_ok=True)
    sys.argv = [train, out, mode, optimizer, model]
    runpy.run_path(train, run_name="__main__")
