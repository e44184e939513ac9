#!/usr/bin/env python3
# Written by `sftkit export-run`: the same fine-tune as `sftkit train`, on PyTorch with transformers' Trainer
# and PEFT, launched by accelerate (one GPU, DDP, FSDP, DeepSpeed ZeRO, several nodes).
#
#   accelerate launch --config_file accelerate/ddp.yaml train.py [--model PATH] [--output_dir DIR]
#
# What it keeps identical to sftkit (see README.md in this folder):
# - the data: data/ holds every micro-batch sftkit would train on (token ids, labels with -100 where nothing
#   is learned, position ids), in sftkit's order for the seed; nothing is tokenised or masked here;
# - the starting point: initial_adapter/ holds the LoRA weights (and trainable token rows) sftkit starts from;
# - the loss: the mean over every trained token of the optimizer step, across micro-batches and processes
#   (Trainer's num_items_in_batch with average_tokens_across_devices);
# - the optimizer step: optimizer step k uses micro-batches k*G .. k*G+G-1 (G = sftkit's
#   gradient_accumulation_steps); process r of W takes those with index k*G + a*W + r (a < G/W), so any W that
#   divides G trains on the same tokens per step.
import argparse
import json
import os
import sys

import torch


def _torch_cpu_guard():
    # accelerate >= 0.33 calls torch.cpu.device_count() / torch.cpu.set_device(), which torch < 2.1 lacks
    # (CPU-only machines with an old torch). Harmless where they exist.
    cpu = getattr(torch, "cpu", None)
    if cpu is None:
        return
    if not hasattr(cpu, "device_count"):
        cpu.device_count = lambda: 1
    if not hasattr(cpu, "set_device"):
        cpu.set_device = lambda device: None


_torch_cpu_guard()

from safetensors import safe_open  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

HERE = os.path.dirname(os.path.abspath(__file__))
FIELDS = ("input_ids", "labels", "position_ids")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class MicroBatches(torch.utils.data.Dataset):
    """This process's share of sftkit's micro-batches, in the order it trains on them."""

    def __init__(self, data_dir, index, rank, world, packed_mask_dtype=None):
        g = index["micro_batches_per_step"]
        if g % world != 0:
            raise SystemExit(
                f"train.py: {world} processes cannot share optimizer steps of {g} micro-batches "
                f"(gradient_accumulation_steps {g} at export); use a number of processes that divides {g}, "
                f"or export again with gradient_accumulation_steps a multiple of {world}"
            )
        self.data_dir = data_dir
        self.entries = index["micro_batches"]
        self.order = [
            k * g + a * world + rank for k in range(index["steps"]) for a in range(g // world)
        ]
        self.files = {}
        self.packed_mask_dtype = packed_mask_dtype

    def __len__(self):
        return len(self.order)

    def __getitem__(self, i):
        j = self.order[i]
        entry = self.entries[j]
        f = self.files.get(entry["file"])
        if f is None:
            f = safe_open(os.path.join(self.data_dir, entry["file"]), framework="pt")
            self.files[entry["file"]] = f
        batch = {name: f.get_tensor(f"{j}.{name}").long() for name in FIELDS}
        if self.packed_mask_dtype is not None:
            batch["attention_mask"] = packed_causal_mask(batch["position_ids"], self.packed_mask_dtype)
        return batch


def packed_causal_mask(position_ids, dtype):
    """A [B, 1, S, S] additive mask: causal, and a token sees only its own example of a packed row (an example
    starts where the position id is 0 or goes down, as in sftkit). transformers 4.48's eager and sdpa attention
    take it as is; without it they let packed examples attend to each other."""
    prev = torch.nn.functional.pad(position_ids[:, :-1], (1, 0), value=-1)
    starts = (position_ids == 0) | (position_ids < prev)
    seg = torch.cumsum(starts.long(), dim=1)
    s = position_ids.shape[1]
    causal = torch.ones(s, s, dtype=torch.bool).tril()
    allowed = (seg[:, :, None] == seg[:, None, :]) & causal
    mask = torch.zeros(allowed.shape, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None, :, :]


class RunTrainer(Trainer):
    """Trainer that takes sftkit's micro-batches as they are and records each optimizer step's exact loss."""

    def __init__(self, *args, micro_batches, **kwargs):
        super().__init__(*args, train_dataset=micro_batches, **kwargs)
        self.micro_batches = micro_batches
        self.step_loss = 0.0
        self.records = []  # per optimizer step: [local loss, grad norm, learning rate]
        self.pending = [float("nan"), float("nan")]

    def get_train_dataloader(self):
        # No sampler, no sharding by accelerate: MicroBatches already is this process's share, in order.
        return torch.utils.data.DataLoader(self.micro_batches, batch_size=None, shuffle=False)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None, **kwargs):
        out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch, **kwargs)
        # DeepSpeed's engine divides the loss by its gradient_accumulation_steps again, on top of
        # num_items_in_batch normalisation; undo that so the gradient is the mean over the step's tokens.
        if self.is_deepspeed_enabled and self.args.gradient_accumulation_steps > 1:
            if return_outputs:
                return (out[0] * self.args.gradient_accumulation_steps, out[1])
            return out * self.args.gradient_accumulation_steps
        return out

    def training_step(self, model, inputs, num_items_in_batch=None, *args, **kwargs):
        loss = super().training_step(model, inputs, num_items_in_batch, *args, **kwargs)
        value = float(loss)
        if self.is_deepspeed_enabled and self.args.gradient_accumulation_steps > 1:
            value /= self.args.gradient_accumulation_steps
        self.step_loss += value
        return loss


