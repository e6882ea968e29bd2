"""``fit(recipe)`` for ``task: caption``: frozen encoder + GPT-2 decoder, trained and evaluated with Accelerate.

Order of work: splits -> tokenizer (trained on the training captions, saved in ``RUN/tokenizer``) -> model
(encoder frozen; optional classification checkpoint) -> optional memory cache -> epochs of teacher-forced
cross-entropy -> beam-search evaluation with pycocoevalcap (best CIDEr kept) -> ``RUN/eval.json`` and the
COCO results file ``RUN/results_<split>.json``. Checkpoints, LR schedule, optimizer and logging are the
engine's (:mod:`mmlookup.engine`).
"""
from __future__ import annotations

import copy
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerFast

from mmlookup.captioning.cache import cached_dataset
from mmlookup.captioning.data import CaptionCollate, load_splits, media_dataset
from mmlookup.captioning.evaluate import CaptionReport, evaluate_captioner
from mmlookup.captioning.model import CaptionModel, build_decoder, load_captioner_weights, repeat_memory
from mmlookup.captioning.tokenizer import load_tokenizer, train_tokenizer
from mmlookup.checkpoints import read_state_dict, resolve_checkpoint, run_dir_of
from mmlookup.config import Recipe
from mmlookup.data.coco import CaptionSample
from mmlookup.engine.checkpoint import (
    TrainState,
    encoder_mismatch_error,
    load_checkpoint,
    read_train_state,
    save_checkpoint,
    weights_misfit,
)
from mmlookup.engine.logger import RunLogger
from mmlookup.engine.optim import build_optimizer, set_lr
from mmlookup.engine.preempt import (
    CheckpointPolicy,
    StopSignals,
    TrainingStopped,
    ignore_stop_signals,
    signal_name,
)
from mmlookup.engine.schedule import LoopLengths, loop_lengths, lr_factor, step_seed
from mmlookup.engine.setup import build_accelerator, find_resume, open_run_logger, release_workers, setup_run_dir
from mmlookup.models import build_encoder

TOKENIZER_DIR = "tokenizer"


def encoder_checkpoint_file(checkpoint: str | Path) -> Path:
    """The ``model.safetensors`` ``caption.encoder_checkpoint`` means: a checkpoint folder's, or the checkpoint a
    run folder means (:func:`~mmlookup.checkpoints.run_checkpoint`: ``best``, else the newest)."""
    ckpt = resolve_checkpoint(checkpoint)
    file = ckpt / "model.safetensors"
    if not file.is_file():
        raise FileNotFoundError(f"{file} not found; caption.encoder_checkpoint must be a classification run "
                                "or checkpoint folder (imported weights go in model.pretrained)")
    return file


def load_encoder_weights(encoder: torch.nn.Module, checkpoint: str | Path) -> None:
    """Load the encoder part of a classification checkpoint of this project, strictly.

    A run folder means its ``checkpoints/best`` (else its newest checkpoint). The classifier's
    ``model.safetensors`` keys ``encoder.*`` must match the encoder exactly: a frozen encoder with some
    layers left random would fail silently. (Imported or partial weights go through ``model.pretrained``.)
    """
    file = encoder_checkpoint_file(checkpoint)
    weights = {k[len("encoder."):]: v for k, v in read_state_dict(file)[0].items() if k.startswith("encoder.")}
    if not weights:
        raise ValueError(f"{file} has no encoder.* weights; is it a classification checkpoint?")
    detail = weights_misfit({k: tuple(v.shape) for k, v in encoder.state_dict().items()},
                            {k: tuple(v.shape) for k, v in weights.items()})
    if detail:
        raise encoder_mismatch_error(file, encoder.encoder_config.get("name"), detail)
    encoder.load_state_dict(weights, strict=True)


