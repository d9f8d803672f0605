"""Trains model.py's model on prepared examples (tcc prepare's JSON lines) with
the losses of its spec, AdamW as tcc's (no decay for biases and LayerNorm
weights, global-norm clipping) and the learning rate warmed up linearly, then
decayed linearly to 0.

    python train.py DATA.jsonl --init DIR --steps 100 -o OUT
    torchrun --nproc_per_node 2 --redirects 1 --tee 1 train.py DATA.jsonl --init DIR --steps 100 -o OUT

(--redirects 1 --tee 1: Debian's torch 1.13 cannot parse torchrun's default of
no redirects under Python 3.11.) The trained model is saved to -o, by
default the directory 'trained' here.

Each step takes the next --batch examples in file order (as tcc pretrain
--data); under torchrun each process takes its share of them, and the losses
and gradients equal one process's. Prints one JSON line per step.
"""
import argparse
import json
import os
import re
import sys

import torch
import torch.distributed as dist

import model as exported


def examples(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def batch_at(rows, step, batch, rank, world):
    """This process's share of the step's examples, as tensors of each field."""
    start = step * batch
    mine = [rows[(start + k) % len(rows)] for k in range(batch)][rank * batch // world:(rank + 1) * batch // world]
    return {key: torch.tensor([row[key] for row in mine]) for key in mine[0]}


def schedule(warmup, total):
    return lambda step: step / max(1, warmup) if step < warmup else max(0.0, (total - step) / max(1, total - warmup))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data', help='JSON lines of input_ids, token_type_ids, attention_mask and the labels')
    parser.add_argument('--init', help='a directory with config.json and model.safetensors to start from (default: BERT initialization)')
    parser.add_argument('--steps', type=int, default=100)
    parser.add_argument('--batch', type=int, default=8, help='examples per step, over all processes')
    parser.add_argument('--lr', type=float, default=1e-4)
    parser.add_argument('--warmup', type=float, default=0.01, help='steps, or a fraction of them when below 1')
    parser.add_argument('--weight-decay', type=float, default=0.01)
    parser.add_argument('--clip', type=float, default=1.0)
    parser.add_argument('--dropout', type=float, help='every dropout rate of the config (hidden, attention, classifier, ...) instead of its own')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('-o', '--out', default='trained', help='where to save the trained model (config.json, model.safetensors; default: trained)')
    args = parser.parse_args()

    distributed = int(os.environ.get('WORLD_SIZE', '1')) > 1
    if distributed:
        dist.init_process_group('gloo')
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    if args.batch % world:
        raise SystemExit(f'--batch {args.batch} does not divide among {world} processes')
    torch.manual_seed(args.seed)

    model = exported.MODEL.from_pretrained(args.init) if args.init else exported.MODEL(exported.read_config('.'))
    if not args.init:
        model.init_weights()
    if args.dropout is not None:
        for key in list(vars(model.cfg)):
            if re.search(r'(^|_)dropout(_prob)?$', key):
                setattr(model.cfg, key, args.dropout)
    model.train()
    network = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    named = list(model.named_parameters())
    # HuggingFace Trainer's groups: no decay for biases and for the parameters of layer norms.
    norms = {f'{m}.{p}' if m else p for m, module in model.named_modules() if isinstance(module, torch.nn.LayerNorm) for p, _ in module.named_parameters(recurse=False)}
    decays = lambda name: not (name.endswith('bias') or name in norms)
    groups = [{'params': [p for n, p in named if decays(n)], 'weight_decay': args.weight_decay},
              {'params': [p for n, p in named if not decays(n)], 'weight_decay': 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999), eps=1e-6)
    warmup = round(args.warmup * args.steps) if args.warmup < 1 else round(args.warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule(warmup, args.steps))

    rows = examples(args.data)
    inputs = [name for name in ('input_ids', 'token_type_ids', 'attention_mask') if name in rows[0]]
    for step in range(args.steps):
        batch = batch_at(rows, step, args.batch, rank, world)
        # tcc pretrain's draws at this step (a model that samples, ELECTRA's generator, draws tcc's numbers).
        model.draws = (args.seed, step + 1)
        outputs = network(*(batch[name] for name in inputs))
        results = model.losses(outputs, **batch)
        optimizer.zero_grad()
        results['loss'].backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip if args.clip > 0 else float('inf'))
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        values = {name: value.detach().clone() for name, value in results.items()}
        if distributed:
            for value in values.values():
                dist.all_reduce(value)
                value /= world
        if rank == 0:
            print(json.dumps({'step': step + 1, **{k: v.item() for k, v in values.items()}, 'grad_norm': norm.item(), 'lr': lr}), flush=True)
    if rank == 0:
        model.save_pretrained(args.out)
        print(f'saved the trained model to {args.out}', file=sys.stderr, flush=True)
    if distributed:
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
