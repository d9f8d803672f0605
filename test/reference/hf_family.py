"""Reference forward passes of the BERT family in plain PyTorch, written from
HuggingFace transformers' modeling code (modeling_bert.py, modeling_roberta.py,
modeling_distilbert.py, modeling_albert.py, modeling_electra.py,
modeling_modernbert.py (its eager attention); nomic-ai's
modeling_hf_nomic_bert.py; jina-ai's JinaBERT: ALiBi, the GLU MLP)
and independent of tcc: nothing here comes from a tcc spec or export.

    python3 hf_family.py MODEL_DIR INPUTS.json OUT.json [MODEL_DIR INPUTS.json OUT.json ...]
    python3 hf_family.py --pretrain MODEL_DIR DATA.jsonl OUT.json STEPS BATCH LR WARMUP WEIGHT_DECAY CLIP

MODEL_DIR holds config.json (HuggingFace's fields, model_type and
architectures) and model.safetensors (HuggingFace's parameter names).
INPUTS.json holds input_ids and attention_mask ([batch][seq]), and
token_type_ids where the model takes them. OUT.json gets every output the
architecture returns, as nested lists, computed in float64.

--pretrain trains the checkpoint as HuggingFace's Trainer would, in float32:
each step takes the next BATCH examples of DATA.jsonl (input_ids,
attention_mask, token_type_ids, labels with -100 where not predicted, and
next_sentence_label where the model has that head), sums the head's
cross-entropies (masked LM: mean over the predicted tokens), clips the
gradients' norm to CLIP, and steps torch.optim.AdamW (eps 1e-6, no weight
decay for biases and LayerNorm parameters) under a linear warmup and decay.
OUT.json gets each step's loss and the trained tensors.

A config.json with generator_hidden_size is ELECTRA's pretraining as one
model (models/electra-pretraining.yaml, by ELECTRA's paper and its
run_pretraining.py): the generator (its own embeddings_project and encoder
at its sizes, generator_predictions, the lm head tied to the shared word
embeddings) on the masked text; each [MASK] replaced by a token drawn from
its softmax by Gumbel-max, the noise from Threefry-2x32-20 (written out
below from Salmon et al.; the stream 1000, counted by step and by the
element's place in the logits); the discriminator on that text; the loss
the generator's masked-LM loss plus 50 times the discriminator's binary
cross-entropy over the real tokens, its targets whether a token differs
from the original."""

import json
import math
import struct
import sys

import torch

DTYPES = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16, 'I32': torch.int32, 'I64': torch.int64}


def load_safetensors(path):
    with open(path, 'rb') as f:
        data = f.read()
    (size,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + size])
    tensors = {}
    for name, entry in header.items():
        if name == '__metadata__':
            continue
        start, end = entry['data_offsets']
        raw = bytearray(data[8 + size + start:8 + size + end])
        tensors[name] = torch.frombuffer(raw, dtype=DTYPES[entry['dtype']]).reshape(entry['shape']).to(torch.float64)
    return tensors


ACTIVATIONS = {
    'gelu': lambda x: torch.nn.functional.gelu(x),
    'gelu_new': lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0)))),
    'gelu_pytorch_tanh': lambda x: torch.nn.functional.gelu(x, approximate='tanh'),
    'relu': torch.relu,
}


class Weights:
    """A checkpoint's tensors by HuggingFace name; a base model's names may lack the model's prefix."""

    def __init__(self, tensors, prefix):
        self.tensors = tensors
        self.prefix = prefix
        # The names of the LayerNorm modules read (their parameters take no weight decay in training).
        self.norms = set()

    def __call__(self, name):
        for candidate in (name, name[len(self.prefix) + 1:] if name.startswith(self.prefix + '.') else self.prefix + '.' + name):
            if candidate in self.tensors:
                return self.tensors[candidate]
        raise KeyError(name)

    def has(self, name):
        try:
            self(name)
            return True
        except KeyError:
            return False