class StepRecorder(TrainerCallback):
    def __init__(self, trainer):
        self.trainer = trainer

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        t = self.trainer
        t.pending[1] = float(t.lr_scheduler.get_last_lr()[0]) if t.lr_scheduler is not None else float("nan")

    def on_step_end(self, args, state, control, **kwargs):
        t = self.trainer
        t.records.append([t.step_loss, t.pending[0], t.pending[1]])
        t.step_loss = 0.0
        t.pending = [float("nan"), float("nan")]


def record_grad_norm(trainer):
    clip = trainer.accelerator.clip_grad_norm_

    def clip_and_record(*args, **kwargs):
        norm = clip(*args, **kwargs)
        trainer.pending[0] = float(norm)
        return norm

    trainer.accelerator.clip_grad_norm_ = clip_and_record


def torch_dtype(name):
    return None if name is None else getattr(torch, name)


def load_model(run, model_path, attn_implementation):
    kwargs = {"torch_dtype": torch_dtype(run["torch_dtype"])}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    bnb = run.get("bits_and_bytes")
    if bnb:
        from transformers import BitsAndBytesConfig

        q = dict(bnb)
        q["bnb_4bit_compute_dtype"] = torch_dtype(q["bnb_4bit_compute_dtype"])
        kwargs["quantization_config"] = BitsAndBytesConfig(**q)
    model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    if run["method"] == "lora":
        from peft import PeftModel

        if bnb:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=run["training_arguments"].get("gradient_checkpointing", False)
            )
        model = PeftModel.from_pretrained(model, os.path.join(HERE, run["initial_adapter"]), is_trainable=True)
    return model


def write_check_logits(trainer, index, data_dir, out_dir):
    """Logits of the final model on the first example of the first micro-batch, at most 32 tokens
    (import-run compares sftkit's)."""
    first = MicroBatches(data_dir, index, 0, 1)[0]
    pos = first["position_ids"][0]
    restarts = [t for t in range(1, len(pos)) if pos[t] == 0 or pos[t] < pos[t - 1]]
    n = min(restarts[0] if restarts else len(pos), 32)
    ids = first["input_ids"][:1, :n]
    pos = first["position_ids"][:1, :n]
    model = trainer.model_wrapped
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids.to(trainer.args.device), position_ids=pos.to(trainer.args.device)).logits
    if trainer.is_world_process_zero():
        from safetensors.torch import save_file

        save_file(
            {
                "input_ids": ids.to(torch.int32).contiguous(),
                "position_ids": pos.to(torch.int32).contiguous(),
                "logits": logits[0].float().cpu().contiguous(),
            },
            os.path.join(out_dir, "check_logits.safetensors"),
        )


