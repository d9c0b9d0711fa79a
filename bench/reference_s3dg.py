"""`s3d_g_tf` against the official S3D-G (tensorflow/models, research/slim/nets/s3dg.py, TF 1
code run unchanged on TF 2 through tf_slim).

    PYTHONPATH=TFDIR python bench/reference_s3dg.py --code SLIM [--layout OUT.json]

SLIM: a directory holding the official `nets/s3dg.py` and `nets/i3d_utils.py` (research/slim of a
tensorflow/models checkout); TFDIR: tensorflow-cpu, tf_slim and tf_keras (pip install --target).
The official graph is built at its defaults with random weights and BatchNorm statistics far from
the identity; its variables go through `spaces.load_weights` (their TF layout converted by
`spaces.tf_layout`) into `s3d_g_tf`, and the logits of both on the same random clip are compared.
It also prints the official trainable parameter count (the preset's reference count), and with
--layout writes the official variables' names and shapes (tests/spaces/data/s3dg_tf.json)."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import types
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SOURCE = ("tensorflow/models research/slim/nets/s3dg.py (as of April 2019, the tf.contrib version) at its defaults, "
          "400 classes, run on TF 2.21 + tf_slim 1.1: tf.global_variables() in creation order, names and shapes "
          "written by its own code (bench/reference_s3dg.py --layout)")


def _tf1_on_tf2() -> object:
    """`import tensorflow` as the official code expects it: tf.compat.v1 in graph mode, with
    `tf.contrib.framework` and `tf.contrib.layers` from tf_slim (their successor)."""
    import tensorflow as real
    import tf_slim

    for sub in ("", ".normalization", ".base", ".convolutional", ".core", ".pooling"):  # where TF 2 looks for them
        sys.modules["tf_keras.legacy_tf_layers" + sub] = importlib.import_module("tf_keras.src.legacy_tf_layers" + sub)
    v1 = real.compat.v1
    v1.disable_eager_execution()
    proxy = types.ModuleType("tensorflow")
    proxy.contrib = types.SimpleNamespace(layers=tf_slim, framework=types.SimpleNamespace(
        arg_scope=tf_slim.arg_scope, add_arg_scope=tf_slim.add_arg_scope))
    proxy.__getattr__ = lambda name: getattr(v1, name)
    sys.modules["tensorflow"] = proxy
    return proxy


def _random(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Weights that keep activations near unit scale; norms far from the identity (as `realistic`)."""
    if name.endswith("moving_mean"):
        return rng.normal(0, 0.2, shape)
    if name.endswith("moving_variance"):
        return rng.uniform(0.001, 0.021, shape)
    if name.endswith(("beta", "biases")):
        return rng.normal(0, 0.1, shape)
    fan_in = int(np.prod(shape[:-1]))
    return rng.normal(0, np.sqrt(2.0 / fan_in), shape)


def _official(code: Path) -> tuple[object, object]:
    tf = _tf1_on_tf2()
    sys.path.insert(0, str(code.resolve().parent))
    return tf, importlib.import_module(f"{code.resolve().name}.nets.s3dg")


def counts(code: Path) -> tuple[int, float]:
    """The official network's trainable parameters and multiply-adds (TF's own shape-based count of
    its Conv3D ops, flops / 2) at its default input, 64 x 224 x 224, 400 classes."""
    tf, s3dg = _official(code)
    from tensorflow.python.framework import ops

    with tf.Graph().as_default() as graph:
        x = tf.placeholder(tf.float32, [1, 64, 224, 224, 3])
        with tf.contrib.framework.arg_scope(s3dg.s3dg_arg_scope()):
            s3dg.s3dg(x, num_classes=400, is_training=False)
        params = sum(int(np.prod(v.shape)) for v in tf.trainable_variables())
        flops = sum(ops.get_stats_for_node_def(graph, op.node_def, "flops").value or 0
                    for op in graph.get_operations() if op.type == "Conv3D")
    return params, flops / 2e9


def compare(code: Path, frames: int = 16, crop: int = 224, layout: Path | None = None,
            padding: str = "same") -> float:
    """Max |ours - official| / max |official| on the logits; `padding="symmetric"` is the control:
    the same network with PyTorch's padding, which must not agree."""
    tf, s3dg = _official(code)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [1, frames, crop, crop, 3])
        with tf.contrib.framework.arg_scope(s3dg.s3dg_arg_scope()):
            logits, _ = s3dg.s3dg(x, num_classes=400, is_training=False)
        variables = tf.global_variables()
        if layout:  # one variable a line
            rows = ",\n".join(json.dumps([v.name.split(":")[0], list(map(int, v.shape))]) for v in variables)
            layout.write_text(f'{{"source": {json.dumps(SOURCE)},\n"variables": [\n{rows}\n]}}\n')
        rng = np.random.default_rng(0)
        values = {v.name: _random(v.name.split(":")[0], tuple(map(int, v.shape)), rng).astype(np.float32)
                  for v in variables}
        clip = rng.normal(0, 1, (1, frames, crop, crop, 3)).astype(np.float32)
        with tf.Session() as sess:
            for v in variables:
                v.load(values[v.name], sess)
            theirs = sess.run(logits, {x: clip})

    from spaces import build, get_preset, load_weights

    net = build(get_preset("s3d_g_tf", frames=frames, crop=crop, num_classes=400).replace(padding=padding)).eval()
    load_weights(net, values, name="official s3dg.py (random weights)")
    with torch.no_grad():
        ours = net(torch.from_numpy(clip).permute(0, 4, 1, 2, 3)).numpy()
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--code", type=Path, required=True, help="the official research/slim (holding nets/s3dg.py)")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--layout", type=Path, help="write the official variables' names and shapes here (JSON)")
    args = p.parse_args()
    params, gmacs = counts(args.code)
    print(f"official S3D-G at 64 x 224 x 224, 400 classes: {params:,} trainable parameters, {gmacs:.4f} GMACs "
          "(its Conv3D ops, TF's count / 2)")
    for padding in ("same", "symmetric"):
        err = compare(args.code, args.frames, args.crop, args.layout if padding == "same" else None, padding)
        what = "s3d_g_tf" if padding == "same" else "control, s3d_g_tf with PyTorch's symmetric padding,"
        print(f"{what} vs official s3dg.py ({args.frames} x {args.crop} x {args.crop}, logits): "
              f"max |difference| / max |output| = {err:.2e}")


if __name__ == "__main__":
    main()
