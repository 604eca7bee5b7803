"""Shared fixtures, built once per session: tokenizers, the tiny random models (``tests/tiny.py``), word lists,
a tiny preset, the toy preset, and a private cache for everything fuse_edu writes (tokenizers, adapters).

Mark a test ``slow`` when it runs a real captioning job, a notebook kernel, Java or paper-sized models:
``pytest -m "not slow" tests`` is the quick inner loop; plain ``pytest`` runs everything.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from fuse_edu.text import asset_path, load_tokenizer
from tests import tiny

# The models here are tiny: a forward pass is latency, not arithmetic, and a second intra-op thread only spins.
# On a shared 2-core machine two spinning threads made the quick loop ten times slower. OMP_NUM_THREADS, when
# set, wins.
if "OMP_NUM_THREADS" not in os.environ:
    torch.set_num_threads(1)


@pytest.hookimpl(trylast=True)  # after -k / -m have deselected what will not run
def pytest_collection_modifyitems(config, items):
    """Start the selected second-seed notebook runs now, in the background (``tests/second_seed.py``), and move
    their tests, which only wait for the results, to the end of the session."""
    from fuse_edu.report import REPO_NOTEBOOKS
    from tests import second_seed

    waiting = [item for item in items if getattr(item, "originalname", None) == "test_notebook_passes_with_another_seed"]
    items[:] = [item for item in items if item not in waiting] + waiting  # last: the runs overlap everything else
    if waiting and not config.option.collectonly:
        second_seed.start(REPO_NOTEBOOKS, [item.callspec.params["name"] for item in waiting])


def pytest_sessionfinish(session, exitstatus):
    from tests import second_seed

    second_seed.stop()


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """``FUSE_EDU_CACHE`` points into this session's temporary folder: tests never read or write the user's
    cache, and adapters fitted by one test are reused by the next."""
    folder = tmp_path_factory.getbasetemp() / "fuse_edu_cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FUSE_EDU_CACHE", str(folder))
        yield folder


# ----------------------------------------------------------------------------------------- tokenizers

@pytest.fixture(scope="session")
def gpt2():
    return load_tokenizer("gpt2")


@pytest.fixture(scope="session")
def clip():
    return load_tokenizer("clip")


@pytest.fixture(scope="session")
def bert():
    return load_tokenizer("bert")


@pytest.fixture(scope="session")
def reference_tiktoken():
    """GPT-2 as tiktoken itself encodes it, from the same ranks file and GPT-2's split pattern."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    from fuse_edu.text.offline import GPT2_SPLIT_PATTERN

    ranks = load_tiktoken_bpe(str(asset_path("gpt2")))
    return tiktoken.Encoding("gpt2", pat_str=GPT2_SPLIT_PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 50256})


