"""Copy a PyTorch VQ-GAN state dict into a vqkeras `VQVAE`, tensor by tensor, with every name and shape checked.

Both taming-transformers and LlamaGen use the same blocks under different names, so a converter is a naming
function: `names(keras_path) → torch prefix`, where `keras_path` is `"encoder/res_2_1"`, `"decoder/up_3"`,
`"pre_quant"`, … . `StateDictLoader` walks the model in order, takes each tensor by name, checks its shape against
the Keras variable's (in torch layout) and assigns it:

- convolutions: torch `(O, I, kh, kw)` → Keras `(kh, kw, I, O)`;
- GroupNorm: `weight, bias` → `gamma, beta`;
- attention: the 1×1 convs `q, k, v` (`(C, C, 1, 1)`) → one `Dense` kernel `(C, 3C) = [qᵀ | kᵀ | vᵀ]`, and `proj_out`
  → the `Dense` `proj`;
- codebook: `(K, D)` as is;
- a Gumbel quantizer's logits, a 1×1 conv `(K, D, 1, 1)` → the `Dense` `to_logits`, kernel `(D, K)`.

The first tensor that is missing or mis-shaped raises a `ValueError` naming the key and both shapes; tensors left
over (beyond the skipped ones, e.g. the discriminator's `loss.*`) are an error too, each named with its shape.
"""

import numpy as np

from vqkeras.layers.attention_block import AttentionBlock
from vqkeras.layers.res_block import ResBlock


class StateDictLoader:
    """Takes tensors from a state dict by name, checking shapes, and records which were used.

    Args:
        state: Dict `name → numpy array` (torch layout).
        source: String naming the checkpoint in errors (e.g. `"taming checkpoint model.ckpt"`).
        skip: Callable `name → bool`: tensors to leave out (neither loaded nor counted as extra).
    """

    def __init__(self, state, source, skip=lambda name: False):
        self.state = state
        self.source = source
        self.skip = skip
        self.used = set()

    def take(self, key, shape):
        """The tensor `key`, which must have `shape` (a tuple)."""
        if key not in self.state:
            raise ValueError(f"{self.source}: tensor {key!r} is missing (the model expects shape {tuple(shape)}). "
                             "Is it a checkpoint of another architecture or configuration?")
        value = np.asarray(self.state[key])
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"{self.source}: tensor {key!r} has shape {tuple(value.shape)}; the model expects "
                             f"{tuple(shape)}.")
        self.used.add(key)
        return value.astype(np.float32)

    def conv(self, prefix, layer):
        kh, kw, i, o = layer.kernel.shape
        layer.kernel.assign(self.take(f"{prefix}.weight", (o, i, kh, kw)).transpose(2, 3, 1, 0))
        layer.bias.assign(self.take(f"{prefix}.bias", (o,)))

    def norm(self, prefix, layer):
        (c,) = layer.gamma.shape
        layer.gamma.assign(self.take(f"{prefix}.weight", (c,)))
        layer.beta.assign(self.take(f"{prefix}.bias", (c,)))

    def res_block(self, prefix, block):
        self.norm(f"{prefix}.norm1", block.norm1)
        self.conv(f"{prefix}.conv1", block.conv1)
        self.norm(f"{prefix}.norm2", block.norm2)
        self.conv(f"{prefix}.conv2", block.conv2)
        if block.shortcut is not None:
            self.conv(f"{prefix}.nin_shortcut", block.shortcut)

    def attention(self, prefix, block):
        self.norm(f"{prefix}.norm", block.norm)
        c = block.proj.kernel.shape[0]
        kernels, biases = [], []
        for name in ("q", "k", "v"):
            kernels.append(self.take(f"{prefix}.{name}.weight", (c, c, 1, 1))[:, :, 0, 0].T)
            biases.append(self.take(f"{prefix}.{name}.bias", (c,)))
        block.qkv.kernel.assign(np.concatenate(kernels, axis=1))
        block.qkv.bias.assign(np.concatenate(biases))
        self.pointwise(f"{prefix}.proj_out", block.proj)

    def pointwise(self, prefix, dense):
        """A 1×1 convolution `(O, I, 1, 1)` into a `Dense` on the channel axis (kernel `(I, O)`)."""
        i, o = dense.kernel.shape
        dense.kernel.assign(self.take(f"{prefix}.weight", (o, i, 1, 1))[:, :, 0, 0].T)
        dense.bias.assign(self.take(f"{prefix}.bias", (o,)))

    def layer(self, prefix, layer):
        """Loads any of the stack's weighted layers (residual block, attention block, convolution, GroupNorm)."""
        if isinstance(layer, ResBlock):
            self.res_block(prefix, layer)
        elif isinstance(layer, AttentionBlock):
            self.attention(prefix, layer)
        elif hasattr(layer, "gamma"):
            self.norm(prefix, layer)
        else:
            self.conv(prefix, layer)

    def check_all_used(self):
        """Raises a `ValueError` naming every tensor that was neither loaded nor skipped."""
        extra = [k for k in self.state if k not in self.used and not self.skip(k)]
        if extra:
            listed = ", ".join(f"{k!r} {tuple(np.shape(self.state[k]))}" for k in extra[:8])
            more = f" and {len(extra) - 8} more" if len(extra) > 8 else ""
            raise ValueError(f"{self.source}: {len(extra)} tensor(s) have no place in the model: {listed}{more}. "
                             "Is it a checkpoint of another architecture or configuration?")


def load_vqvae_weights(model, loader, names):
    """Loads every weight of a built `VQVAE` through `loader`, with `names(keras_path) → torch prefix`.

    `keras_path` is `"<stack>/<layer name>"` for the encoder's and decoder's layers (`body`, then `norm_out`,
    `conv_out`), and `"pre_quant"`, `"post_quant"`, `"quantizer"` (the codebook) for the rest, plus
    `"quantizer_logits"` (before the codebook) for a quantizer with a `to_logits` projection (`GumbelQuantizer`).
    Layers without weights (upsampling) are passed over.
    """
    for stack_name in ("encoder", "decoder"):
        stack = getattr(model, stack_name)
        for layer in list(stack.body) + [stack.norm_out, stack.conv_out]:
            if layer.weights:
                loader.layer(names(f"{stack_name}/{layer.name}"), layer)
    loader.conv(names("pre_quant"), model.pre_quant)
    loader.conv(names("post_quant"), model.post_quant)
    if hasattr(model.quantizer, "to_logits"):
        loader.pointwise(names("quantizer_logits"), model.quantizer.to_logits)
    embeddings = model.quantizer.embeddings
    embeddings.assign(loader.take(names("quantizer"), tuple(embeddings.shape)))
    loader.check_all_used()
