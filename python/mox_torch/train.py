"""Continue pretraining a GPT-2 folder on a token file, data-parallel, under torchrun.

    PYTHONPATH=python torchrun --standalone --nproc_per_node 2 -m mox_torch.train \\
        --model EXPORTED --data train.bin --out OUT --max-iters 1000

nanoGPT's train.py on mox's settings: AdamW (weight decay on 2-D weights only, betas 0.9/0.99), linear
warmup then cosine decay to --min-lr, gradient clipping, random windows of --block-size tokens from the
first 90% of the token file (memory-mapped), the last 10% for validation, as `mox train gpt` splits a
text. Each rank draws its own windows from a generator seeded by (seed, rank, start step); DDP averages
the gradients, so one step sees batch-size x world-size x grad-accum windows. The process group is
gloo on CPUs and NCCL on GPUs (--backend overrides); --fsdp shards the model with
FullyShardedDataParallel (GPUs only). Rank 0 evaluates (on the same fixed windows at every
evaluation, so the numbers compare), logs, and saves --out as a Hugging Face folder that mox reads
(`loadGPT`, `mox finetune gpt --from OUT`), plus torch_optimizer.pt and torch_state.json, which
--resume continues from. Run without torchrun it trains in one process.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import os
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist

from .atomic import atomic_write
from .hf_gpt2 import Block, ConfigError, GPT2LMHeadModel, load_hf_gpt2, save_hf_gpt2
from .safetensors_io import SafetensorsError
from .tokens import TokenFileError, read_token_file

STATE_FILE = "torch_state.json"
OPTIMIZER_FILE = "torch_optimizer.pt"


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line; defaults are `mox train gpt`'s."""
    p = argparse.ArgumentParser(prog="python -m mox_torch.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a Hugging Face GPT-2 folder (mox export-hf writes one)")
    p.add_argument("--data", required=True, help="a token file (mox tokenize --out-bin FILE), with FILE.json beside it")
    p.add_argument("--out", required=True, help="the folder to save the Hugging Face GPT-2 folder into")
    p.add_argument("--max-iters", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=12, help="sequences per rank per micro-batch")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step")
    p.add_argument("--block-size", type=int, default=None, help="context length (default: the model's n_positions)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup-iters", type=int, default=100)
    p.add_argument("--lr-decay-iters", type=int, default=None, help="iterations of cosine decay (default --max-iters)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--grad-clip", type=float, default=1.0, help="clip the gradient norm, 0 for none")
    p.add_argument("--eval-interval", type=int, default=250, help="evaluate and save every N iterations")
    p.add_argument("--eval-iters", type=int, default=20)
    p.add_argument("--log-interval", type=int, default=0)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--dropout", type=float, default=None, help="override config.json's dropouts (mox exports 0)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--backend", choices=["auto", "gloo", "nccl"], default="auto")
    p.add_argument("--fsdp", action="store_true", help="FullyShardedDataParallel instead of DDP (CUDA only)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="autocast dtype on CUDA")
    p.add_argument("--resume", action="store_true", help=f"continue the run saved in --out ({STATE_FILE}, {OPTIMIZER_FILE})")
    p.add_argument("--no-verify", action="store_true", help="skip the sha256 check of the token file")
    a = p.parse_args(argv)
    for k in ("max_iters", "warmup_iters"):
        if getattr(a, k) < 0:
            p.error(f"--{k.replace('_', '-')} must be >= 0")
    for k in ("batch_size", "grad_accum", "eval_interval", "eval_iters"):
        if getattr(a, k) < 1:
            p.error(f"--{k.replace('_', '-')} must be >= 1")
    if a.lr <= 0 or a.min_lr < 0 or a.grad_clip < 0 or a.weight_decay < 0:
        p.error("--lr must be > 0; --min-lr, --grad-clip and --weight-decay >= 0")
    if a.dropout is not None and not 0 <= a.dropout < 1:
        p.error("--dropout must be in [0, 1)")
    return a


def lr_at(it: int, a: argparse.Namespace, decay_iters: int) -> float:
    """nanoGPT's get_lr, as mox's lrAt: linear warmup, cosine decay to min_lr, then min_lr."""
    if it < a.warmup_iters:
        return a.lr * (it + 1) / (a.warmup_iters + 1)
    if it > decay_iters:
        return a.min_lr
    ratio = (it - a.warmup_iters) / max(1, decay_iters - a.warmup_iters)
    return a.min_lr + 0.5 * (1 + math.cos(math.pi * ratio)) * (a.lr - a.min_lr)


def get_batch(data: np.ndarray, block: int, batch: int, gen: torch.Generator, device: torch.device):
    """batch random windows of block tokens and their next tokens, as int64 [batch, block] on device."""
    ix = torch.randint(len(data) - block, (batch,), generator=gen).tolist()
    x = torch.from_numpy(np.stack([data[i : i + block].astype(np.int64) for i in ix]))
    y = torch.from_numpy(np.stack([data[i + 1 : i + 1 + block].astype(np.int64) for i in ix]))
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x, y


class Dist:
    """The process group: rank, world size and device (a single process when not under torchrun)."""

    def __init__(self, a: argparse.Namespace):
        want = a.device if a.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        if want == "cuda" and not torch.cuda.is_available():
            raise SystemExit("mox_torch.train: --device cuda, but PyTorch sees no CUDA device")
        self.on = "RANK" in os.environ and "WORLD_SIZE" in os.environ
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        local = int(os.environ.get("LOCAL_RANK", 0))
        if want == "cuda":
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
        else:
            self.device = torch.device("cpu")
        self.backend = a.backend if a.backend != "auto" else ("nccl" if want == "cuda" else "gloo")
        if self.backend == "nccl" and want != "cuda":
            raise SystemExit("mox_torch.train: --backend nccl needs CUDA devices; on CPUs use gloo")
        if a.fsdp and want != "cuda":
            raise SystemExit("mox_torch.train: --fsdp needs CUDA devices (FullyShardedDataParallel); on CPUs use DDP, the default")
        if self.on:
            dist.init_process_group(backend=self.backend)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.on:
            dist.barrier()

    def close(self) -> None:
        if self.on:
            dist.destroy_process_group()


def wrap(model: GPT2LMHeadModel, d: Dist, a: argparse.Namespace):
    """The model as each rank trains it: DDP, FSDP (one unit per block), or itself in one process."""
    if a.fsdp:
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision
        from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

        mp = None
        if a.dtype == "bfloat16":
            mp = MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.bfloat16, buffer_dtype=torch.bfloat16)
        kw = {"use_orig_params": True} if "use_orig_params" in FSDP.__init__.__code__.co_varnames else {}
        policy = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={Block})
        return FSDP(model, auto_wrap_policy=policy, mixed_precision=mp, device_id=d.device, **kw)
    if d.on:
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(model, device_ids=[d.device.index] if d.device.type == "cuda" else None)
    return model


