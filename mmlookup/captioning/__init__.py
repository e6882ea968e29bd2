"""Captioning with a frozen encoder: its compressed (or lookup) tokens are the memory of a GPT-2 decoder.

Modules: ``config`` (the recipe's ``caption`` section), ``tokenizer`` (word-level, trained offline), ``model``
(frozen encoder + adapter + decoder), ``data`` / ``cache`` (batches of media or cached memory), ``train``
(``fit`` and ``run_eval``), ``evaluate`` (beam search + pycocoevalcap), ``generate`` (caption files), ``cli``.
"""
