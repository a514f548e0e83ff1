"""Side-by-side measures of faces generators, in one run (run from a frozen copy).

python benchmarks/faces_measure.py NAME=PATH [NAME=PATH ...]
For each generator: held-out reconstruction PSNR and codebook usage on ORL people 37-40 (40 photos), and KID
(EfficientNet-Lite0 features, vqkeras.metrics.kid) of 400 samples (the demo's sampling: temperature 1, no top-k,
seeds 0..49 in chunks of 8) against the 400 ORL photos. Prints one line per generator. KID's subsets hold
min(1000, 400) images, i.e. every image, so its `± std` over subsets is 0: it says nothing about the sampling noise.
"""

import sys
import time

import keras
import numpy as np
import tensorflow as tf

import vqkeras


def photos(split):
    return np.concatenate(list(vqkeras.data.load_images("orl_faces", 64, channels=1, batch_size=100, split=split,
                                                         shuffle=False)))


all_photos, held_out = photos("all"), photos("train[90%:]")
assert all_photos.shape[0] == 400 and held_out.shape[0] == 40
for spec in sys.argv[1:]:
    name, path = spec.split("=", 1)
    start = time.time()
    generator = keras.models.load_model(path, safe_mode=True)
    tokenizer = generator.tokenizer
    recon = tokenizer.predict(held_out, batch_size=40, verbose=0)
    psnr = float(tf.reduce_mean(tf.image.psnr(vqkeras.utils.from_model_range(held_out),
                                              vqkeras.utils.from_model_range(recon), max_val=1.0)))
    usage = len(np.unique(tokenizer.encode(held_out).numpy())) / tokenizer.num_embeddings
    samples = np.concatenate([np.asarray(generator.generate(8, seed=i)) for i in range(50)])
    result = vqkeras.metrics.kid(samples, all_photos, verbose=0)
    print(f"{name}: held-out PSNR {psnr:.2f} dB, usage {usage:.1%}, KID {result['kid']:.4f} ± {result['kid_std']:.4f}"
          f" ({len(samples)} samples vs 400 photos), {time.time() - start:.0f} s [{path}]", flush=True)
