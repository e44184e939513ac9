// accelerate config files (the YAML `accelerate config` writes, accelerate 1.2 keys) for the exported run:
// one GPU, DDP on the GPUs of one machine, FSDP (full shard, auto-wrap on the decoder layer class), DeepSpeed
// ZeRO-2 and ZeRO-3, and a multi-node DDP template.

export interface AccelerateOptions {
  /** GPUs per machine (num_processes of the single-machine configs). */
  gpus: number;
  /** HF architecture, e.g. LlamaForCausalLM (FSDP wraps its decoder layer class). */
  architecture: string;
  bf16: boolean;
  /** Per-process gradient accumulation for DeepSpeed's own bookkeeping (train.py sets Trainer's). */
  maxGradNorm: number;
}

export const ACCELERATE_CONFIGS = ['1gpu', 'ddp', 'fsdp', 'zero2', 'zero3', 'multinode'] as const;
export type AccelerateConfigName = (typeof ACCELERATE_CONFIGS)[number];

/** LlamaForCausalLM -> LlamaDecoderLayer (transformers' naming for every Llama-family model). */
export function decoderLayerClass(architecture: string): string {
  return architecture.replace(/For(CausalLM|ConditionalGeneration)$/, '') + 'DecoderLayer';
}

function yaml(entries: Record<string, unknown>, indent = ''): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(entries)) {
    if (v !== null && typeof v === 'object')
      out.push(`${indent}${k}:\n${yaml(v as Record<string, unknown>, indent + '  ')}`);
    // Strings are quoted: YAML 1.1 (PyYAML) reads a bare no/yes/on/off as a boolean.
    else out.push(`${indent}${k}: ${JSON.stringify(v)}`);
  }
  return out.join('\n');
}

function common(o: AccelerateOptions): Record<string, unknown> {
  return {
    compute_environment: 'LOCAL_MACHINE',
    debug: false,
    downcast_bf16: 'no',
    enable_cpu_affinity: false,
    machine_rank: 0,
    main_training_function: 'main',
    mixed_precision: o.bf16 ? 'bf16' : 'no',
    num_machines: 1,
    rdzv_backend: 'static',
    same_network: true,
    use_cpu: false,
  };
}

/** The YAML text of each config, by file stem. */
export function accelerateConfigs(o: AccelerateOptions): Record<AccelerateConfigName, string> {
  const base = common(o);
  const zero = (stage: 2 | 3) => ({
    ...base,
    distributed_type: 'DEEPSPEED',
    num_processes: o.gpus,
    deepspeed_config: {
      gradient_clipping: o.maxGradNorm,
      offload_optimizer_device: 'none',
      offload_param_device: 'none',
      zero_stage: stage,
      ...(stage === 3 ? { zero3_init_flag: true, zero3_save_16bit_model: true } : { zero3_init_flag: false }),
    },
  });
  const configs: Record<AccelerateConfigName, Record<string, unknown>> = {
    '1gpu': { ...base, distributed_type: 'NO', num_processes: 1, gpu_ids: '0' },
    ddp: { ...base, distributed_type: 'MULTI_GPU', num_processes: o.gpus, gpu_ids: 'all' },
    fsdp: {
      ...base,
      distributed_type: 'FSDP',
      num_processes: o.gpus,
      fsdp_config: {
        fsdp_activation_checkpointing: false,
        fsdp_auto_wrap_policy: 'TRANSFORMER_BASED_WRAP',
        fsdp_backward_prefetch: 'BACKWARD_PRE',
        fsdp_cpu_ram_efficient_loading: true,
        fsdp_forward_prefetch: false,
        fsdp_offload_params: false,
        fsdp_sharding_strategy: 'FULL_SHARD',
        fsdp_state_dict_type: 'FULL_STATE_DICT',
        fsdp_sync_module_states: true,
        fsdp_transformer_layer_cls_to_wrap: decoderLayerClass(o.architecture),
        fsdp_use_orig_params: true,
      },
    },
    zero2: zero(2),
    zero3: zero(3),
    multinode: {
      ...base,
      distributed_type: 'MULTI_GPU',
      num_machines: 2,
      num_processes: 2 * o.gpus,
      main_process_ip: '10.0.0.1',
      main_process_port: 29500,
      gpu_ids: 'all',
    },
  };
  const header: Record<AccelerateConfigName, string> = {
    '1gpu': '# One GPU: accelerate launch --config_file accelerate/1gpu.yaml train.py',
    ddp: '# DDP on the GPUs of one machine (a full copy of the model per GPU).',
    fsdp: `# FSDP: parameters, gradients and optimizer states sharded over the GPUs; wraps ${decoderLayerClass(o.architecture)}.`,
    zero2:
      '# DeepSpeed ZeRO-2: gradients and optimizer states sharded, weights replicated (needs the deepspeed package).',
    zero3: '# DeepSpeed ZeRO-3: weights sharded too (needs the deepspeed package).',
    multinode:
      '# Template for 2 machines: set main_process_ip to machine 0, and machine_rank (0, 1, ...) on each machine;\n' +
      '# num_processes counts the GPUs of all machines. Start the same command on every machine.',
  };
  const out = {} as Record<AccelerateConfigName, string>;
  for (const name of ACCELERATE_CONFIGS) out[name] = `${header[name]}\n${yaml(configs[name])}\n`;
  return out;
}