def split_heads(t, heads):
    """[batch, seq, hidden] as [batch, heads, seq, head_dim] (transpose_for_scores)."""
    b, s, h = t.shape
    return t.view(b, s, heads, h // heads).permute(0, 2, 1, 3)


def linear(w, name, x):
    return x @ w(name + '.weight').T + w(name + '.bias')


def layer_norm(w, name, x, eps):
    w.norms.add(name)
    return torch.nn.functional.layer_norm(x, x.shape[-1:], w(name + '.weight'), w(name + '.bias'), eps)


def create_position_ids_from_input_ids(input_ids, padding_idx):
    # modeling_roberta.py: padding keeps padding_idx, real tokens count from padding_idx + 1.
    mask = input_ids.ne(padding_idx).int()
    incremental_indices = torch.cumsum(mask, dim=1).type_as(mask) * mask
    return incremental_indices.long() + padding_idx


def embeddings(w, cfg, family, input_ids, token_type_ids):
    p = family['prefix'] + '.embeddings'
    if family['positions'] == 'padded':
        position_ids = create_position_ids_from_input_ids(input_ids, cfg.get('pad_token_id', 1))
    else:
        position_ids = torch.arange(input_ids.shape[1]).unsqueeze(0).expand_as(input_ids)
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    x = w(p + '.word_embeddings.weight')[input_ids] + w(p + '.token_type_embeddings.weight')[token_type_ids]
    x = x + w(p + '.position_embeddings.weight')[position_ids]
    return layer_norm(w, p + '.LayerNorm', x, cfg['layer_norm_eps'])


def encoder_layer(w, cfg, p, x, additive_mask):
    # BertLayer (RobertaLayer is a copy): self-attention, SelfOutput (dense, residual, LayerNorm), Intermediate, Output.
    b, s, h = x.shape
    heads = cfg['num_attention_heads']
    d = h // heads

    q = split_heads(linear(w, p + '.attention.self.query', x), heads)
    k = split_heads(linear(w, p + '.attention.self.key', x), heads)
    v = split_heads(linear(w, p + '.attention.self.value', x), heads)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d) + additive_mask
    context = (torch.softmax(scores, dim=-1) @ v).permute(0, 2, 1, 3).reshape(b, s, h)
    attended = layer_norm(w, p + '.attention.output.LayerNorm', linear(w, p + '.attention.output.dense', context) + x, cfg['layer_norm_eps'])
    inner = ACTIVATIONS[cfg.get('hidden_act', 'gelu')](linear(w, p + '.intermediate.dense', attended))
    return layer_norm(w, p + '.output.LayerNorm', linear(w, p + '.output.dense', inner) + attended, cfg['layer_norm_eps'])


FAMILIES = {
    'bert': {'prefix': 'bert', 'positions': 'absolute'},
    'roberta': {'prefix': 'roberta', 'positions': 'padded'},
    'xlm-roberta': {'prefix': 'roberta', 'positions': 'padded'},
    'distilbert': {'prefix': 'distilbert', 'positions': 'absolute'},
    'albert': {'prefix': 'albert', 'positions': 'absolute'},
    'electra': {'prefix': 'electra', 'positions': 'absolute'},
    'nomic_bert': {'prefix': 'bert', 'positions': 'rotary'},
    'modernbert': {'prefix': 'model', 'positions': 'rotary'},
}


def apply_rotary(x, base, dims):
    """nomic's NomicBertRotaryEmbedding and apply_rotary_emb (not interleaved): x [batch, seq, heads, head_dim]."""
    seq = x.shape[1]
    inv_freq = 1.0 / (base ** (torch.arange(0, dims, 2, dtype=torch.float32) / dims))
    freqs = torch.outer(torch.arange(seq, dtype=torch.float32), inv_freq)
    cos = torch.cos(freqs).to(x.dtype).repeat(1, 2)[:, None, :]
    sin = torch.sin(freqs).to(x.dtype).repeat(1, 2)[:, None, :]
    rotated = x[..., :dims]
    x1, x2 = rotated.chunk(2, dim=-1)
    turned = rotated * cos + torch.cat((-x2, x1), dim=-1) * sin
    return torch.cat([turned, x[..., dims:]], dim=-1)


def alibi_slopes(n):
    """jina's _get_alibi_head_slopes (Press et al.)."""
    def power_of_2(m):
        start = 2 ** (-(2 ** -(math.log2(m) - 3)))
        return [start * start ** i for i in range(m)]
    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][: n - closest]