def build_captioner(recipe: Recipe, tokenizer: PreTrainedTokenizerFast, *, load_weights: bool = True) -> CaptionModel:
    """The recipe's captioner; ``load_weights=False`` skips the encoder's pretrained weights (a checkpoint follows)."""
    if not load_weights:
        recipe = copy.deepcopy(recipe)
        recipe.model.pretrained = ""
    encoder = build_encoder(recipe)
    if load_weights and recipe.caption.encoder_checkpoint:
        load_encoder_weights(encoder, recipe.caption.encoder_checkpoint)
    c = recipe.caption
    decoder = build_decoder(c, len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    return CaptionModel(encoder, decoder, memory=c.memory, adapter=c.adapter, suppress_ids=(tokenizer.unk_token_id,),
                        memory_tokens=c.memory_tokens)


def prepare_tokenizer(recipe: Recipe, train_samples: list[CaptionSample], run_dir: Path,
                      accelerator: Accelerator) -> PreTrainedTokenizerFast:
    """This run's saved tokenizer (resume), else ``caption.tokenizer``, else one trained on the training captions."""
    saved = run_dir / TOKENIZER_DIR
    if (saved / "tokenizer.json").is_file():
        return load_tokenizer(saved)
    if recipe.caption.tokenizer:
        tok = load_tokenizer(recipe.caption.tokenizer)
    else:
        tok = train_tokenizer((c for s in train_samples for c in s.captions), min_freq=recipe.caption.vocab_min_freq)
    if accelerator.is_main_process:
        tok.save_pretrained(str(saved))
    accelerator.wait_for_everyone()
    return tok


def build_datasets(recipe: Recipe, model: CaptionModel, train: list[CaptionSample], val: list[CaptionSample],
                   accelerator: Accelerator, *, train_split: bool = True) -> tuple[Dataset | None, Dataset]:
    """Media datasets, or cached-memory datasets when ``caption.cache_dir`` is set (train skipped if not wanted)."""
    if recipe.caption.cache_dir:
        model.to(accelerator.device)
        tr = cached_dataset(model, recipe, "train", train, accelerator) if train_split else None
        return tr, cached_dataset(model, recipe, "eval", val, accelerator)
    return (media_dataset(recipe, train) if train_split else None), media_dataset(recipe, val)


def caption_loader(dataset: Dataset, tokenizer: PreTrainedTokenizerFast | None, recipe: Recipe, *, train: bool
                   ) -> DataLoader:
    t, e = recipe.train, recipe.eval
    workers = t.num_workers if train else e.num_workers
    return DataLoader(dataset, batch_size=t.batch_size if train else e.batch_size, shuffle=train, drop_last=train,
                      num_workers=workers, persistent_workers=train and workers > 0,
                      collate_fn=CaptionCollate(tokenizer, recipe.caption.max_caption_tokens, with_captions=train),
                      pin_memory=torch.cuda.is_available(), worker_init_fn=ignore_stop_signals if workers > 0 else None)


def train_epoch(acc: Accelerator, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader,
                lengths: LoopLengths, state: TrainState, recipe: Recipe, base_lr: float, max_steps: int,
                epoch: int, logger: RunLogger, after_step: Callable[[], bool] | None = None) -> float:
    """Run the optimizer steps of ``epoch`` (continuing mid-epoch after a resume); mean loss over the epoch's steps
    (those before a resume too: their sum travels in the train state).

    ``after_step`` runs after every optimizer step (checkpoints, stop signals); ``True`` ends the epoch early.
    """
    t = recipe.train
    spe, accum = lengths.steps_per_epoch, t.accum_steps
    first, last = state.step - epoch * spe, min(spe, max_steps - epoch * spe)
    if first == 0:
        state.epoch_loss_sum, state.epoch_steps = 0.0, 0
    if first >= last:
        return float("nan")
    batches = iter(acc.skip_first_batches(loader, first * accum) if first > 0 else loader)
    net = acc.unwrap_model(model)
    params = net.trainable_parameters()
    model.train()
    bar = tqdm(range(first, last), desc=f"epoch {epoch}", disable=not acc.is_local_main_process, leave=False)
    for _ in bar:
        lr = base_lr * lr_factor(state.step, lengths.total_steps, lengths.warmup_steps,
                                 recipe.optim.min_lr / base_lr if base_lr > 0 else 0.0)
        set_lr(optimizer, lr)
        step_loss = torch.zeros((), device=acc.device)
        for micro in range(accum):
            torch.manual_seed(step_seed(t.seed, state.step, acc.process_index, micro))
            batch = next(batches)
            with acc.no_sync(model) if micro < accum - 1 else nullcontext(), acc.autocast():
                if len(batch) == 0:  # every image of the batch failed to load: a zero loss keeps ranks in step
                    loss = sum(p.sum() for p in params) * 0.0
                else:
                    memory = batch.memory if batch.memory is not None else net.encode(batch.media)
                    memory = repeat_memory(memory, batch.counts)
                    loss = model(batch.input_ids, batch.attention_mask, memory, t.label_smoothing)
            if not torch.isfinite(loss.detach()):
                raise FloatingPointError(f"non-finite caption loss at step {state.step}; lower optim.lr or set "
                                         "train.clip_grad")
            acc.backward(loss / accum)
            step_loss += loss.detach() / accum
        if t.clip_grad > 0:
            acc.clip_grad_norm_(params, t.clip_grad)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.epoch_loss_sum += acc.reduce(step_loss, "mean").item()  # in the state: a checkpoint carries it
        state.epoch_steps += 1
        if state.step % t.log_every == 0:
            bar.set_postfix(loss=f"{step_loss.item():.3f}", lr=f"{lr:.2e}")
            logger.scalars({"train/loss": step_loss.item(), "train/lr": lr}, state.step)
        if after_step is not None and after_step():
            break
    bar.close()
    return state.epoch_loss_sum / max(1, state.epoch_steps)


def fit(recipe: Recipe, *, resume: str | None = None, accelerator: Accelerator | None = None,
        allow_recipe_change: bool = False) -> CaptionReport | None:
    """Train and evaluate a captioner from a ``task: caption`` recipe.

    Args:
        recipe: the resolved recipe; ``recipe.caption`` holds the captioning settings.
        resume: a checkpoint folder, a run folder, or ``"auto"`` (this run's newest checkpoint, if any).
        accelerator: reuse one (tests); built from the recipe otherwise.
        allow_recipe_change: resume even when the recipe differs (see :func:`mmlookup.engine.setup.find_resume`).

    Returns:
        The final evaluation report on the main process (also in ``RUN/eval.json``), ``None`` elsewhere.

    Raises:
        TrainingStopped: after SIGTERM / SIGINT / SIGUSR1, once the checkpoint of the current step is written.
    """
    acc = accelerator or build_accelerator(recipe)
    set_seed(recipe.train.seed)
    ckpt = find_resume(recipe, resume, allow_recipe_change=allow_recipe_change)
    run_dir = setup_run_dir(recipe, acc)
    logger = open_run_logger(recipe, acc, run_dir, ckpt)
    c, t = recipe.caption, recipe.train
    train_s, val_s = load_splits(recipe)
    tokenizer = prepare_tokenizer(recipe, train_s, run_dir, acc)
    model = build_captioner(recipe, tokenizer)
    train_ds, val_ds = build_datasets(recipe, model, train_s, val_s, acc)
    lengths = loop_lengths(len(train_ds), t.batch_size, acc.num_processes, t.accum_steps, t.epochs,
                           recipe.optim.warmup_epochs)
    max_steps = min(t.max_steps, lengths.total_steps) if t.max_steps > 0 else lengths.total_steps
    optimizer = build_optimizer(model, recipe.optim)
    base_lr = recipe.optim.lr * (lengths.global_batch / recipe.optim.lr_scale_batch
                                 if recipe.optim.lr_scale_batch else 1.0)
    train_loader = caption_loader(train_ds, tokenizer, recipe, train=True)
    val_loader = caption_loader(val_ds, tokenizer, recipe, train=False)
    model, optimizer, train_loader, val_loader = acc.prepare(model, optimizer, train_loader, val_loader)
    state = TrainState()
    if ckpt is not None:
        state = load_checkpoint(acc, ckpt)
        logger.info(f"resumed from {ckpt} at step {state.step}")
    net = acc.unwrap_model(model)
    n_train = sum(p.numel() for p in net.trainable_parameters())
    weights = c.encoder_checkpoint or recipe.model.pretrained
    logger.info(f"frozen encoder weights: {weights}" if weights else "frozen encoder weights: RANDOM (neither "
                "caption.encoder_checkpoint nor model.pretrained is set): the decoder reads random projections")
    memory = c.memory + (f" ({c.memory_tokens} tokens)" if c.memory_tokens else "")
    logger.info(f"{recipe.name}: frozen {recipe.model.encoder} -> {memory} memory -> GPT-2 "
                f"{c.decoder_layers}x{c.decoder_width} ({n_train / 1e6:.2f} M trainable), vocab {len(tokenizer)}, "
                f"{len(train_ds)} train / {len(val_ds)} eval images, {lengths.steps_per_epoch} steps/epoch, "
                f"{max_steps} steps, lr {base_lr:.2e}, {'cached memory' if c.cache_dir else 'encoder every step'}, "
                f"run dir {run_dir}")
    ckpt_root, spe = run_dir / "checkpoints", lengths.steps_per_epoch
    report: CaptionReport | None = None
    final_done = False  # the same on every process (report is None off the main process)
    saved_step = state.step if ckpt is not None else -1

    def save(is_best: bool = False) -> Path:
        nonlocal saved_step
        state.log_bytes = logger.log_bytes()
        logger.flush()
        path = save_checkpoint(acc, ckpt_root, state, keep_last=t.keep_last, is_best=is_best)
        saved_step = state.step
        policy.saved()
        return path

    def after_step() -> bool:
        save_now, stop = policy.poll(state.step)
        if save_now and not stop and saved_step != state.step:
            save()
        return stop

    with StopSignals() as signals:  # handlers (and workers' signal immunity) end with the loop
        policy = CheckpointPolicy(acc, t.checkpoint_every_steps, t.checkpoint_every_minutes, signals)
        for epoch in range(state.step // spe, t.epochs):
            if state.step >= max_steps:
                break
            state.epoch = epoch
            if hasattr(train_loader, "set_epoch"):
                train_loader.set_epoch(epoch)
            loss = train_epoch(acc, model, optimizer, train_loader, lengths, state, recipe, base_lr, max_steps, epoch,
                               logger, after_step)
            if policy.stop_signal:
                break
            logger.info(f"epoch {epoch}: caption loss {loss:.4f}")
            logger.scalars({"train/epoch_loss": loss}, state.step)
            done = state.step >= max_steps
            is_best = False
            if done or (t.eval_every > 0 and (epoch + 1) % t.eval_every == 0):
                report = _evaluate(recipe, acc, model, val_loader, tokenizer, val_s, train_s, run_dir, state.step,
                                   logger, final=done)
                final_done = done
                cider = _broadcast_cider(acc, report)
                is_best = cider > state.best_metric
                if is_best:
                    state.best_metric, state.best_step = cider, state.step
            if is_best or ((done or (epoch + 1) % max(1, t.checkpoint_every) == 0) and saved_step != state.step):
                save(is_best)
            if not done and after_step():  # a signal during the evaluation
                break
        release_workers(train_loader)
    if policy.stop_signal:
        path = save() if saved_step != state.step else ckpt_root / f"step_{state.step:08d}"
        logger.info(f"stopped at step {state.step} by {signal_name(policy.stop_signal)}; checkpoint {path}")
        logger.close()
        raise TrainingStopped(state.step, policy.stop_signal, path)
    if not final_done:  # resumed a finished run: evaluate it (collective: every process takes this branch)
        report = _evaluate(recipe, acc, model, val_loader, tokenizer, val_s, train_s, run_dir, state.step, logger,
                           final=True)
    if acc.is_main_process and report is not None:
        report.save(run_dir / "eval.json")
        logger.info(f"wrote {run_dir / 'eval.json'} and {report.results_file}")
    logger.close()
    acc.wait_for_everyone()
    return report


def run_eval(recipe: Recipe, checkpoint: str | Path, *, out: str | Path | None = None,
             accelerator: Accelerator | None = None) -> CaptionReport | None:
    """Evaluate a captioner checkpoint (or run folder) on the recipe's evaluation split; write the JSON report.

    The results file and report go next to the checkpoint's run (``results_<split>_<ckpt>.json``,
    ``eval_<ckpt>.json``) unless ``out`` names the report.
    """
    acc = accelerator or build_accelerator(recipe)
    ckpt = resolve_checkpoint(checkpoint)
    run_dir = run_dir_of(ckpt)
    tokenizer = load_tokenizer(run_dir / TOKENIZER_DIR)
    model = build_captioner(recipe, tokenizer, load_weights=False)
    load_captioner_weights(model, ckpt / "model.safetensors")
    train_s, val_s = load_splits(recipe)
    _, val_ds = build_datasets(recipe, model, [], val_s, acc, train_split=False)
    loader = caption_loader(val_ds, tokenizer, recipe, train=False)
    model, loader = acc.prepare(model, loader)
    c = recipe.caption
    split = c.eval_split if c.format in ("karpathy", "msrvtt") else "val"
    report = evaluate_captioner(model, loader, tokenizer, acc, val_s, num_beams=c.num_beams, max_length=c.max_length,
                                results_file=run_dir / f"results_{split}_{ckpt.name}.json", train_samples=train_s,
                                step=int(read_train_state(ckpt).step))
    if report is not None:
        for line in report.lines():
            print(line)
        print(f"wrote {report.save(out or run_dir / f'eval_{ckpt.name}.json')}")
    return report


def _evaluate(recipe: Recipe, acc: Accelerator, model: torch.nn.Module, loader: DataLoader,
              tokenizer: PreTrainedTokenizerFast, val_s: list[CaptionSample], train_s: list[CaptionSample],
              run_dir: Path, step: int, logger: RunLogger, final: bool) -> CaptionReport | None:
    c = recipe.caption
    split = c.eval_split if c.format in ("karpathy", "msrvtt") else "val"
    report = evaluate_captioner(model, loader, tokenizer, acc, val_s, num_beams=c.num_beams, max_length=c.max_length,
                                results_file=run_dir / f"results_{split}.json", step=step,
                                train_samples=train_s if final else None)
    if report is not None:
        for line in report.lines():
            logger.info(line)
        logger.scalars({f"eval/{k}": v for k, v in report.scores.items()}, step)
    return report


def _broadcast_cider(acc: Accelerator, report: CaptionReport | None) -> float:
    value = torch.tensor([report.scores["CIDEr"] if report is not None else 0.0], device=acc.device)
    return float(acc.reduce(value, "sum").item()) if acc.num_processes > 1 else float(value.item())
