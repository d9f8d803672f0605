"""PyTorch peer for tcc's pretraining benchmark: the same BERT (post-LN,
exact GELU, tied MLM decoder, NSP head), the same batch, MLM + NSP losses,
torch.optim.AdamW with global-norm clipping; prints one JSON line with the
median training throughput. Written for the benchmark: no transformers needed."""

import json
import math
import statistics
import sys
import time

import torch
from torch import nn


class Layer(nn.Module):
    def __init__(self, h, heads, inter, p):
        super().__init__()
        self.heads = heads
        self.qkv = nn.ModuleList([nn.Linear(h, h) for _ in range(3)])
        self.out = nn.Linear(h, h)
        self.ln1 = nn.LayerNorm(h, eps=1e-12)
        self.up = nn.Linear(h, inter)
        self.down = nn.Linear(inter, h)
        self.ln2 = nn.LayerNorm(h, eps=1e-12)
        self.drop = nn.Dropout(p)

    def forward(self, x, mask):
        b, s, h = x.shape
        d = h // self.heads
        q, k, v = (m(x).view(b, s, self.heads, d).transpose(1, 2) for m in self.qkv)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + mask
        ctx = (self.drop(scores.softmax(-1)) @ v).transpose(1, 2).reshape(b, s, h)
        x = self.ln1(x + self.drop(self.out(ctx)))
        return self.ln2(x + self.drop(self.down(nn.functional.gelu(self.up(x)))))


class Bert(nn.Module):
    def __init__(self, vocab, h, layers, heads, inter, positions=512, p=0.1):
        super().__init__()
        self.words = nn.Embedding(vocab, h)
        self.positions = nn.Embedding(positions, h)
        self.types = nn.Embedding(2, h)
        self.ln = nn.LayerNorm(h, eps=1e-12)
        self.drop = nn.Dropout(p)
        self.layers = nn.ModuleList([Layer(h, heads, inter, p) for _ in range(layers)])
        self.pool = nn.Linear(h, h)
        self.transform = nn.Linear(h, h)
        self.transform_ln = nn.LayerNorm(h, eps=1e-12)
        self.decoder_bias = nn.Parameter(torch.zeros(vocab))
        self.nsp = nn.Linear(h, 2)

    def forward(self, ids, types, mask):
        s = ids.shape[1]
        x = self.drop(self.ln(self.words(ids) + self.types(types) + self.positions(torch.arange(s))))
        additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, additive)
        pooled = torch.tanh(self.pool(x[:, 0]))
        t = self.transform_ln(nn.functional.gelu(self.transform(x)))
        return t @ self.words.weight.T + self.decoder_bias, self.nsp(pooled)


def main():
    spec = json.loads(sys.argv[1])
    torch.manual_seed(0)
    torch.set_num_threads(spec.get("threads", torch.get_num_threads()))
    b, s, v = spec["batch"], spec["seq"], spec["vocab"]
    model = Bert(v, spec["hidden"], spec["layers"], spec["heads"], spec["intermediate"])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)
    ids = torch.randint(5, v, (b, s))
    labels = torch.full((b, s), -100)
    masked = torch.rand(b, s) < 0.15
    labels[masked] = ids[masked]
    types = torch.zeros(b, s, dtype=torch.long)
    mask = torch.ones(b, s, dtype=torch.long)
    nsp = torch.randint(0, 2, (b,))
    times = []
    for step in range(spec["warmup"] + spec["repeats"]):
        start = time.perf_counter()
        logits, nsp_logits = model(ids, types, mask)
        loss = nn.functional.cross_entropy(logits.view(-1, v), labels.view(-1), ignore_index=-100) + nn.functional.cross_entropy(nsp_logits, nsp)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= spec["warmup"]:
            times.append(time.perf_counter() - start)
    print(json.dumps({"tokens_per_s": b * s / statistics.median(times), "step_seconds": times, "threads": torch.get_num_threads(), "torch": torch.__version__}))


main()