def jina_forward(w, cfg, arch, input_ids, types, additive):
    """JinaBertModel: BERT's embeddings without positions, attention with ALiBi's bias, the GLU MLP with its own
    residual and layernorm; BERT's pooler and masked-LM head."""
    eps = cfg['layer_norm_eps']
    if types is None:
        types = torch.zeros_like(input_ids)
    x = w('bert.embeddings.word_embeddings.weight')[input_ids] + w('bert.embeddings.token_type_embeddings.weight')[types]
    x = layer_norm(w, 'bert.embeddings.LayerNorm', x, eps)
    b, s, h = x.shape
    heads = cfg['num_attention_heads']
    d = h // heads
    distance = (torch.arange(s)[None, :] - torch.arange(s)[:, None]).abs().to(x.dtype)
    bias = -torch.tensor(alibi_slopes(heads), dtype=x.dtype)[:, None, None] * distance
    glu = {'geglu': torch.nn.functional.gelu, 'reglu': torch.relu}[cfg.get('feed_forward_type', 'geglu')]
    inter = cfg['intermediate_size']
    for i in range(cfg['num_hidden_layers']):
        p = f'bert.encoder.layer.{i}'

        q, k, v = (split_heads(linear(w, f'{p}.attention.self.{n}', x), heads) for n in ('query', 'key', 'value'))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + additive + bias[None], dim=-1)
        context = (probs @ v).permute(0, 2, 1, 3).reshape(b, s, h)
        x = layer_norm(w, p + '.attention.output.LayerNorm', linear(w, p + '.attention.output.dense', context) + x, eps)
        both = x @ w(p + '.mlp.gated_layers.weight').T
        x = layer_norm(w, p + '.mlp.layernorm', linear(w, p + '.mlp.wo', glu(both[..., :inter]) * both[..., inter:]) + x, eps)
    out = {'last_hidden_state': x}
    if arch in ('JinaBertModel', 'JinaBertForSequenceClassification'):
        out['pooler_output'] = torch.tanh(linear(w, 'bert.pooler.dense', x[:, 0]))
    if arch == 'JinaBertForMaskedLM':
        act = ACTIVATIONS[cfg.get('hidden_act', 'gelu')]
        t = layer_norm(w, 'cls.predictions.transform.LayerNorm', act(linear(w, 'cls.predictions.transform.dense', x)), eps)
        out['prediction_logits'] = t @ w('bert.embeddings.word_embeddings.weight').T + w('cls.predictions.bias')
    if arch == 'JinaBertForSequenceClassification':
        out['logits'] = linear(w, 'classifier', out['pooler_output'])
    return out


