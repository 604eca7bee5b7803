"""fuse_edu: a teaching toolkit for FUSE (Williams & Kolter, 2024).

FUSE optimises one text prompt against several frozen models that use different tokenizers, by
fitting a cheap third-order-tensor adapter between their embedding spaces and passing gradients
through it. The package is small on purpose; each module holds one idea:

- ``fuse_edu.tensor``   the t-product algebra (tprod, ttranspose, tpinv, teye, bcirc reference)
- ``fuse_edu.text``     offline tokenizers and word alignment across tokenizers
- ``fuse_edu.runtime``  seeding and device choice shared by notebooks and the CLI
"""

from fuse_edu.runtime import pick_device, seed_everything

__version__ = "0.1.0"

__all__ = ["__version__", "pick_device", "seed_everything"]
