"""Probe: a decoder fine-tuned on perturbed codes, decoding a saved prior's samples (issue 7).

Usage (from the repository root), after `python benchmarks/quality.py ... --save-dir runs/Tfull`:

    python benchmarks/robust_decoder_probe.py --save-dir runs/Tfull --minutes 5 \
        --configs '[{"rate": 0.0}, {"rate": 0.1, "neighbors": 8}]'

Loads our generation tokenizer and transformer prior (and its copy at 10%, the guide) from `--save-dir`, and draws
the 2,000-sample token grids of two sampling settings once (seed 0, as `quality.py`'s sweep). For each config, a
fresh copy of the tokenizer continues as the VQGAN it is, with the encoder, `pre_quant` and the codebook frozen, for
`--minutes`: only the decoder (and the discriminator) learn, and each code of a training grid is replaced, with
probability `rate`, by one of its `neighbors` nearest codebook entries (0: any other code) or, with `"prior": true`,
by a draw from the saved prior given the true codes before it (at `"temperature"`, default 1). The codes, and so the
prior, stay valid. Reports each decoder's test PSNR, its reconstruction FID and the FID of the same sampled grids.
"""

import argparse
import json
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)

SETTINGS = {"t0.9": dict(temperature=0.9), "guided 10% w0.5": dict(guide=0.1, guidance_scale=0.5)}


def perturbing_forward(model, rate, neighbors, prior=None, temperature=1.0):
    """`model.forward` with frozen codes, each replaced with probability `rate` before decoding: by one of its
    `neighbors` nearest codes, by any other code (`neighbors` 0) or, with a `prior`, by a draw from the prior's
    next-token distribution given the true codes before it (teacher forcing, at `temperature`)."""
    import tensorflow as tf

    codebook = model.quantizer.get_codebook_entries(tf.range(model.num_embeddings))
    k = int(codebook.shape[0])
    distances = model.quantizer.compute_distances(codebook, codebook)
    nearest = tf.argsort(distances, axis=-1)[:, 1:neighbors + 1] if neighbors else None

    def forward(self, images, training=False):
        z = self.pre_quant(self.encoder(images, training=False))
        vq = self.quantizer.quantize_with_stats(z, training=False)
        indices = vq["indices"]
        if training and rate > 0:
            shape = tf.shape(indices)
            if prior is not None:
                logits = tf.reshape(prior.logits(indices), (-1, k)) / temperature
                replacement = tf.reshape(tf.random.categorical(logits, 1, dtype=tf.int32), shape)
            elif neighbors:
                choice = tf.random.uniform(shape, 0, neighbors, dtype=tf.int32)
                replacement = tf.gather_nd(nearest, tf.stack([indices, choice], -1))
            else:
                replacement = (indices + tf.random.uniform(shape, 1, k, dtype=tf.int32)) % k
            indices = tf.where(tf.random.uniform(shape) < rate, replacement, indices)
        quantized = self.quantizer.get_codebook_entries(indices)
        return {**vq, "indices": indices, "vq_loss": vq["loss"],
                "reconstructions": self.decoder(self.post_quant(quantized), training=training)}

    return types.MethodType(forward, model)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--save-dir", required=True)
    parser.add_argument("--configs", required=True, help='JSON list of {"rate": p, "neighbors": n}')
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    quality.check_data()
    import tensorflow as tf

    tokenizer_path = os.path.join(args.save_dir, "vqkeras_k64_gan_generation.keras")
    tokenizer = quality.load_saved(tokenizer_path)
    prior = quality.load_saved(os.path.join(args.save_dir, "transformer.keras"))
    guide = quality.load_saved(os.path.join(args.save_dir, "transformer_at_0p1.keras"))
    grids = {}
    for name, setting in SETTINGS.items():
        setting = {**setting, "guide": guide} if "guide" in setting else setting
        grids[name] = tf.concat([prior.sample(250, seed=i, **setting) for i in range(0, args.samples, 250)], 0)
    test_x = quality.fashion_images("test")
    test_ds = tf.data.Dataset.from_tensor_slices(test_x).batch(500)
    extractor = quality.EfficientNetLite0Features(image_size=128)
    test_stats = quality.statistics(test_x, extractor)

    def measure(model):
        row = {"psnr": float(quality.evaluate_model(model, test_ds, verbose=0)["psnr"]),
               "reconstruction_fid": quality.fid_against(quality.reconstruct(model, test_x[:args.samples]),
                                                         extractor, test_stats)}
        for name, grid in grids.items():
            images = quality.in_chunks(lambda g: tf.clip_by_value(model.decode(g), -1, 1).numpy(), grid.numpy())
            row[name] = quality.fid_against(images, extractor, test_stats)
        return row

    rows = [{"config": "saved", **measure(tokenizer)}]
    print(json.dumps(rows[-1]), flush=True)
    train_ds = quality.train_images()
    for config in json.loads(args.configs):
        quality.keras.utils.set_random_seed(0)
        model = quality.load_saved(tokenizer_path)
        for layer in (model.encoder, model.pre_quant, model.quantizer):
            layer.trainable = False
        model.forward = perturbing_forward(model, config.get("rate", 0.0), config.get("neighbors", 0),
                                           prior if config.get("prior") else None, config.get("temperature", 1.0))
        lr = config.get("lr", quality.GAN_LEARNING_RATE)
        budget = quality.train(model, train_ds, args.minutes, lr, anneal=quality.DEFAULT_ANNEAL,
                               optimizer=quality.keras.optimizers.Adam(lr, beta_1=0.5),
                               discriminator_optimizer=quality.keras.optimizers.Adam(lr, beta_1=0.5))
        rows.append({"config": config, "steps": budget.steps, **measure(model)})
        print(json.dumps(rows[-1]), flush=True)
    if args.out:
        quality.save({"args": vars(args), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