def modernbert_forward(w, cfg, arch, input_ids, mask):
    """ModernBertModel's eager path (pre-LN layers, attn_norm absent in layer 0, rotary with a global and a local
    base, the sliding-window mask of _update_attention_mask, the GeGLU MLP, final_norm) and its heads."""
    eps = cfg.get('norm_eps', 1e-5)
    act = ACTIVATIONS[cfg.get('hidden_activation', 'gelu')]

    def lin(name, x, bias):
        y = x @ w(name + '.weight').T
        return y + w(name + '.bias') if bias else y

    def norm(name, x):
        w.norms.add(name)
        return torch.nn.functional.layer_norm(x, x.shape[-1:], w(name + '.weight'), w(name + '.bias') if cfg['norm_bias'] else None, eps)

    x = norm('model.embeddings.norm', w('model.embeddings.tok_embeddings.weight')[input_ids])
    b, s, h = x.shape
    heads = cfg['num_attention_heads']
    d = h // heads
    minimum = torch.finfo(torch.float32).min
    global_mask = (1.0 - mask)[:, None, None, :] * minimum
    distance = (torch.arange(s)[None, :] - torch.arange(s)[:, None]).abs()
    sliding_mask = global_mask.masked_fill((distance <= cfg['local_attention'] // 2).logical_not()[None, None], minimum)
    every = cfg['global_attn_every_n_layers']
    for i in range(cfg['num_hidden_layers']):
        p = f'model.layers.{i}'
        local = i % every != 0
        theta = cfg['local_rope_theta'] if local and cfg.get('local_rope_theta') is not None else cfg['global_rope_theta']
        attn_in = x if i == 0 else norm(p + '.attn_norm', x)
        qkv = lin(p + '.attn.Wqkv', attn_in, cfg['attention_bias']).view(b, s, 3, heads, d)
        q, k, v = qkv.transpose(3, 1).unbind(dim=2)
        q = apply_rotary(q.transpose(1, 2), theta, d).transpose(1, 2)
        k = apply_rotary(k.transpose(1, 2), theta, d).transpose(1, 2)
        scores = q @ k.transpose(2, 3) * d ** -0.5 + (sliding_mask if local else global_mask)
        attended = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, s, h)
        x = x + lin(p + '.attn.Wo', attended, cfg['attention_bias'])
        inner, gate = lin(p + '.mlp.Wi', norm(p + '.mlp_norm', x), cfg['mlp_bias']).chunk(2, dim=-1)
        x = x + lin(p + '.mlp.Wo', act(inner) * gate, cfg['mlp_bias'])
    x = norm('model.final_norm', x)
    out = {'last_hidden_state': x}
    head_act = ACTIVATIONS[cfg.get('classifier_activation', 'gelu')]

    def head(t):
        return norm('head.norm', head_act(lin('head.dense', t, cfg.get('classifier_bias', False))))

    if arch == 'ModernBertForMaskedLM':
        out['prediction_logits'] = head(x) @ w('model.embeddings.tok_embeddings.weight').T + w('decoder.bias')
    if arch == 'ModernBertForSequenceClassification':
        if cfg.get('classifier_pooling', 'cls') == 'cls':
            pooled = x[:, 0]
        else:
            pooled = (x * mask.unsqueeze(-1)).sum(dim=1) / mask.sum(dim=1, keepdim=True)
        out['pooler_output'] = pooled
        out['logits'] = lin('classifier', head(pooled), True)
    if arch == 'ModernBertForTokenClassification':
        out['logits'] = lin('classifier', head(x), True)
    return out


def nomic_forward(w, cfg, arch, input_ids, types, additive):
    """NomicBertModel (post-norm blocks, Wqkv, rotary, gated MLP) and NomicBertForPreTraining's masked-LM head."""
    eps = cfg['layer_norm_epsilon']

    def lin(name, x, bias):
        y = x @ w(name + '.weight').T
        return y + w(name + '.bias') if bias else y

    if types is None:
        types = torch.zeros_like(input_ids)
    x = w('bert.embeddings.word_embeddings.weight')[input_ids] + w('bert.embeddings.token_type_embeddings.weight')[types]
    x = layer_norm(w, 'bert.emb_ln', x, eps)
    b, s, h = x.shape
    heads = cfg['n_head']
    d = h // heads
    dims = int(d * cfg['rotary_emb_fraction'])
    gate_act = {'swiglu': torch.nn.functional.silu, 'geglu': torch.nn.functional.gelu, 'glu': torch.sigmoid}[cfg['activation_function']]
    for i in range(cfg['n_layer']):
        p = f'bert.encoder.layers.{i}'
        qkv = lin(p + '.attn.Wqkv', x, cfg['qkv_proj_bias']).view(b, s, 3, heads, d)
        q = apply_rotary(qkv[:, :, 0], cfg['rotary_emb_base'], dims).permute(0, 2, 1, 3)
        k = apply_rotary(qkv[:, :, 1], cfg['rotary_emb_base'], dims).permute(0, 2, 1, 3)
        v = qkv[:, :, 2].permute(0, 2, 1, 3)
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + additive, dim=-1)
        attended = lin(p + '.attn.out_proj', (probs @ v).permute(0, 2, 1, 3).reshape(b, s, h), cfg['qkv_proj_bias'])
        x = layer_norm(w, p + '.norm1', attended + x, eps)
        y = lin(p + '.mlp.fc11', x, cfg['mlp_fc1_bias']) * gate_act(lin(p + '.mlp.fc12', x, cfg['mlp_fc1_bias']))
        x = layer_norm(w, p + '.norm2', lin(p + '.mlp.fc2', y, cfg['mlp_fc2_bias']) + x, eps)
    out = {'last_hidden_state': x}
    if arch == 'NomicBertForPreTraining':
        act = torch.nn.functional.silu if cfg['activation_function'] == 'swiglu' else torch.nn.functional.gelu
        t = layer_norm(w, 'cls.predictions.transform.layer_norm', act(lin('cls.predictions.transform.dense', x, cfg['mlp_fc1_bias'])), eps)
        out['prediction_logits'] = t @ w('bert.embeddings.word_embeddings.weight').T
    return out