@pytest.fixture(scope="session")
def reference_open_clip():
    """open_clip's own SimpleTokenizer, loaded from its file: importing the open_clip package would
    pull in torchvision, which we do not install."""
    path = asset_path("clip").parent / "tokenizer.py"
    spec = importlib.util.spec_from_file_location("open_clip_tokenizer_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SimpleTokenizer()


@pytest.fixture(scope="session")
def reference_wordpiece():
    """transformers' pure-Python BERT tokenizer over the same vocab.txt: an independent implementation."""
    from transformers import BertTokenizerLegacy

    return BertTokenizerLegacy(str(asset_path("bert").parent / "vocab.txt"), do_lower_case=True)


# ----------------------------------------------------------------------------------------- word lists

@pytest.fixture(scope="session")
def english_words():
    """The 32,000 most frequent English words (wordfreq), most frequent first; slice for fewer."""
    from wordfreq import top_n_list

    return top_n_list("en", 32_000)


@pytest.fixture(scope="session")
def small_words():
    return tiny.small_words()


# ----------------------------------------------------------------------------------------- tiny models
# Shared, so never modified by a test: build a new wrapper around ``.model`` to change one (labels, ...).

@pytest.fixture(scope="session")
def tiny_lm(gpt2):
    from fuse_edu.models import CausalLM

    return CausalLM(tiny.tiny_gpt2(), gpt2)


@pytest.fixture(scope="session")
def shallow_lm(gpt2):
    """One layer: the optimisers' tests run many steps on it."""
    from fuse_edu.models import CausalLM

    return CausalLM(tiny.tiny_gpt2(n_layer=1, n_positions=64), gpt2)


@pytest.fixture(scope="session")
def opinionated_lm(gpt2):
    """One layer with a wide initialisation: a random LM with strong preferences for an optimiser to exploit."""
    from fuse_edu.models import CausalLM

    return CausalLM(tiny.tiny_gpt2(n_layer=1, n_positions=64, initializer_range=0.3), gpt2)


@pytest.fixture(scope="session")
def wordpiece_lm(bert):
    """A causal LM whose tokenizer (BERT's WordPiece) has neither a BOS nor an EOS token."""
    from fuse_edu.models import CausalLM

    return CausalLM(tiny.tiny_llama(len(bert)), bert)


@pytest.fixture(scope="session")
def tiny_clip(clip):
    from fuse_edu.models import DualEncoder

    return DualEncoder(tiny.tiny_clip_model(), clip)


@pytest.fixture(scope="session")
def tiny_classifier(bert):
    from fuse_edu.models import SequenceClassifier

    return SequenceClassifier(tiny.tiny_bert_classifier(), bert)


@pytest.fixture(scope="session")
def image_features(tiny_clip):
    """The tiny CLIP's features of a red and a blue square image, (2, D)."""
    from PIL import Image

    images = [Image.new("RGB", (64, 64), color) for color in ("red", "blue")]
    return tiny_clip.encode_images(images)


@pytest.fixture(scope="session")
def clip_adapter(tiny_lm, tiny_clip, small_words):
    from fuse_edu.adapter import FuseAdapter

    return FuseAdapter.fit(tiny_lm, tiny_clip, words=small_words, cache=False)


@pytest.fixture(scope="session")
def classifier_adapter(tiny_lm, tiny_classifier, small_words):
    from fuse_edu.adapter import FuseAdapter

    return FuseAdapter.fit(tiny_lm, tiny_classifier, words=small_words, cache=False)


@pytest.fixture
def tiny_preset(tiny_lm, tiny_clip, tiny_classifier):
    """The toy preset's shape (lm, clip, sentiment) and word policy over the tiny models, adapters fitted on
    ``small_words`` (``tests/tiny.py``). A new ``Preset`` per test around the shared models."""
    from fuse_edu.models import Preset

    return Preset(tiny.tiny_spec(), {"lm": tiny_lm, "clip": tiny_clip, "sentiment": tiny_classifier})


# ----------------------------------------------------------------------------------------- the toy preset

@pytest.fixture(scope="session")
def toy_preset():
    """The real toy preset, loaded once (skipped when its weights have not been built)."""
    from tests.support import TOY_MISSING

    if TOY_MISSING:
        pytest.skip(f"toy weights not built: {TOY_MISSING}")
    from fuse_edu.models import load_preset

    torch.manual_seed(0)
    return load_preset("toy")


# ----------------------------------------------------------------------------------------- objectives

@pytest.fixture(scope="session")
def say_square(shallow_lm):
    """The single-model exercise the optimisers are tested on: a prompt after which the LM says " square"."""
    from fuse_edu.objective import LMTerm, Objective

    return Objective(shallow_lm, [LMTerm(shallow_lm, target=" square")])


@pytest.fixture(scope="session")
def say_red_square(opinionated_lm):
    """Make the LM say " red square" after the prompt, plus a little fluency; a random LM with opinions to exploit."""
    from fuse_edu.objective import LMTerm, Objective

    lm = opinionated_lm
    return Objective(lm, [LMTerm(lm, prefix=" a photo of", target=" red square"), LMTerm(lm, 0.2, prefix=" a photo of")])
