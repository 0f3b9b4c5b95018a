"""A small decoder-only Transformer (GPT-2 layout) with a preallocated KV cache and greedy decoding.

Random weights are enough to measure energy: the arithmetic and memory traffic per token do not depend on what
the weights are. Presets go from GPT-2 small's shape (12 layers, width 768, 12 heads, vocabulary 50257) down to
a toy that runs in milliseconds on a CPU.

Example:
    >>> model = TinyGpt(PRESETS["tiny"]).eval()
    >>> prompts = make_prompts(batch_size=2, prompt_len=5, vocab_size=model.config.vocab_size)
    >>> generate_greedy(model, prompts, new_tokens=3).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from typing_extensions import override


@dataclass(frozen=True)
class GptConfig:
    """Shape of the model: ``n_layer`` blocks of width ``d_model`` with ``n_head`` heads; ``max_len`` tokens."""

    n_layer: int
    d_model: int
    n_head: int
    vocab_size: int = 50257
    max_len: int = 1024

    def __post_init__(self) -> None:
        if min(self.n_layer, self.d_model, self.n_head, self.vocab_size, self.max_len) < 1:
            raise ValueError(f"{self} is not allowed: every size must be an integer >= 1")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not allowed: it must be a multiple of n_head={self.n_head}")


#: Named shapes: ``gpt2`` is GPT-2 small (about 124 M parameters with tied embeddings).
PRESETS: dict[str, GptConfig] = {
    "gpt2": GptConfig(n_layer=12, d_model=768, n_head=12),
    "gpt2-6l": GptConfig(n_layer=6, d_model=512, n_head=8),
    "mini": GptConfig(n_layer=4, d_model=256, n_head=4, vocab_size=8192, max_len=512),
    "tiny": GptConfig(n_layer=2, d_model=64, n_head=2, vocab_size=256, max_len=128),
}


class KvCache:
    """Keys and values of every layer, preallocated for ``batch_size`` x ``max_len`` positions.

    Preallocating avoids one allocation and copy of the whole cache per generated token (``torch.cat``), which
    would add memory traffic that a serving engine does not have.
    """

    def __init__(self, config: GptConfig, batch_size: int, device: torch.device, dtype: torch.dtype) -> None:
        head_dim = config.d_model // config.n_head
        shape = (config.n_layer, batch_size, config.n_head, config.max_len, head_dim)
        self.k = torch.empty(shape, device=device, dtype=dtype)
        self.v = torch.empty(shape, device=device, dtype=dtype)
        self.length = 0  # positions filled so far


class Block(nn.Module):
    """Pre-norm Transformer block: causal self-attention then a 4x MLP, each with a residual."""

    def __init__(self, config: GptConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.ln1 = nn.LayerNorm(config.d_model)
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, 4 * config.d_model),
            nn.GELU(approximate="tanh"),
            nn.Linear(4 * config.d_model, config.d_model),
        )

    @override
    def forward(self, x: torch.Tensor, cache: KvCache, layer: int) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_head, d // self.n_head).permute(2, 0, 3, 1, 4)
        start, end = cache.length, cache.length + t
        cache.k[layer, :, :, start:end] = k
        cache.v[layer, :, :, start:end] = v
        keys, values = cache.k[layer, :, :, :end], cache.v[layer, :, :, :end]
        # one new token attends to everything cached; several need a causal mask offset by what is cached
        mask = None if t == 1 else torch.ones(t, end, dtype=torch.bool, device=x.device).tril(diagonal=start)
        attn = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class TinyGpt(nn.Module):
    """Token and position embeddings, ``n_layer`` blocks, a final norm and a head tied to the embedding.

    Example:
        >>> model = TinyGpt(PRESETS["tiny"])
        >>> cache = KvCache(model.config, 1, torch.device("cpu"), torch.float32)
        >>> model(torch.zeros(1, 4, dtype=torch.long), cache).shape
        torch.Size([1, 4, 256])
    """

    def __init__(self, config: GptConfig, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        torch.manual_seed(seed)
        self.tok = nn.Embedding(config.vocab_size, config.d_model)
        self.pos = nn.Embedding(config.max_len, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.tok.weight
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)

    @override
    def forward(self, tokens: torch.Tensor, cache: KvCache) -> torch.Tensor:
        """Logits for ``tokens`` (batch x new positions) appended after what ``cache`` holds; advances it."""
        t = tokens.shape[1]
        if cache.length + t > self.config.max_len:
            raise ValueError(f"{cache.length + t} positions do not fit max_len={self.config.max_len}")
        positions = torch.arange(cache.length, cache.length + t, device=tokens.device)
        x = self.tok(tokens) + self.pos(positions)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        cache.length += t
        return self.head(self.ln_f(x))

    def n_params(self) -> int:
        """Number of parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())


def make_prompts(batch_size: int, prompt_len: int, vocab_size: int, seed: int = 0) -> torch.Tensor:
    """Random token ids (batch_size x prompt_len), the same for a given seed: prompts made on this machine.

    Example:
        >>> make_prompts(2, 4, 100).shape
        torch.Size([2, 4])
    """
    if batch_size < 1 or prompt_len < 1:
        raise ValueError(f"batch_size={batch_size}, prompt_len={prompt_len}: both must be integers >= 1")
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab_size, (batch_size, prompt_len), generator=generator)


@torch.inference_mode()
def generate_greedy(model: TinyGpt, prompts: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Greedy decoding with a KV cache: the prompt in one pass, then one token per step.

    Returns the ``new_tokens`` generated ids (batch x new_tokens) on the model's device. Always generates
    exactly ``new_tokens`` per sequence (no end-of-text token), so energy per token is well defined.
    """
    if new_tokens < 1:
        raise ValueError(f"new_tokens={new_tokens!r} is not allowed: give an integer >= 1")
    # the last generated token is never fed back, so prompt_len + new_tokens - 1 positions are cached
    positions, max_len = prompts.shape[1] + new_tokens - 1, model.config.max_len
    if positions > max_len:
        raise ValueError(
            f"prompt_len={prompts.shape[1]} with new_tokens={new_tokens} is not allowed: the model holds "
            f"max_len={max_len} positions; give prompt_len + new_tokens <= {max_len + 1}"
        )
    param = next(model.parameters())
    tokens = prompts.to(param.device)
    cache = KvCache(model.config, tokens.shape[0], param.device, param.dtype)
    out = torch.empty(tokens.shape[0], new_tokens, dtype=torch.long, device=param.device)
    logits = model(tokens, cache)
    for i in range(new_tokens):
        nxt = logits[:, -1].argmax(dim=-1)
        out[:, i] = nxt
        if i + 1 < new_tokens:
            logits = model(nxt[:, None], cache)
    return out


def build_model(preset: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> TinyGpt:
    """A :class:`TinyGpt` of a preset on ``device`` in eval mode; ``dtype`` defaults to bf16 on CUDA, else fp32.

    Example:
        >>> build_model("tiny").config.n_layer
        2
    """
    if preset not in PRESETS:
        raise ValueError(f"model.preset={preset!r} is not allowed: one of {', '.join(PRESETS)}")
    device = torch.device(device)
    if dtype is None:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    return TinyGpt(PRESETS[preset]).to(device=device, dtype=dtype).eval()
