// The Python that every exported model.py starts with (after its own header)
// and the train.py beside it. Kept as text here so that the export needs no
// files outside the compiled program; tests run both with real PyTorch.

/** Helpers of model.py: config, safetensors, the ops torch lacks as one call, and the Block base class. */
export const MODEL_RUNTIME = String.raw`import json
import math
import os
import struct
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


class Config:
    """The model's config.json values as attributes (cfg.hidden_size)."""

    def __init__(self, values):
        self.__dict__.update(values)

    def to_dict(self):
        return dict(self.__dict__)


# HuggingFace's names of two settings, as the spec names them.
HF_VALUES = {'hidden_act': {'gelu_new': 'gelu_tanh', 'gelu_pytorch_tanh': 'gelu_tanh'}, 'position_embedding_type': {'absolute': 'learned'}}


def read_config(directory):
    """EXPORTED_CONFIG updated by DIR/config.json (if any); refuses values that would need other blocks than this file's."""
    values = dict(EXPORTED_CONFIG)
    path = os.path.join(directory, 'config.json')
    if os.path.exists(path):
        with open(path) as f:
            for key, value in json.load(f).items():
                values[key] = HF_VALUES[key].get(value, value) if key in HF_VALUES else value
    for key, value in STRUCTURE.items():
        if values.get(key) != value:
            raise ValueError(f'{path}: {key} is {values.get(key)!r}, but this model.py was exported for {value!r} (export the model again with its config)')
    return Config(values)


class Dims(NamedTuple):
    """The sizes a forward pass is called with, and where its tensors live."""
    batch: int
    seq: int
    device: torch.device


# ---- safetensors, read and written without the safetensors package ----

DTYPES = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16, 'F64': torch.float64, 'I32': torch.int32, 'I64': torch.int64}


def load_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (size,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + size])
    tensors = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        start, end = info['data_offsets']
        raw = bytearray(data[8 + size + start:8 + size + end])
        tensors[name] = torch.frombuffer(raw, dtype=DTYPES[info['dtype']]).reshape(info['shape']) if raw else torch.zeros(info['shape'], dtype=DTYPES[info['dtype']])
    return tensors


def save_safetensors(path, tensors, metadata=None):
    """Writes F32 tensors; atomically (a temporary file renamed over the path)."""
    header, chunks, offset = {}, [], 0
    for name, tensor in tensors.items():
        raw = tensor.detach().to('cpu', torch.float32).contiguous().numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(tensor.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header['__metadata__'] = metadata
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    temporary = path + '.tmp'
    with open(temporary, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text)
        for chunk in chunks:
            f.write(chunk)
    os.replace(temporary, path)


# ---- ops of the spec that are not one torch call ----

def labelled_mean(per_row, labelled):
    """The mean over labelled rows. Under torch.distributed it is the sum here
    over the labelled rows of all processes, times their number: DDP averages
    the gradients, so N processes give one process's loss and gradients."""
    total, count = per_row.sum(), labelled.sum().to(per_row.dtype)
    if dist.is_available() and dist.is_initialized():
        count = count.clone()
        dist.all_reduce(count)
        return total * dist.get_world_size() / count.clamp(min=1)
    return total / count.clamp(min=1)


def cross_entropy(logits, labels, ignore_index=-100):
    """Mean cross-entropy over the labels that are not ignore_index (0 when none are)."""
    labelled = labels != ignore_index
    rows = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.where(labelled, labels, 0).reshape(-1).long(), reduction='none')
    return labelled_mean(rows * labelled.reshape(-1), labelled)


def accuracy(logits, labels, ignore_index=-100):
    """The fraction of labelled rows whose largest logit is the label's."""
    labelled = labels != ignore_index
    right = (logits.argmax(-1) == labels) & labelled
    return labelled_mean(right.to(logits.dtype), labelled).detach()


def attention(q, k, v, mask, scale, rate, training):
    probs = torch.softmax(q @ k.transpose(-1, -2) * scale + mask, dim=-1)
    return F.dropout(probs, rate, training) @ v


def sinusoidal(length, dim, device):
    """The Transformer's fixed position table: sin at even columns, cos at odd ones."""
    position = torch.arange(length, dtype=torch.float64, device=device)[:, None]
    column = torch.arange(dim, device=device)
    angle = position / torch.pow(10000.0, (2 * (column // 2)).double() / dim)
    return torch.where(column % 2 == 0, torch.sin(angle), torch.cos(angle)).float()


def linear(inputs, outputs, bias=True):
    return tagged(nn.Linear(inputs, outputs, bias=bias), weight='normal', bias='zeros')


def layer_norm(width, eps):
    return tagged(nn.LayerNorm(width, eps=eps), weight='ones', bias='zeros')


def embedding(rows, dim):
    return tagged(nn.Embedding(rows, dim), weight='normal')


def tagged(module, **inits):
    """Marks each parameter with how BERT initializes it (init_weights reads the mark)."""
    for name, init in inits.items():
        if getattr(module, name, None) is not None:
            getattr(module, name).init = init
    return module


def adopt(module, container):
    """Moves a plain container's modules and parameters into module, merging the scopes both hold."""
    for key, child in container._modules.items():
        mine = module._modules.get(key)
        if mine is None:
            module.add_module(key, child)
        elif type(child) is nn.Module:
            adopt(mine, child)
        elif type(mine) is nn.Module:
            adopt(child, mine)
            module._modules[key] = child
        else:
            raise ValueError(f'two modules claim the scope {key!r}')
    for key, parameter in container._parameters.items():
        if key in module._parameters:
            raise ValueError(f'two parameters claim the name {key!r}')
        module.register_parameter(key, parameter)


class Block(nn.Module):
    """A block of the spec. Its parameters live in its home module: itself when
    the spec gave it a scope, its caller's home otherwise, so that names follow
    the spec's scopes (and HuggingFace's state dicts). Paths starting with '/'
    are from the root."""

    def __init__(self, cfg, root=None, home=None):
        super().__init__()
        self.cfg = cfg
        # References, not children: as children they would nest the model in itself.
        self.__dict__['root'] = self if root is None else root
        self.__dict__['home'] = self if home is None else home

    def _parent(self, path):
        base, path = (self.root, path[1:]) if path.startswith('/') else (self.home, path)
        *parents, name = path.split('.')
        for part in parents:
            if part not in base._modules:
                base.add_module(part, nn.Module())
            base = base._modules[part]
        return base, name

    def place(self, path, module):
        """module at path, or the module already there (a scope that repeats shares its weights)."""
        base, name = self._parent(path)
        existing = base._modules.get(name)
        if existing is None:
            base.add_module(name, module)
        elif type(existing) is nn.Module and type(module) is not nn.Module:
            # A block whose scope already holds deeper scopes (encoder.layer.N, then encoder): it takes them over.
            adopt(module, existing)
            base._modules[name] = module
        return base._modules[name]

    def create(self, path, shape, init):
        """A parameter at path, or the one already there (a tied weight)."""
        base, name = self._parent(path)
        if name not in base._parameters:
            base.register_parameter(name, nn.Parameter(torch.empty(shape)))
            base._parameters[name].init = init
        if list(base._parameters[name].shape) != list(shape):
            raise ValueError(f'{path} is {list(base._parameters[name].shape)}, but a step needs it {list(shape)}')
        return base._parameters[name]

    def at(self, path):
        return self.root.get_submodule(path[1:]) if path.startswith('/') else self.home.get_submodule(path)

    def tensor(self, path):
        return self.root.get_parameter(path[1:]) if path.startswith('/') else self.home.get_parameter(path)


class Model(Block):
    """The whole model: loading, saving and initializing weights."""

    @classmethod
    def from_pretrained(cls, directory, weights=True):
        """The model of DIR/config.json with DIR/model.safetensors (tcc's or HuggingFace's names)."""
        model = cls(read_config(directory))
        path = os.path.join(directory, 'model.safetensors')
        if not weights or not os.path.exists(path):
            if weights:
                raise FileNotFoundError(f'{path}: no weights (from_pretrained(dir, weights=False) initializes them)')
            model.init_weights()
            return model
        state = load_safetensors(path)
        missing = [name for name, _ in model.named_parameters() if name not in state]
        if missing:
            raise KeyError(f'{path} lacks {len(missing)} of the model\'s parameters, e.g. {missing[0]!r}')
        model.load_state_dict({name: state[name] for name, _ in model.named_parameters()}, strict=False)
        return model

    def save_pretrained(self, directory):
        os.makedirs(directory, exist_ok=True)
        save_safetensors(os.path.join(directory, 'model.safetensors'), dict(self.named_parameters()), {'format': 'pt'})
        with open(os.path.join(directory, 'config.json'), 'w') as f:
            json.dump(self.cfg.to_dict(), f, indent=2)

    @torch.no_grad()
    def init_weights(self, std=None):
        """BERT's initialization: weights normal(0, initializer_range), biases 0, LayerNorm weights 1."""
        std = getattr(self.cfg, 'initializer_range', 0.02) if std is None else std
        for p in self.parameters():
            init = getattr(p, 'init', 'normal')
            p.normal_(0, std) if init == 'normal' else p.fill_(1.0 if init == 'ones' else 0.0)
`;

