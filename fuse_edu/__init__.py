"""fuse_edu: a teaching toolkit for FUSE (Williams & Kolter, 2024).

FUSE optimises one text prompt against several frozen models that use different tokenizers, by fitting a
cheap third-order-tensor adapter between their embedding spaces and passing gradients through it.

Layers, lowest first. A module imports only from its own layer or below, never in a circle:

1. ``tensor`` (t-product algebra), ``runtime`` (seeding, device), ``cache``, ``hub``, ``batching``, ``progress``
   (progress bars and notes), ``course_files`` (the notebooks and stored results: repository or wheel),
   ``install_assets`` (the offline asset packages)
2. ``text``        offline tokenizers and word alignment across tokenizers
3. ``toyworld``    the offline world: scenes, captions, tiny models and their training, the toy word policy
4. ``models``      model wrappers (causal LM, CLIP-like dual encoder, classifier) and presets
5. ``adapter``     FUSE adapters: fit T_K per bucket, the exact forward and the FUSE backward
6. ``objective``   the prompt frame, per-model terms and their weighted sum
7. ``optim``       one optimiser contract; GCG, AutoDAN, PEZ, random search; search strategies
8. ``captioning``  settings, image loading, the ``Captioner``, result rows
9. ``metrics``, ``widgets``, ``report``, ``assignments``   what notebooks, reports and classrooms use
10. ``cli``        the ``fuse-edu`` command (also ``python -m fuse_edu``)
"""

from fuse_edu.runtime import pick_device, seed_everything

__version__ = "0.1.0"

__all__ = ["__version__", "pick_device", "seed_everything"]
