"""Word-level caption tokenizer trained offline from the training captions with the ``tokenizers`` library.

Text handling follows the COCO evaluation tokenizer (PTB, lower-cased, punctuation removed): accents are
stripped, text is lower-cased, punctuation is dropped except apostrophes and hyphens inside words, and
clitics are split off like PTB does (``man's`` -> ``man 's``, ``don't`` -> ``do n't``). Words seen fewer than
``min_freq`` times map to ``[UNK]``. Encoding adds ``[BOS]`` and ``[EOS]``; decoding joins words with spaces,
so generated captions already look like PTB-tokenized references.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)  # ids 0, 1, 2, 3
_WORD = r"[a-z0-9]+?(?=n't(?![a-z0-9]))|n't|'[a-z0-9]+|[a-z0-9]+(?:-[a-z0-9]+)*"


def _normalizer() -> normalizers.Normalizer:
    return normalizers.Sequence([
        normalizers.NFD(),
        normalizers.StripAccents(),
        normalizers.Lowercase(),
        # Everything but letters, digits, apostrophes and hyphens is a separator (PTB drops punctuation).
        normalizers.Replace(Regex(r"[^a-z0-9'\-]+"), " "),
        # Hyphens and apostrophes not inside a word are punctuation too.
        normalizers.Replace(Regex(r"(?<![a-z0-9])[-']+|[-']+(?![a-z0-9])"), " "),
    ])


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Split(Regex(_WORD), behavior="isolated"),
    ])


def train_tokenizer(captions: Iterable[str], min_freq: int = 1) -> PreTrainedTokenizerFast:
    """Train a word-level tokenizer on ``captions``.

    Args:
        captions: raw training captions.
        min_freq: minimum count for a word to get its own id (COCO practice: 5 or 6).

    Returns:
        A ``PreTrainedTokenizerFast`` with ``[PAD]=0, [UNK]=1, [BOS]=2, [EOS]=3`` that adds BOS/EOS.
    """
    tk = Tokenizer(models.WordLevel(unk_token=UNK))
    tk.normalizer = _normalizer()
    tk.pre_tokenizer = _pre_tokenizer()
    trainer = trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS), min_frequency=min_freq)
    tk.train_from_iterator(captions, trainer=trainer)
    tk.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, tk.token_to_id(BOS)), (EOS, tk.token_to_id(EOS))]
    )
    tk.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    return wrap(tk)


def wrap(tk: Tokenizer) -> PreTrainedTokenizerFast:
    """Wrap a ``tokenizers.Tokenizer`` with our special tokens as a ``transformers`` tokenizer."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token=PAD, unk_token=UNK, bos_token=BOS, eos_token=EOS, padding_side="right"
    )


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer directory written by ``save_pretrained`` (offline; no hub access)."""
    path = Path(path)
    if not (path / "tokenizer.json").is_file():
        raise FileNotFoundError(f"no tokenizer.json in {path}")
    tok = PreTrainedTokenizerFast.from_pretrained(str(path), local_files_only=True)
    missing = [t for t in (tok.pad_token, tok.bos_token, tok.eos_token) if t is None]
    if missing:
        raise ValueError(f"tokenizer in {path} lacks pad/bos/eos tokens; train one with train_tokenizer()")
    return tok


def decode(tok: PreTrainedTokenizerFast, ids: Iterable[Iterable[int]]) -> list[str]:
    """Token ids to captions: specials dropped, whitespace normalised."""
    return [" ".join(t.split()) for t in tok.batch_decode([list(i) for i in ids], skip_special_tokens=True)]
