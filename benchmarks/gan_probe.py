"""Short probe of the adversarial phase of our generation tokenizer (`quality.train_gan`, issue 7).

Usage (from the repository root):

    python benchmarks/gan_probe.py --minutes 3 --gan-minutes 3 --save /tmp/plain3.keras
    python benchmarks/gan_probe.py --load /tmp/plain3.keras --gan-minutes 3 --lr 1e-4

Trains (or loads) a K=64 vqkeras VQVAE (`--preset`, default "plain"), then continues it as a VQGAN for
`--gan-minutes`. Before and after, prints the test PSNR and the FID (EfficientNet-Lite0) of `--samples` test
reconstructions against the 10,000 test images, the figure that bounds the FID of prior samples.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import quality  # noqa: E402  (sibling script module)


def reconstruction_fid(model, test_x, test_stats, extractor, n):
    return quality.fid_against(quality.reconstruct(model, test_x[:n]), extractor, test_stats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="L2 phase (ignored with --load)")
    parser.add_argument("--gan-minutes", type=float, default=3.0)
    parser.add_argument("--lr", type=float, default=quality.GAN_LEARNING_RATE, help="Adam lr of the GAN phase")
    parser.add_argument("--settings", default="{}", help="JSON overrides of quality.GAN_SETTINGS")
    parser.add_argument("--load", default=None, help="a saved L2-phase model (.keras) instead of training one")
    parser.add_argument("--save", default=None, help="where to save the L2-phase model")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64, help="batch size of both phases")
    parser.add_argument("--preset", default="plain", choices=sorted(quality.OURS_PRESETS),
                        help="the L2-phase model (ignored with --load)")
    parser.add_argument("--beta-2", type=float, default=0.999, help="Adam beta_2 of the L2 phase")
    parser.add_argument("--anneal", type=float, default=0.0,
                        help="both phases: the learning rate falls linearly to 0 over this last fraction of the "
                             "budget (quality.py uses 0.2; 0: constant, as in the probes before session 13)")
    parser.add_argument("--save-gan", default=None,
                        help="where to save the VQGAN (.keras); `prior_fid_probe.py --save-dir D` reads "
                             "D/vqkeras_k64_gan_generation.keras")
    parser.add_argument("--entropy-weight", type=float, default=None,
                        help="VQGAN phase: `code_entropy_weight`, the weight of the entropy of the batch's mean soft "
                             "code assignment (default: quality.GAN_SETTINGS')")
    parser.add_argument("--entropy-temperature", type=float, default=None,
                        help="its `code_entropy_temperature` (squared-distance units; default: quality.GAN_SETTINGS')")
    args = parser.parse_args()
    quality.check_data()
    quality.GAN_SETTINGS.update(json.loads(args.settings))
    flags = {"code_entropy_weight": args.entropy_weight, "code_entropy_temperature": args.entropy_temperature}
    quality.GAN_SETTINGS.update({key: value for key, value in flags.items() if value is not None})

    import tensorflow as tf

    quality.keras.utils.set_random_seed(0)
    train_ds = quality.train_images(args.batch_size)
    test_x = quality.fashion_images("test")
    test_ds = tf.data.Dataset.from_tensor_slices(test_x).batch(500)
    if args.load:
        model = quality.keras.saving.load_model(args.load, safe_mode=True)
    else:
        model = quality.ours(64, quality.OURS_PRESETS[args.preset])
        quality.train(model, train_ds, args.minutes, quality.OURS_LEARNING_RATES[args.preset], beta_2=args.beta_2,
                      anneal=args.anneal)
        if args.save:
            model.save(args.save)
    extractor = quality.EfficientNetLite0Features(image_size=128)
    test_stats = quality.feature_statistics(quality.compute_features(test_x, extractor, batch_size=250, verbose=0))
    result = {"settings": quality.GAN_SETTINGS, "lr": args.lr, "batch_size": args.batch_size}
    result["before"] = {"psnr": float(quality.evaluate_model(model, test_ds, verbose=0)["psnr"]),
                        "fid": reconstruction_fid(model, test_x, test_stats, extractor, args.samples)}
    print(result, flush=True)
    # Native 28×28 perceptual input unless --settings sets perceptual_image_size (the probes before session 11).
    gan, budget = quality.train_gan(model, train_ds, args.gan_minutes, lr=args.lr, probe=test_x[:1000],
                                    perceptual_image_size=0, anneal=args.anneal)
    if args.save_gan:
        gan.save(args.save_gan)
    evaluation = quality.evaluate_model(gan, test_ds, verbose=0)
    result["after"] = {"psnr": float(evaluation["psnr"]), "perplexity": float(evaluation["perplexity"]),
                       "fid": reconstruction_fid(gan, test_x, test_stats, extractor, args.samples),
                       "steps": budget.steps}
    print(json.dumps(result, default=float))


if __name__ == "__main__":
    main()