def main(argv=None):
    p = argparse.ArgumentParser(description="Run the fine-tune exported by sftkit export-run.")
    p.add_argument("--model", help="base model folder or Hub id (default: base_model/ in this folder, else run.json)")
    p.add_argument("--output_dir", default=os.path.join(HERE, "output"))
    p.add_argument("--attn_implementation", default=None, help="eager | sdpa | flash_attention_2")
    p.add_argument("--no_packed_mask", action="store_true", help="packed rows: no block-diagonal attention mask")
    a = p.parse_args(argv)

    run = read_json(os.path.join(HERE, "run.json"))
    data_dir = os.path.join(HERE, run["data"])
    index = read_json(os.path.join(data_dir, "index.json"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    g = index["micro_batches_per_step"]
    # Packed rows: transformers 4.48 separates examples by position_ids only with flash_attention_2; for eager
    # and sdpa, train.py passes a block-diagonal causal mask (--no_packed_mask turns it off).
    packed = bool(run["sftkit_config"].get("packing")) and a.attn_implementation != "flash_attention_2"
    mask_dtype = torch_dtype(run["torch_dtype"]) if packed and not a.no_packed_mask else None
    micro = MicroBatches(data_dir, index, rank, world, mask_dtype)

    ta = dict(run["training_arguments"])
    ta.update(
        output_dir=a.output_dir,
        gradient_accumulation_steps=g // world,
        average_tokens_across_devices=world > 1,
        remove_unused_columns=False,
        ddp_find_unused_parameters=False,  # every trainable weight takes part in every forward
        report_to="none",
        save_safetensors=True,
    )
    if not torch.cuda.is_available():
        ta["use_cpu"] = True
        if world > 1:
            ta["ddp_backend"] = "gloo"
    args = TrainingArguments(**ta)

    model_path = a.model or (
        os.path.join(HERE, "base_model") if os.path.isdir(os.path.join(HERE, "base_model")) else run["base_model"]
    )
    print(
        f"train.py: process {rank} of {world}: {len(micro)} micro-batches, {g // world} per optimizer step "
        f"({g} across processes), {index['steps']} steps, base model {model_path}",
        flush=True,
    )
    model = load_model(run, model_path, a.attn_implementation)
    trainer = RunTrainer(model=model, args=args, micro_batches=micro)
    trainer.add_callback(StepRecorder(trainer))
    record_grad_norm(trainer)
    trainer.train()

    # Per-step losses: each process holds Σ its CE / (tokens of the whole step) x W; the mean over processes is
    # the step's loss as sftkit logs it.
    rec = torch.tensor(trainer.records, dtype=torch.float64, device=args.device).reshape(-1, 3)
    gathered = trainer.accelerator.gather(rec.unsqueeze(0)).reshape(world, -1, 3)
    losses = gathered[:, :, 0].mean(0).tolist()
    trainer.save_model(a.output_dir)
    write_check_logits(trainer, index, data_dir, a.output_dir)
    if trainer.is_world_process_zero():
        trainer.state.save_to_json(os.path.join(a.output_dir, "trainer_state.json"))
        with open(os.path.join(a.output_dir, "losses.jsonl"), "w", encoding="utf-8") as f:
            for k, loss in enumerate(losses):
                _, norm, lr = trainer.records[k]
                f.write(json.dumps({"step": k + 1, "loss": loss, "grad_norm": norm, "learning_rate": lr}) + "\n")
        print(f"train.py: {len(losses)} steps, final loss {losses[-1]:.6f}; saved to {a.output_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