def albert_forward(w, cfg, arch, input_ids, types, additive):
    """modeling_albert.py: AlbertEmbeddings in embedding_size, embedding_hidden_mapping_in, one shared AlbertLayer, the heads."""
    eps = cfg['layer_norm_eps']
    act = ACTIVATIONS[cfg.get('hidden_act', 'gelu_new')]
    e = 'albert.embeddings'
    if types is None:
        types = torch.zeros_like(input_ids)
    x = w(e + '.word_embeddings.weight')[input_ids] + w(e + '.token_type_embeddings.weight')[types]
    x = layer_norm(w, e + '.LayerNorm', x + w(e + '.position_embeddings.weight')[torch.arange(input_ids.shape[1])], eps)
    x = linear(w, 'albert.encoder.embedding_hidden_mapping_in', x)
    b, s, h = x.shape
    heads = cfg['num_attention_heads']
    d = h // heads
    p = 'albert.encoder.albert_layer_groups.0.albert_layers.0'
    for _ in range(cfg['num_hidden_layers']):
        q, k, v = (split_heads(linear(w, f'{p}.attention.{n}', x), heads) for n in ('query', 'key', 'value'))
        context = (torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + additive, dim=-1) @ v).transpose(2, 1).flatten(2)
        attended = layer_norm(w, p + '.attention.LayerNorm', x + linear(w, p + '.attention.dense', context), eps)
        x = layer_norm(w, p + '.full_layer_layer_norm', linear(w, p + '.ffn_output', act(linear(w, p + '.ffn', attended))) + attended, eps)
    out = {'last_hidden_state': x}
    pooled = None
    if arch in ('AlbertModel', 'AlbertForPreTraining', 'AlbertForSequenceClassification'):
        pooled = torch.tanh(linear(w, 'albert.pooler', x[:, 0]))
        out['pooler_output'] = pooled
    if arch in ('AlbertForPreTraining', 'AlbertForMaskedLM'):
        h = layer_norm(w, 'predictions.LayerNorm', act(linear(w, 'predictions.dense', x)), eps)
        out['prediction_logits'] = h @ w('albert.embeddings.word_embeddings.weight').T + w('predictions.bias')
    if arch == 'AlbertForPreTraining':
        out['seq_relationship_logits'] = linear(w, 'sop_classifier.classifier', pooled)
    if arch == 'AlbertForSequenceClassification':
        out['logits'] = linear(w, 'classifier', pooled)
    if arch == 'AlbertForTokenClassification':
        out['logits'] = linear(w, 'classifier', x)
    if arch == 'AlbertForQuestionAnswering':
        logits = linear(w, 'qa_outputs', x)
        out['start_logits'], out['end_logits'] = logits[..., 0], logits[..., 1]
    return out


def distilbert_forward(w, cfg, arch, input_ids, mask):
    """modeling_distilbert.py: Embeddings, TransformerBlock (MultiHeadSelfAttention, FFN), and the heads."""
    eps = 1e-12
    act = ACTIVATIONS[cfg.get('activation', 'gelu')]
    seq = input_ids.shape[1]
    x = w('distilbert.embeddings.word_embeddings.weight')[input_ids] + w('distilbert.embeddings.position_embeddings.weight')[torch.arange(seq)]
    x = layer_norm(w, 'distilbert.embeddings.LayerNorm', x, eps)
    b, s, dim = x.shape
    heads = cfg['n_heads']
    d = dim // heads
    for i in range(cfg['n_layers']):
        p = f'distilbert.transformer.layer.{i}'

        q = split_heads(linear(w, p + '.attention.q_lin', x), heads) / math.sqrt(d)
        k = split_heads(linear(w, p + '.attention.k_lin', x), heads)
        v = split_heads(linear(w, p + '.attention.v_lin', x), heads)
        scores = (q @ k.transpose(2, 3)).masked_fill((mask == 0).view(b, 1, 1, s), torch.finfo(q.dtype).min)
        context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, s, dim)
        sa = layer_norm(w, p + '.sa_layer_norm', linear(w, p + '.attention.out_lin', context) + x, eps)
        ffn = linear(w, p + '.ffn.lin2', act(linear(w, p + '.ffn.lin1', sa)))
        x = layer_norm(w, p + '.output_layer_norm', ffn + sa, eps)
    out = {'last_hidden_state': x}
    if arch.endswith('ForMaskedLM'):
        h = layer_norm(w, 'vocab_layer_norm', act(linear(w, 'vocab_transform', x)), eps)
        out['prediction_logits'] = h @ w('distilbert.embeddings.word_embeddings.weight').T + w('vocab_projector.bias')
    if arch.endswith('ForSequenceClassification'):
        out['logits'] = linear(w, 'classifier', torch.relu(linear(w, 'pre_classifier', x[:, 0])))
    if arch.endswith('ForTokenClassification'):
        out['logits'] = linear(w, 'classifier', x)
    if arch.endswith('ForQuestionAnswering'):
        logits = linear(w, 'qa_outputs', x)
        out['start_logits'], out['end_logits'] = logits[..., 0], logits[..., 1]
    return out


