"""Prior architectures side by side on one saved tokenizer: test NLL and sample FID (issue 7).

Usage (from the repository root), after `python benchmarks/quality.py ... --save-dir runs/F`:

    python benchmarks/prior_fid_probe.py --save-dir runs/F --minutes 5 \
        --configs '[{}, {"mlp_activation": "relu"}, {"embed_dim": 96, "lr": 2e-3}]'

Without a quality.py run, `--make-tokenizers 3` first trains the tokenizers it needs (3 minutes each, the
reconstruction phase's settings, no VQGAN phase) into `--save-dir`.

Loads the generation tokenizers that `quality.py --save-dir` wrote (`TOKENIZER_FILES`, with `safe_mode`) and encodes
the 60,000 training and 10,000 test images with each. Each config is a JSON object of `quality.transformer_prior`
overrides (`TransformerPrior` arguments) plus optional `"lr"` (AdamW), `"batch_size"`, `"ema_momentum"` (the prior ends
with AdamW's moving average of its weights, `quality.fit_prior`), `"jit_compile"` (true or false: the training step
with or without XLA; default `quality.PRIOR_JIT_COMPILE`), `"conditional": true` (the prior is
conditioned on the 10 Fashion-MNIST classes and samples 200 images of each) and `"tokenizer"` ("ours", the
default, or "baseline": the keras.io example architecture); `"prior": "pixelcnn"` (or `"maskgit"`) trains
`quality.pixelcnn_prior()` (`quality.maskgit_prior()`, bidirectional) with its overrides instead. Unset settings are
`quality.py`'s current ones (the session-9 JSON results ran against the earlier defaults: a 128-wide transformer,
AdamW 1e-3 at batch 128). Each trains a fresh prior for `--minutes` on the training grids (`quality.fit_prior`,
annealed as in `quality.py`), one after the other, then reports its loss on the test grids (nats/token; a MaskGIT
prior's is its masked-token loss) and the FID (EfficientNet-Lite0) of `--samples` samples (each of the `--sampling`
settings) against the 10,000 test images.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)

NUM_CLASSES = 10  # Fashion-MNIST's, for `"conditional": true`
TOKENIZER_FILES = {"ours": "vqkeras_k64_gan_generation.keras", "baseline": "keras_io_k64_generation.keras"}


def probe_prior_path(save_dir, index):
    """Where `--save-priors` writes (and `--load-priors` reads) config `index`'s prior."""
    return os.path.join(save_dir, f"probe_prior_{index}.keras")


def build_prior(config):
    """A fresh prior and its `quality.fit_prior` keyword arguments from a probe config (see the module docstring)."""
    config = dict(config)
    fit = dict(lr=config.pop("lr", quality.PRIOR_LEARNING_RATE),
               batch_size=config.pop("batch_size", quality.PRIOR_BATCH_SIZE),
               ema_momentum=config.pop("ema_momentum", None))
    fit["jit_compile"] = bool(config.pop("jit_compile", quality.PRIOR_JIT_COMPILE))
    if config.pop("conditional", False):
        config["num_classes"] = NUM_CLASSES
    config.pop("tokenizer", None)
    kind = config.pop("prior", "transformer")
    builders = {"transformer": quality.transformer_prior, "pixelcnn": quality.pixelcnn_prior,
                "maskgit": quality.maskgit_prior}
    if kind not in builders:
        raise ValueError(f"prior must be one of {sorted(builders)}. Received: prior={kind!r}")
    prior = builders[kind](**config)
    return prior, fit