/** train.py: the spec's losses with AdamW and linear warmup and decay, under torchrun or alone. */
export const TRAIN_SCRIPT = String.raw`"""Trains model.py's model on prepared examples (tcc prepare's JSON lines) with
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
    parser.add_argument('--dropout', type=float, help='hidden and attention dropout instead of the config\'s')
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
        model.cfg.hidden_dropout_prob = model.cfg.attention_probs_dropout_prob = args.dropout
    model.train()
    network = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    named = list(model.named_parameters())
    decays = lambda name: not (name.endswith('bias') or 'LayerNorm.weight' in name)
    groups = [{'params': [p for n, p in named if decays(n)], 'weight_decay': args.weight_decay},
              {'params': [p for n, p in named if not decays(n)], 'weight_decay': 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999), eps=1e-6)
    warmup = round(args.warmup * args.steps) if args.warmup < 1 else round(args.warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule(warmup, args.steps))

    rows = examples(args.data)
    inputs = [name for name in ('input_ids', 'token_type_ids', 'attention_mask') if name in rows[0]]
    for step in range(args.steps):
        batch = batch_at(rows, step, args.batch, rank, world)
        outputs = network(*(batch[name] for name in inputs))
        results = model.losses(outputs, **{k: v for k, v in batch.items() if k not in inputs})
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
`;