def read_model(model_dir, dtype=torch.float64):
    with open(model_dir + '/config.json') as f:
        cfg = json.load(f)
    family = FAMILIES[cfg.get('model_type', 'bert')]
    tensors = {name: t.to(dtype) for name, t in load_safetensors(model_dir + '/model.safetensors').items()}
    return cfg, Weights(tensors, family['prefix'])


def forward(cfg, w, inputs):
    arch = cfg['architectures'][0]
    family = FAMILIES[cfg.get('model_type', 'bert')]
    dtype = next(iter(w.tensors.values())).dtype
    input_ids = torch.tensor(inputs['input_ids'], dtype=torch.long)
    mask = torch.tensor(inputs['attention_mask'], dtype=dtype)
    types = torch.tensor(inputs['token_type_ids'], dtype=torch.long) if 'token_type_ids' in inputs else None
    if cfg.get('model_type') == 'distilbert':
        return distilbert_forward(w, cfg, arch, input_ids, mask)
    # get_extended_attention_mask: (1 - mask) * the dtype's minimum, broadcast over heads and queries.
    additive = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
    if cfg.get('model_type') == 'modernbert':
        return modernbert_forward(w, cfg, arch, input_ids, mask)
    if arch.startswith('JinaBert'):
        return jina_forward(w, cfg, arch, input_ids, types, additive)
    if cfg.get('model_type') == 'nomic_bert':
        return nomic_forward(w, cfg, arch, input_ids, types, additive)
    if cfg.get('model_type') == 'albert':
        return albert_forward(w, cfg, arch, input_ids, types, additive)
    x = embeddings(w, cfg, family, input_ids, types)
    if w.has('electra.embeddings_project.weight'):
        # ElectraModel: embeddings_project where embedding_size differs from hidden_size.
        x = linear(w, 'electra.embeddings_project', x)
    for i in range(cfg['num_hidden_layers']):
        x = encoder_layer(w, cfg, f"{family['prefix']}.encoder.layer.{i}", x, additive)
    out = {'last_hidden_state': x}
    prefix = family['prefix']
    pooled = None
    if w.has(prefix + '.pooler.dense.weight') and (arch.endswith('Model') or arch in ('BertForPreTraining', 'BertForSequenceClassification', 'BertForNextSentencePrediction')):
        pooled = torch.tanh(linear(w, prefix + '.pooler.dense', x[:, 0]))
        out['pooler_output'] = pooled
    act = ACTIVATIONS[cfg.get('hidden_act', 'gelu')]
    if arch == 'ElectraForPreTraining':
        # ElectraDiscriminatorPredictions: dense, hidden_act, dense_prediction, squeezed to a logit per token.
        out['discriminator_logits'] = linear(w, 'discriminator_predictions.dense_prediction', act(linear(w, 'discriminator_predictions.dense', x)))[..., 0]
    elif arch == 'ElectraForMaskedLM':
        # ElectraGeneratorPredictions: dense to embedding_size, gelu, LayerNorm; generator_lm_head tied to the word embeddings.
        h = layer_norm(w, 'generator_predictions.LayerNorm', torch.nn.functional.gelu(linear(w, 'generator_predictions.dense', x)), cfg['layer_norm_eps'])
        out['prediction_logits'] = h @ w('electra.embeddings.word_embeddings.weight').T + w('generator_lm_head.bias')
    elif arch.endswith('ForMaskedLM') or arch == 'BertForPreTraining':
        if prefix == 'roberta':
            # RobertaLMHead: dense, gelu (always the exact one), layer_norm, decoder tied to the word embeddings, bias.
            h = layer_norm(w, 'lm_head.layer_norm', torch.nn.functional.gelu(linear(w, 'lm_head.dense', x)), cfg['layer_norm_eps'])
            out['prediction_logits'] = h @ w('roberta.embeddings.word_embeddings.weight').T + w('lm_head.bias')
        else:
            h = layer_norm(w, 'cls.predictions.transform.LayerNorm', act(linear(w, 'cls.predictions.transform.dense', x)), cfg['layer_norm_eps'])
            out['prediction_logits'] = h @ w('bert.embeddings.word_embeddings.weight').T + w('cls.predictions.bias')
    if arch == 'BertForPreTraining' or arch == 'BertForNextSentencePrediction':
        out['seq_relationship_logits'] = linear(w, 'cls.seq_relationship', pooled)
    if arch.endswith('ForSequenceClassification'):
        if prefix == 'electra':
            # ElectraClassificationHead: the first token, dense, gelu, out_proj.
            out['logits'] = linear(w, 'classifier.out_proj', torch.nn.functional.gelu(linear(w, 'classifier.dense', x[:, 0])))
        elif prefix == 'roberta':
            # RobertaClassificationHead: the <s> token, dense, tanh, out_proj (dropouts are identities here).
            out['logits'] = linear(w, 'classifier.out_proj', torch.tanh(linear(w, 'classifier.dense', x[:, 0])))
        else:
            out['logits'] = linear(w, 'classifier', pooled)
    if arch.endswith('ForTokenClassification'):
        out['logits'] = linear(w, 'classifier', x)
    if arch.endswith('ForQuestionAnswering'):
        logits = linear(w, 'qa_outputs', x)
        out['start_logits'], out['end_logits'] = logits[..., 0], logits[..., 1]
    return out


