"""The FUSE adapter: fit T_K per bucket, and carry gradients across tokenizers with it.

- ``fit_bucket(X_A, X_B, ridge)``: one bucket's least-squares t-product adapter (``fit``).
- ``Bucket``, ``bucket_words``, ``word_tensor``: words as lateral slices, the bucket rule (``words``).
- ``FuseAdapter``: all buckets, fitted from two embedding tables, cached on disk (``fuse_adapter``).
- ``FuseTranslator``: exact re-tokenized forward, FUSE-gradient backward (``translate``).
- ``fit_report``, ``heldout_translation_accuracy``, ``split_words``, ``first_order_check``, ...: is it any
  good, on words it was not fitted on (``diagnostics``).
"""

from fuse_edu.adapter.diagnostics import (first_order_check, fit_report, fitted_words, heldout_fit_error,
                                          heldout_translation_accuracy, spearman, split_words, translation_accuracy)
from fuse_edu.adapter.fit import DEFAULT_RIDGE, fit_bucket, fit_residual
from fuse_edu.adapter.fuse_adapter import FuseAdapter, default_words, position_wise
from fuse_edu.adapter.translate import FuseTranslator, SourceVocabulary
from fuse_edu.adapter.words import Bucket, bucket_words, word_tensor

__all__ = ["DEFAULT_RIDGE", "Bucket", "FuseAdapter", "FuseTranslator", "SourceVocabulary", "bucket_words",
           "default_words", "first_order_check", "fit_bucket", "fit_report", "fit_residual", "fitted_words",
           "heldout_fit_error", "heldout_translation_accuracy", "position_wise", "spearman", "split_words",
           "translation_accuracy", "word_tensor"]
