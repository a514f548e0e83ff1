"""Side-by-side measures of Fashion-MNIST generators, in one run (run from a frozen copy).

python benchmarks/fashion_measure.py NAME=PATH [NAME=PATH ...] [--scales 0.25,0.35,0.5] [--samples 1000]

For each generator (at its own image size; the reference images are resized to it by `prepare_images`):
- reconstruction PSNR and codebook usage on the first 1,000 test images;
- the FID of `--samples` training images that no statistics use (from index 20,000), the measure's floor at that
  sample count (FID falls as the sample count grows), and of their reconstructions: what a perfect prior would reach
  with this tokenizer;
- FID (EfficientNet-Lite0 at 128×128, `vqkeras.metrics`) of `--samples` samples (temperature 1, no top-k, seed 0)
  against the 10,000 test images, unguided and at each guidance scale (a generator with a guide);
- the scale it would choose: the lowest FID against 10,000 training images (the test set never chooses), and the
  test FID at that scale.
Prints one line per generator and setting.
"""

import argparse
import time

import keras
import numpy as np

import vqkeras
from common import fid_against  # (sibling script module)
from common import image_statistics
from vqkeras.metrics import EfficientNetLite0Features
from vqkeras.metrics import frechet_distance


def fashion(split):
    return vqkeras.data.load_offline_arrays("fashion_mnist", split=split)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", metavar="NAME=PATH")
    parser.add_argument("--scales", default="0.25,0.35,0.5")
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    extractor = EfficientNetLite0Features()
    test, train = fashion("test"), fashion("train")
    real = train[20000:20000 + args.samples]
    train = train[:10000]
    for spec in args.models:
        name, path = spec.split("=", 1)
        start = time.time()
        generator = keras.models.load_model(path, safe_mode=True)
        test_images, train_images = generator.prepare_images(test).numpy(), generator.prepare_images(train).numpy()
        stats = {split: image_statistics(images, extractor)
                 for split, images in (("test", test_images), ("train", train_images))}
        real_images = generator.prepare_images(real).numpy()
        held_out = test_images[:1000]
        metrics = vqkeras.metrics.evaluate_model(generator.tokenizer, held_out, batch_size=250)
        print(f"{name}: PSNR {metrics['psnr']:.2f} dB, usage {metrics['usage']:.1%} on 1,000 test images "
              f"[{path}]", flush=True)
        reconstructions = np.clip(generator.tokenizer.predict(real_images, batch_size=250, verbose=0), -1, 1)
        print(f"  {args.samples:,} unused training images: FID {fid_against(real_images, extractor, stats['test']):.1f} vs "
              f"test (the floor); their reconstructions: {fid_against(reconstructions, extractor, stats['test']):.1f}",
              flush=True)
        scales = [0.0] + ([float(w) for w in args.scales.split(",")] if generator.guide is not None else [])
        scores = {}
        for scale in scales:
            samples = np.concatenate([np.asarray(generator.generate(250, seed=i, guidance_scale=scale or None))
                                      for i in range(-(-args.samples // 250))])[:args.samples]
            sample_stats = image_statistics(samples, extractor)  # one feature pass, two distances
            scores[scale] = {split: frechet_distance(*sample_stats, *stats[split])
                             for split in stats}
            print(f"  guidance {scale:g}: FID {scores[scale]['test']:.1f} vs test, {scores[scale]['train']:.1f} vs "
                  f"10,000 training images", flush=True)
        chosen = min(scores, key=lambda scale: scores[scale]["train"])
        print(f"  chosen on training images: guidance {chosen:g}, test FID {scores[chosen]['test']:.1f} "
              f"({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
