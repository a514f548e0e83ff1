"""Images from any tensorflow-datasets image dataset (`"tfds:<name>"`)."""

import difflib


def _import_tfds():
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise ImportError(
            "'tfds:' sources need tensorflow-datasets. Install it with "
            "`pip install tensorflow-datasets`."
        ) from error
    return tfds


def check_tfds_name(name):
    """Raises a `ValueError` naming the closest datasets if `name` is not a tfds builder."""
    tfds = _import_tfds()
    base, _, rest = name.partition(":")
    if base and rest and not rest[0].isdigit():
        return  # A community dataset, "namespace:name": tfds checks it.
    base = base.split("/")[0]
    builders = tfds.list_builders()
    if not base or base not in builders:
        close = difflib.get_close_matches(base, builders, n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(repr('tfds:' + c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown tensorflow-datasets dataset {base!r}.{hint} Received: source={'tfds:' + name!r}"
        )


def find_image_key(features, image_key=None):
    """Returns the key of the image feature in a tfds `FeaturesDict`.

    Args:
        features: A `tfds.features.FeaturesDict`.
        image_key: Optional string. If given, it is checked and returned.

    Returns:
        `image_key`, or the first top-level `tfds.features.Image` feature's key.
    """
    tfds = _import_tfds()
    image_keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    if image_key is not None:
        if image_key not in features.keys():
            raise ValueError(
                f"image_key is not a feature of this dataset; its features are "
                f"{list(features.keys())} (image features: {image_keys}). "
                f"Received: image_key={image_key!r}"
            )
        return image_key
    if not image_keys:
        raise ValueError(
            f"This dataset has no image feature; pass image_key= naming one of "
            f"{list(features.keys())}."
        )
    return image_keys[0]


def load_tfds_images(name, split, image_key=None, shuffle_files=False, seed=None, data_dir=None):
    """Loads the image feature of a tfds dataset.

    Args:
        name: String. tfds name, optionally with a config or version
            (`"celeb_a"`, `"cifar10:3.0.2"`).
        split: String. tfds split, e.g. `"train"` or `"test[:10%]"`.
        image_key: Optional string. The image feature; the first image feature if `None`.
        shuffle_files: Boolean. Whether tfds shuffles its files.
        seed: Optional integer for file shuffling.
        data_dir: Optional tfds data directory.

    Returns:
        A tuple `(dataset, num_examples)`: an unbatched `tf.data.Dataset` of image
        tensors, and its length, or `None` if unknown.
    """
    tfds = _import_tfds()
    check_tfds_name(name)
    read_config = tfds.ReadConfig(shuffle_seed=seed) if seed is not None else None
    try:
        dataset, info = tfds.load(
            name,
            split=split,
            data_dir=data_dir,
            shuffle_files=shuffle_files,
            read_config=read_config,
            with_info=True,
        )
    except ModuleNotFoundError as error:
        # tensorflow-datasets imports importlib_resources lazily but declares it only for Python < 3.9, so
        # `tfds.load` fails on a fresh install (vqkeras lists it in install_requires for that reason).
        raise ImportError(
            f"source='tfds:{name}' could not be loaded: tensorflow-datasets needs the {error.name} package, which it "
            f"does not install itself. Install it with `pip install {error.name}`; the dataset then needs a network "
            "once, to download it into data_dir."
        ) from None
    except OSError as error:  # requests' and urllib's connection errors, an unreachable or unwritable data_dir
        raise OSError(
            f"source='tfds:{name}' could not be downloaded ({type(error).__name__}: "
            f"{' '.join(str(error).split())[:300]}). A tfds dataset needs a network once, to download it into data_dir (~/tensorflow_datasets by default); "
            "later runs read it from there offline. Offline, use a source from vqkeras.data.offline (e.g. "
            "'mnist5k', 'fashion_mnist', 'orl_faces')."
        ) from None
    key = find_image_key(info.features, image_key)
    dataset = dataset.map(lambda example: example[key])
    cardinality = int(dataset.cardinality())
    return dataset, (cardinality if cardinality >= 0 else None)
