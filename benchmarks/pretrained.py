"""Encode + decode throughput of the full-size taming ImageNet f16-16384 tokenizer: vqkeras (TF, CPU) against the
reference PyTorch model with the same weights, threads matched.

One random-weight taming model (76M parameters) is saved as a Lightning checkpoint and converted with
`vqkeras.convert.from_taming`. Each implementation then runs in its own fresh subprocess (so peak memory is its
own), alternated `--rounds` times: a warm-up, then `--repeats` timed `encode` + `decode` of a `--batch` of
`--size`² images. Reported: images/s (median over the timed repeats and rounds) and peak resident memory
(`ru_maxrss` of the subprocess). The TF side is timed twice: eager (`model.encode` / `model.decode`, the public
API) and the same calls inside one `tf.function`.

Run from a frozen copy (the developers' guide):

    git archive HEAD | tar -x -C /tmp/frozen-pretrained && cd /tmp/frozen-pretrained
    python benchmarks/pretrained.py --threads 2 --out /tmp/pretrained_bench.json
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def _make_checkpoint(folder):
    """A random-weight full-size f16-16384 taming model saved as a Lightning checkpoint; the converted .keras."""
    sys.path.insert(0, os.getcwd())
    from tests.convert.test_taming_reference import _random_model
    from tests.convert.test_taming_reference import _save_lightning_checkpoint
    from vqkeras.convert import from_taming
    from vqkeras.convert.tokenizer import save_atomically
    from vqkeras.presets import get_preset

    config = get_preset("taming_imagenet_f16_16384")["config"]
    model = _random_model(config, 256)
    checkpoint = _save_lightning_checkpoint(model, os.path.join(folder, "last.ckpt"))
    save_atomically(from_taming(checkpoint, config=config), os.path.join(folder, "model.keras"))
    return checkpoint


def _torch_worker(args):
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    sys.path.insert(0, os.getcwd())
    from tests.convert.test_taming_reference import TamingVQModel
    from vqkeras.presets import get_preset

    model = TamingVQModel(get_preset("taming_imagenet_f16_16384")["config"], 256).eval()
    state = torch.load(os.path.join(args.folder, "last.ckpt"), weights_only=False)["state_dict"]
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("loss.")})
    images = torch.rand(args.batch, 3, args.size, args.size) * 2 - 1

    def step():
        with torch.no_grad():
            _, _, (_, _, indices) = model.quantize(model.latents(images))
            grid = args.size // 16
            codes = model.quantize.get_codebook_entry(indices.reshape(-1), (args.batch, grid, grid, 256))
            return model.decoder(model.post_quant_conv(codes))

    return {"torch": _time(step, args)}


def _tf_worker(args):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    import numpy as np

    import vqkeras  # noqa: F401

    model = keras.models.load_model(os.path.join(args.folder, "model.keras"))
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, (args.batch, args.size, args.size, 3)), "float32")

    def eager():
        return model.decode(model.encode(images)).numpy()

    graph = tf.function(lambda x: model.decode(model.encode(x)))
    return {"tf_eager": _time(eager, args), "tf_function": _time(lambda: graph(images).numpy(), args)}


def _time(step, args):
    step()  # warm-up (and the trace for tf.function)
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two subprocesses")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    parser.add_argument("--worker", choices=["torch", "tf"], default=None, help=argparse.SUPPRESS)
    parser.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = (_torch_worker if args.worker == "torch" else _tf_worker)(args)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as folder:
        _make_checkpoint(folder)
        timings, peaks = {}, {}
        for _ in range(args.rounds):
            for worker in ("torch", "tf"):
                command = [sys.executable, __file__, "--worker", worker, "--folder", folder,
                           *(f"--{k}={getattr(args, k)}" for k in ("batch", "size", "threads", "repeats"))]
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                result = json.loads(out.strip().splitlines()[-1])
                peaks[worker] = max(peaks.get(worker, 0), result.pop("peak_rss_mb"))
                for name, seconds in result.items():
                    timings.setdefault(name, []).extend(seconds)
    report = {
        "setup": vars(args),
        "images_per_second": {k: args.batch / statistics.median(v) for k, v in timings.items()},
        "seconds": timings,
        "peak_rss_mb": peaks,
    }
    report["ratio_tf_function_to_torch"] = (report["images_per_second"]["tf_function"]
                                           / report["images_per_second"]["torch"])
    report["ratio_tf_eager_to_torch"] = report["images_per_second"]["tf_eager"] / report["images_per_second"]["torch"]
    print(json.dumps(report, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
