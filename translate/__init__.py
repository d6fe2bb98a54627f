"""translate: image-to-image translation (pix2pix, CycleGAN, SRGAN, class-conditional) in PyTorch.

The public API:
    >>> from translate import load_pipeline
    >>> pipe = load_pipeline("edges2emoji-pix2pix")   # a shipped name or a checkpoint folder
    >>> out = pipe(images)                             # [N, C, H, W] in [0, 1], any H and W
"""

__version__ = "0.1.0"


def load_pipeline(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - see translate.checkpoint.load_pipeline
    """See :func:`translate.checkpoint.load_pipeline` (imported lazily to keep ``import translate`` light)."""
    from translate.checkpoint import load_pipeline as _load_pipeline

    return _load_pipeline(*args, **kwargs)


__all__ = ["__version__", "load_pipeline"]
