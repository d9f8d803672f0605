import json
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

    def derive(self, **changes):
        """The config a block with its own sizes sees (ELECTRA's generator: config.hidden_size is generator_hidden_size)."""
        return DerivedConfig(self, changes)


class DerivedConfig:
    """A config with some values of its own; the others are read from its parent when used (so that a
    setting changed after the model is built, as train.py's --dropout, reaches the block too)."""

    def __init__(self, parent, changes):
        self.__dict__.update(changes)
        self.__dict__['_parent'] = parent

    def __getattr__(self, name):
        return getattr(self.__dict__['_parent'], name)

    def derive(self, **changes):
        return DerivedConfig(self, changes)


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


def alibi(heads, queries, keys, device):
    """ALiBi's bias [heads, queries, keys]: -slope(h) * |i - j| (Press et al.'s slopes)."""
    power = 2 ** math.floor(math.log2(heads))
    slopes = [2 ** (-8 * (h + 1) / power) if h < power else 2 ** (-8 * (2 * (h - power) + 1) / (2 * power)) for h in range(heads)]
    distance = (torch.arange(queries, device=device)[:, None] - torch.arange(keys, device=device)[None, :]).abs().float()
    return -torch.tensor(slopes, device=device)[:, None, None] * distance


def sliding_window(queries, keys, window, device):
    """Local attention's additive mask: 0 where |i - j| <= window // 2, -1e30 elsewhere (window 0: global)."""
    distance = (torch.arange(queries, device=device)[:, None] - torch.arange(keys, device=device)[None, :]).abs()
    outside = distance > window // 2 if window > 0 else torch.zeros_like(distance, dtype=torch.bool)
    return torch.where(outside, torch.tensor(-1e30, device=device), torch.tensor(0.0, device=device))


def rotary(x, base, dims, inverse=False):
    """Rotary positions (the half-split form) over the first dims features of x [..., seq, head_dim]."""
    seq = x.shape[-2]
    rate = 1.0 / torch.pow(float(base), torch.arange(0, dims, 2, dtype=torch.float64, device=x.device) / dims)
    angle = torch.arange(seq, dtype=torch.float64, device=x.device)[:, None] * rate
    cos, sin = torch.cos(angle).repeat(1, 2).float(), torch.sin(angle).repeat(1, 2).float()
    if inverse:
        sin = -sin
    turned, rest = x[..., :dims], x[..., dims:]
    first, second = turned.chunk(2, dim=-1)
    return torch.cat([turned * cos + torch.cat([-second, first], dim=-1) * sin, rest], dim=-1)


THREEFRY_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)


def uniform01(seed, stream, step, count, device=None):
    """tcc's counter-based generator: for each element e < count, the top 24 bits of the first word
    of Threefry-2x32-20 of the counter (step, e) under the key (seed, stream), as a float in [0, 1)
    (the same numbers every tcc backend draws). 32-bit words in int64 tensors."""
    mask = 0xFFFFFFFF
    keys = (seed & mask, stream & mask, (0x1BD11BDA ^ seed ^ stream) & mask)
    x1 = (torch.arange(count, dtype=torch.int64, device=device) + keys[1]) & mask
    x0 = torch.full_like(x1, (step + keys[0]) & mask)
    for block in range(5):
        for i in range(4):
            rotation = THREEFRY_ROTATIONS[(block & 1) * 4 + i]
            x0 = (x0 + x1) & mask
            x1 = (((x1 << rotation) | (x1 >> (32 - rotation))) & mask) ^ x0
        s = block + 1
        x0 = (x0 + keys[s % 3]) & mask
        x1 = (x1 + keys[(s + 1) % 3] + s) & mask
    return (x0 >> 8).float() * 2.0 ** -24


def sample(logits, stream, training, draws):
    """A class per row drawn from the softmax of its logits by Gumbel-max (noise -log(-log u), u from
    uniform01 at (seed, stream, step) = draws and the element's place); the likeliest outside training."""
    if not training:
        return logits.argmax(-1)
    seed, step = draws
    with torch.no_grad():
        u = uniform01(seed, stream, step, logits.numel(), logits.device).reshape(logits.shape)
        return (logits - torch.log(-torch.log(u))).argmax(-1)


def linear(inputs, outputs, bias=True):
    return tagged(nn.Linear(inputs, outputs, bias=bias), weight='normal', bias='zeros')


def layer_norm(width, eps, bias=True):
    norm = nn.LayerNorm(width, eps=eps)
    if not bias:
        # nn.LayerNorm's bias=False is torch 2.1's; a LayerNorm without the parameter computes the same.
        norm.register_parameter('bias', None)
    return tagged(norm, weight='ones', bias='zeros')


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
            # One weight named twice (ELECTRA's generator reads the discriminator's word embeddings by path
            # before that module is placed): steps find it by path when they run, so the module's own serves both.
            if list(module._parameters[key].shape) != list(parameter.shape):
                raise ValueError(f'two parameters claim the name {key!r}: {list(module._parameters[key].shape)} and {list(parameter.shape)}')
            continue
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

    def choose(self, classes, name):
        """The class of the block named name (a layer's blocks that follow its index) among those exported."""
        if name not in classes:
            raise ValueError(f'the config asks for block {name!r}; this model.py was exported with {sorted(classes)}')
        return classes[name]

    def tensor(self, path):
        return self.root.get_parameter(path[1:]) if path.startswith('/') else self.home.get_parameter(path)


class Model(Block):
    """The whole model: loading, saving and initializing weights."""

    # The seed and step of the counter-based generator's draws in training (train.py sets them each step).
    draws = (0, 1)

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
