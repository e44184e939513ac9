# Validates accelerate config files with accelerate's own parser and launcher argument handling (the same
# steps `accelerate launch --config_file X` takes before it starts processes), for test/handoff/hf-run.test.ts.
# Usage: python3 validate_accelerate_configs.py MODEL_TYPE CONFIG.yaml...   prints a JSON report.
import importlib
import json
import os
import sys

import torch

cpu = getattr(torch, "cpu", None)  # accelerate >= 0.33 on torch < 2.1 (see train.py)
if cpu is not None and not hasattr(cpu, "device_count"):
    cpu.device_count = lambda: 1

from accelerate.commands.config.config_args import load_config_from_file  # noqa: E402
from accelerate.commands.launch import _validate_launch_command, launch_command_parser  # noqa: E402
from accelerate.utils import constants  # noqa: E402
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env  # noqa: E402


def check(path, model_type):
    cfg = load_config_from_file(path)  # rejects unknown top-level keys
    parser = launch_command_parser()
    args = parser.parse_args(["--config_file", path, "train.py"])
    args, defaults, mp_from_config = _validate_launch_command(args)
    info = {"distributed_type": str(cfg.distributed_type.value), "num_processes": args.num_processes}
    dests = {a.dest for a in parser._actions}
    if args.use_fsdp:
        unknown = [k for k in defaults.fsdp_config if (k if k.startswith("fsdp_") else "fsdp_" + k) not in dests]
        if unknown:
            raise ValueError(f"unknown fsdp_config keys {unknown}")
        env = prepare_multi_gpu_env(args)
        for key, allowed in [
            ("FSDP_SHARDING_STRATEGY", constants.FSDP_SHARDING_STRATEGY),
            ("FSDP_AUTO_WRAP_POLICY", constants.FSDP_AUTO_WRAP_POLICY),
            ("FSDP_BACKWARD_PREFETCH", constants.FSDP_BACKWARD_PREFETCH),
            ("FSDP_STATE_DICT_TYPE", constants.FSDP_STATE_DICT_TYPE),
        ]:
            if env[key] not in allowed:
                raise ValueError(f"{key}={env[key]} is not one of {allowed}")
        cls = env["FSDP_TRANSFORMER_CLS_TO_WRAP"]
        module = importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}")
        if not hasattr(module, cls):
            raise ValueError(f"transformers has no {cls} in {module.__name__}")
        info["fsdp"] = {k: v for k, v in env.items() if k.startswith("FSDP_")}
    if args.use_deepspeed:
        unknown = [k for k in defaults.deepspeed_config if k not in dests]
        if unknown:
            raise ValueError(f"unknown deepspeed_config keys {unknown}")
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config.keys())
        _, env = prepare_deepspeed_cmd_env(args)
        info["deepspeed"] = {k: v for k, v in env.items() if k.startswith("ACCELERATE_DEEPSPEED")}
    if args.multi_gpu or args.use_fsdp:
        info["launcher_env"] = "torchrun"
    return info


def main():
    model_type, paths = sys.argv[1], sys.argv[2:]
    report = {}
    for p in paths:
        try:
            report[os.path.basename(p)] = {"ok": True, **check(p, model_type)}
        except Exception as e:  # reported, not raised: the test names the failing file
            report[os.path.basename(p)] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