def sentence_embedding(model_dir, out, mask):
    """sentence-transformers' Pooling (cls, mean or max over the tokens the mask keeps) and Normalize modules."""
    import os
    path = os.path.join(model_dir, 'modules.json')
    if not os.path.exists(path):
        return
    with open(path) as f:
        modules = json.load(f)
    x = out['last_hidden_state']
    m = mask.unsqueeze(-1).expand(x.size())
    for module in modules:
        kind = module['type'].rsplit('.', 1)[-1]
        if kind == 'Pooling':
            with open(os.path.join(model_dir, module['path'], 'config.json')) as f:
                pooling = json.load(f)
            if pooling.get('pooling_mode_cls_token'):
                x = x[:, 0]
            elif pooling.get('pooling_mode_max_tokens'):
                x = x.clone()
                x[m == 0] = -1e9
                x = torch.max(x, 1)[0]
            else:
                x = torch.sum(x * m, 1) / torch.clamp(m.sum(1), min=1e-9)
        elif kind == 'Normalize':
            x = torch.nn.functional.normalize(x, p=2, dim=1)
    out['sentence_embedding'] = x


def threefry2x32(k0, k1, c0, c1):
    """Threefry-2x32 with 20 rounds (Salmon et al. 2011): two uint32 words of counter (c0, c1) under key (k0, k1)."""
    mask = 0xFFFFFFFF
    rotations = (13, 15, 26, 6, 17, 29, 16, 24)
    ks = (k0 & mask, k1 & mask, (0x1BD11BDA ^ k0 ^ k1) & mask)
    x0, x1 = (c0 + ks[0]) & mask, (c1 + ks[1]) & mask
    for block in range(5):
        for i in range(4):
            rot = rotations[(block & 1) * 4 + i]
            x0 = (x0 + x1) & mask
            x1 = (((x1 << rot) | (x1 >> (32 - rot))) & mask) ^ x0
        s = block + 1
        x0 = (x0 + ks[s % 3]) & mask
        x1 = (x1 + ks[(s + 1) % 3] + s) & mask
    return x0, x1


def uniform01(seed, stream, step, element):
    """A uniform float in [0, 1) with 24 random bits: the first word's top 24 bits."""
    return (threefry2x32(seed, stream, step, element)[0] >> 8) * 2.0 ** -24


def electra_pretraining(cfg, w, batch, seed, step):
    """ELECTRA's pretraining loss on one batch (see the module's description)."""
    ids = torch.tensor(batch['input_ids'])
    types = torch.tensor(batch['token_type_ids'])
    labels = torch.tensor(batch['labels'])
    mask = torch.tensor(batch['attention_mask'], dtype=torch.float32)
    additive = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
    family = FAMILIES['electra']
    eps = cfg['layer_norm_eps']

    def encoder(x, prefix, sizes):
        layer_cfg = {**cfg, **sizes}
        for i in range(cfg['num_hidden_layers']):
            x = encoder_layer(w, layer_cfg, f'{prefix}.encoder.layer.{i}', x, additive)
        return x

    # The generator on the masked text, at its sizes.
    g = linear(w, 'electra.generator.embeddings_project', embeddings(w, cfg, family, ids, types))
    g = encoder(g, 'electra.generator', {'hidden_size': cfg['generator_hidden_size'], 'num_attention_heads': cfg['generator_num_attention_heads'], 'intermediate_size': cfg['generator_intermediate_size']})
    h = layer_norm(w, 'electra.generator.generator_predictions.LayerNorm', torch.nn.functional.gelu(linear(w, 'electra.generator.generator_predictions.dense', g)), eps)
    logits = h @ w('electra.embeddings.word_embeddings.weight').T + w('electra.generator.generator_lm_head.bias')
    mlm = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    # Each [MASK] filled with a draw from the generator's softmax (no gradient through the draw).
    with torch.no_grad():
        b, s, v = logits.shape
        u = torch.tensor([uniform01(seed, 1000, step, e) for e in range(b * s * v)], dtype=torch.float32).reshape(b, s, v)
        drawn = (logits + -torch.log(-torch.log(u))).argmax(-1)
        corrupted = torch.where(ids == cfg['mask_token_id'], drawn, ids)
        original = torch.where(labels != -100, labels, ids)
        replaced = (corrupted != original).float()
    # The discriminator on that text.
    x = linear(w, 'electra.embeddings_project', embeddings(w, cfg, family, corrupted, types))
    x = encoder(x, 'electra', {})
    act = ACTIVATIONS[cfg.get('hidden_act', 'gelu')]
    scores = linear(w, 'discriminator_predictions.dense_prediction', act(linear(w, 'discriminator_predictions.dense', x)))[..., 0]
    active = mask == 1
    rtd = torch.nn.functional.binary_cross_entropy_with_logits(scores[active], replaced[active])
    return mlm + 50.0 * rtd