def make_optimizer(wrapped, raw: GPT2LMHeadModel, a: argparse.Namespace) -> torch.optim.AdamW:
    """AdamW with weight decay on 2-D parameters only (matmul weights, embeddings), as mox and nanoGPT."""
    named = [(n, p) for n, p in wrapped.named_parameters() if p.requires_grad]
    if any(p.ndim < 2 for n, p in named if "flat_param" in n):  # FSDP without use_orig_params: flat 1-D shards
        groups = [{"params": [p for _, p in named], "weight_decay": a.weight_decay}]
    else:
        groups = [
            {"params": [p for _, p in named if p.ndim >= 2], "weight_decay": a.weight_decay},
            {"params": [p for _, p in named if p.ndim < 2], "weight_decay": 0.0},
        ]
    return torch.optim.AdamW(groups, lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-8)


def main(argv: Optional[List[str]] = None) -> int:
    a = parse_args(argv)
    d = Dist(a)
    try:
        return run(a, d)
    except (ConfigError, SafetensorsError, TokenFileError) as e:
        raise SystemExit(f"mox_torch.train: {e}") from None  # one line naming the file, no traceback
    finally:
        d.close()


def log(d: Dist, line: str) -> None:
    if d.main:
        print(line, flush=True)


def run(a: argparse.Namespace, d: Dist) -> int:
    state_path = os.path.join(a.out, STATE_FILE)
    resumed: Optional[Dict] = None
    source = a.model
    if a.resume:
        if not os.path.isfile(state_path):
            raise SystemExit(f"mox_torch.train: --resume: {a.out} holds no {STATE_FILE} (a run of this script saves one)")
        with open(state_path, encoding="utf-8") as f:
            resumed = json.load(f)
        source = a.out
    raw = load_hf_gpt2(source)
    if a.dropout is not None:
        for m in raw.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = a.dropout
    cfg = raw.config
    block = a.block_size or cfg.n_positions
    if block > cfg.n_positions:
        raise SystemExit(f"mox_torch.train: --block-size {block} exceeds the model's n_positions {cfg.n_positions}")

    ids, info = read_token_file(a.data, verify=d.main and not a.no_verify)
    if info["vocab_size"] > cfg.vocab_size:
        raise SystemExit(
            f"mox_torch.train: {a.data} was tokenized with a vocabulary of {info['vocab_size']}, "
            f"larger than the model's vocab_size {cfg.vocab_size}: tokenize with the model's tokenizer"
        )
    n_train = math.floor(len(ids) * 0.9)  # as mox train gpt: Math.floor(ids.length * 0.9)
    train_data, val_data = ids[:n_train], ids[n_train:]
    if len(val_data) <= block or len(train_data) <= block:
        raise SystemExit(f"mox_torch.train: {a.data} has {len(ids)} tokens; the validation split ({len(val_data)}) needs more than --block-size {block}")

    start = int(resumed["step"]) if resumed else 0
    history: List[Dict] = list(resumed.get("history", [])) if resumed else []
    torch.manual_seed(a.seed + d.rank)  # dropout differs per rank, as nanoGPT's seed_offset
    raw.train()
    if not a.fsdp:  # FSDP moves each unit to the GPU as it shards it: the whole model need not fit one GPU
        raw.to(d.device)
    model = wrap(raw, d, a)
    opt = make_optimizer(model, raw, a)
    if resumed:
        osd = torch.load(os.path.join(a.out, OPTIMIZER_FILE), map_location="cpu")
        if a.fsdp:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

            osd = FSDP.shard_full_optim_state_dict(osd, model)
        opt.load_state_dict(osd)
    decay_iters = a.lr_decay_iters or a.max_iters
    seq = np.random.SeedSequence([a.seed, d.rank, start])
    gen = torch.Generator().manual_seed(int(seq.generate_state(1)[0]))
    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.bfloat16) if a.dtype == "bfloat16" and d.device.type == "cuda" else contextlib.nullcontext()
    )
    tokens_per_iter = a.batch_size * block * a.grad_accum * d.world
    n_params = sum(p.numel() for p in raw.parameters())
    log(
        d,
        f"{'resuming ' + a.out + ' at step ' + str(start) if resumed else 'continuing ' + a.model}: GPT-2 {cfg.n_layer} layers, "
        f"{cfg.n_head} heads, width {cfg.n_embd}, vocab {cfg.vocab_size}, {n_params / 1e6:.2f}M parameters; "
        f"{'FSDP' if a.fsdp else 'DDP' if d.on else 'one process'} over {d.world} {d.device.type} rank(s), backend {d.backend if d.on else '-'}",
    )
    log(
        d,
        f"data: {a.data}: {len(ids)} {info['dtype']} tokens, {len(train_data)} for training, {len(val_data)} for validation; "
        f"batch {a.batch_size} x {block} x {a.grad_accum} x {d.world} ranks = {tokens_per_iter} tokens/iter",
    )

    def evaluate() -> Dict[str, float]:
        # rank 0 on the bare model under DDP (no collective runs); every rank under FSDP, whose forward gathers shards
        net = model if a.fsdp else raw
        net.eval()
        res = {}
        with torch.no_grad():
            for name, data in (("train", train_data), ("val", val_data)):
                g = torch.Generator().manual_seed(a.seed)  # the same windows at every evaluation
                total = 0.0
                for _ in range(a.eval_iters):
                    x, y = get_batch(data, block, a.batch_size, g, d.device)
                    with autocast:
                        total += net(x, y)[1].item()
                res[name] = total / a.eval_iters
        net.train()
        return res

    def save(step: int) -> None:
        if a.fsdp:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, FullStateDictConfig, StateDictType

            with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, FullStateDictConfig(offload_to_cpu=True, rank0_only=True)):
                state = model.state_dict()
            osd = FSDP.full_optim_state_dict(model, opt)  # a collective: every rank calls it
        else:
            state, osd = raw.state_dict(), opt.state_dict()
        if d.main:
            os.makedirs(a.out, exist_ok=True)
            meta = {"step": str(step)}
            # the weights first, the state that names their step last: a reader trusts torch_state.json's step
            save_hf_gpt2(raw, a.out, state=state, tokenizer_from=a.model if not resumed else a.out, metadata=meta)
            buf = io.BytesIO()
            torch.save(osd, buf)
            atomic_write(os.path.join(a.out, OPTIMIZER_FILE), buf.getvalue())
            st = {"step": step, "history": history, "world_size": d.world, "tokens_per_iter": tokens_per_iter, "data": os.path.abspath(a.data), "args": vars(a)}
            atomic_write(state_path, (json.dumps(st, indent=2) + "\n").encode("utf-8"))
        d.barrier()

    t_window, n_window = 0.0, 0
    step = start
    while True:
        if (step % a.eval_interval == 0 or step == a.max_iters) and not (resumed and step == start):
            if a.fsdp or d.main:
                t0 = time.time()
                r = evaluate()
                history.append({"step": step, "train": r["train"], "val": r["val"]})
                rate = f", {1000 * t_window / n_window:.1f} ms/iter, {tokens_per_iter * n_window / t_window:.0f} tokens/s" if n_window else ""
                log(d, f"step {step}: train loss {r['train']:.4f}, val loss {r['val']:.4f}{rate} (eval {time.time() - t0:.1f} s)")
                t_window, n_window = 0.0, 0
            d.barrier()
            if step > start or step == a.max_iters:
                save(step)
        if step >= a.max_iters:
            break
        lr = lr_at(step, a, decay_iters)
        for group in opt.param_groups:
            group["lr"] = lr
        t0 = time.time()
        total = 0.0
        for k in range(a.grad_accum):
            x, y = get_batch(train_data, block, a.batch_size, gen, d.device)
            # gradients are averaged across ranks only on the last micro-batch
            sync = contextlib.nullcontext() if k == a.grad_accum - 1 or not hasattr(model, "no_sync") else model.no_sync()
            with sync:
                with autocast:
                    _, loss = model(x, y)
                (loss / a.grad_accum).backward()
            total += loss.item() / a.grad_accum
        if a.grad_clip > 0:
            if a.fsdp:
                model.clip_grad_norm_(a.grad_clip)
            else:
                torch.nn.utils.clip_grad_norm_(raw.parameters(), a.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if d.on:  # the mean over ranks: every rank logs and stops on the same number
            t = torch.tensor([total], dtype=torch.float64 if d.backend == "gloo" else torch.float32, device=d.device)
            dist.all_reduce(t)
            total = t.item() / d.world
        if not math.isfinite(total):
            raise SystemExit(f"mox_torch.train: the loss is {total} at step {step}; lower --lr (the last save in {a.out} is intact)")
        dt = time.time() - t0
        t_window += dt
        n_window += 1
        if a.log_interval and step % a.log_interval == 0:
            log(d, f"iter {step}: loss {total:.4f}, lr {lr:.2e}, {1000 * dt:.1f} ms")
        step += 1
    log(d, f"done: step {step}; Hugging Face folder in {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