def make_tokenizers(paths, minutes, seed):
    """Trains each tokenizer of `paths` (`{"ours" | "baseline": .keras path}`) that is missing for `minutes`, with
    `quality.py`'s reconstruction-phase settings, and saves it there."""
    quality.check_data()
    os.makedirs(os.path.dirname(os.path.abspath(next(iter(paths.values())))), exist_ok=True)
    data = quality.train_images(seed=seed)
    preset = quality.DEFAULTS["ours"]
    for name, path in paths.items():
        if os.path.isfile(path):
            continue
        key = "vqkeras_k64" if name == "ours" else "baseline_k64"
        model = quality.RECONSTRUCTION_MODELS[key](quality.OURS_PRESETS[preset])
        quality.train(model, data, minutes, quality.learning_rate(key, preset), anneal=quality.DEFAULT_ANNEAL,
                      beta_2=quality.ADAM_BETA_2)
        model.save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save-dir", required=True, help="the --save-dir of a quality.py run")
    parser.add_argument("--configs", required=True, help="JSON list of prior configs (see above)")
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per prior")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--sampling", default='{"top_k": 32}',
                        help="JSON object of prior.sample arguments, or a list of them (each prior samples with each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="JSON results")
    parser.add_argument("--save-priors", action="store_true",
                        help="saves config i's prior as <save-dir>/probe_prior_<i>.keras")
    parser.add_argument("--make-tokenizers", type=float, default=None, metavar="MINUTES",
                        help="first trains the missing K=64 tokenizers into --save-dir, MINUTES each, as quality.py's "
                             "reconstruction phase does (no VQGAN phase): priors side by side without a quality.py run")
    parser.add_argument("--load-priors", action="store_true",
                        help="loads config i's prior from <save-dir>/probe_prior_<i>.keras (an earlier --save-priors) "
                             "instead of training it: more sampling settings for the same priors")
    args = parser.parse_args()
    try:
        configs, sampling = json.loads(args.configs), json.loads(args.sampling)
    except json.JSONDecodeError as error:
        parser.error(f"--configs and --sampling must be JSON. Received: {args.configs!r}, {args.sampling!r} ({error})")
    settings = sampling if isinstance(sampling, list) else [sampling]
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs + settings):
        parser.error(f"--configs must be a JSON list of objects and --sampling an object or a list of them. "
                     f"Received: {args.configs!r}, {args.sampling!r}")
    wanted = sorted({c.get("tokenizer", "ours") for c in configs})
    unknown = [name for name in wanted if name not in TOKENIZER_FILES]
    if unknown:
        parser.error(f"a config's tokenizer must be one of {sorted(TOKENIZER_FILES)}. Received: {unknown}")
    paths = {name: os.path.join(args.save_dir, TOKENIZER_FILES[name]) for name in wanted}
    if args.make_tokenizers is not None:
        make_tokenizers(paths, args.make_tokenizers, args.seed)
    missing = [path for path in paths.values() if not os.path.isfile(path)]
    if missing:
        parser.error(f"--save-dir {args.save_dir!r} lacks {', '.join(missing)} (written by quality.py --save-dir)")
    if args.load_priors:
        missing = [probe_prior_path(args.save_dir, i) for i in range(len(configs))
                   if not os.path.isfile(probe_prior_path(args.save_dir, i))]
        if missing:
            parser.error(f"--load-priors: {', '.join(missing)} not found "
                         "(written by an earlier run with --save-priors)")
    quality.check_data()
    train_x, test_x = quality.fashion_images("train"), quality.fashion_images("test")
    train_labels, test_labels = (quality.vqkeras.data.load_offline_arrays("fashion_mnist", split=split)[1]
                                 .astype("int32") for split in ("train", "test"))
    balanced = quality.np.arange(args.samples, dtype="int32") % NUM_CLASSES  # sampling labels, class-balanced
    tokenizers, tokens = {}, {}
    for name, path in paths.items():
        tokenizers[name] = quality.load_saved(path)
        tokens[name] = quality.encode_all(tokenizers[name], train_x), quality.encode_all(tokenizers[name], test_x)
    extractor = quality.EfficientNetLite0Features(image_size=128)
    test_stats = quality.statistics(test_x, extractor)
    rows = []
    for index, config in enumerate(configs):
        quality.keras.utils.set_random_seed(args.seed)
        name = config.get("tokenizer", "ours")
        tokenizer, (train_tokens, test_tokens) = tokenizers[name], tokens[name]
        conditional = bool(config.get("conditional"))
        prior_path = probe_prior_path(args.save_dir, index)
        if args.load_priors:
            prior, info = quality.load_saved(prior_path), {"steps": None, "loss": None}
        else:
            prior, fit = build_prior(config)
            info = quality.fit_prior(prior, train_tokens, args.minutes, labels=train_labels if conditional else None,
                                     anneal=quality.DEFAULT_ANNEAL, **fit)
        if args.save_priors:
            prior.save(prior_path)
        test_loss = float(prior.evaluate(test_tokens, test_labels if conditional else None, batch_size=500, verbose=0,
                                         return_dict=True)["loss"])
        for setting in settings:
            samples = quality.sample_images(tokenizer, prior, args.samples, seed=args.seed,
                                            labels=balanced if conditional else None, **setting)
            fid = quality.fid_against(samples, extractor, test_stats)
            rows.append(dict(config=config, sampling=setting, params=int(prior.count_params()), steps=info["steps"],
                             train_loss=info["loss"], test_loss=test_loss, fid=fid))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.minutes:g} minutes per prior:\n")
    print("| Config | Sampling | Parameters | Steps | Test loss (nats/token) | FID (EfficientNet-Lite0) |\n"
          "|---|---|---:|---:|---:|---:|")
    for row in rows:
        steps = "loaded" if row["steps"] is None else f"{row['steps']:,}"
        print(f"| `{json.dumps(row['config'])}` | `{json.dumps(row['sampling'])}` | {row['params']:,} | "
              f"{steps} | {row['test_loss']:.3f} | {row['fid']:.1f} |")
    if args.out:
        quality.save({"args": vars(args), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