def head_losses(out, batch):
    """The pretraining heads' cross-entropies: masked LM (mean over the predicted tokens), and the pair's label where there is one."""
    loss = 0
    if 'prediction_logits' in out:
        logits = out['prediction_logits']
        loss = loss + torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.tensor(batch['labels']).reshape(-1), ignore_index=-100)
    if 'seq_relationship_logits' in out and 'next_sentence_label' in batch:
        loss = loss + torch.nn.functional.cross_entropy(out['seq_relationship_logits'], torch.tensor(batch['next_sentence_label']))
    return loss


def pretrain(model_dir, data_file, out_file, steps, batch, lr, warmup, weight_decay, clip):
    cfg, w = read_model(model_dir, torch.float32)
    with open(data_file) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for t in w.tensors.values():
        t.requires_grad_(True)
    electra = 'generator_hidden_size' in cfg
    # Which tensors are LayerNorm parameters: those a forward pass reads through a norm.
    if electra:
        electra_pretraining(cfg, w, {key: [rows[0][key]] for key in rows[0]}, 0, 1)
    else:
        forward(cfg, w, {key: [rows[0][key]] for key in rows[0] if key != 'labels' and key != 'next_sentence_label'})
    norms = {name + suffix for name in w.norms for suffix in ('.weight', '.bias')}
    named = list(w.tensors.items())
    groups = [{'params': [t for n, t in named if not (n.endswith('bias') or n in norms)], 'weight_decay': weight_decay},
              {'params': [t for n, t in named if n.endswith('bias') or n in norms], 'weight_decay': 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-6)
    schedule = lambda step: step / max(1, warmup) if step < warmup else max(0.0, (steps - step) / max(1, steps - warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    losses = []
    for step in range(steps):
        chosen = [rows[(step * batch + k) % len(rows)] for k in range(batch)]
        batched = {key: [r[key] for r in chosen] for key in chosen[0]}
        if electra:
            # tcc counts a run's steps from 1, with the run's seed (0 here).
            loss = electra_pretraining(cfg, w, batched, 0, step + 1)
        else:
            loss = head_losses(forward(cfg, w, batched), batched)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([t for _, t in named], clip)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    with open(out_file, 'w') as f:
        json.dump({'losses': losses, 'tensors': {name: t.detach().reshape(-1).tolist() for name, t in named}}, f)


def main():
    args = sys.argv[1:]
    if args and args[0] == '--pretrain':
        model_dir, data_file, out_file, steps, batch, lr, warmup, weight_decay, clip = args[1:]
        pretrain(model_dir, data_file, out_file, int(steps), int(batch), float(lr), int(warmup), float(weight_decay), float(clip))
        return
    for k in range(0, len(args), 3):
        model_dir, inputs_file, out_file = args[k:k + 3]
        with open(inputs_file) as f:
            inputs = json.load(f)
        with torch.no_grad():
            cfg, w = read_model(model_dir)
            out = forward(cfg, w, inputs)
            sentence_embedding(model_dir, out, torch.tensor(inputs['attention_mask'], dtype=torch.float64))
        with open(out_file, 'w') as f:
            json.dump({name: t.tolist() for name, t in out.items()}, f)


if __name__ == '__main__':
    main()
