"""attention-gym's mask and score functions through attn.flex.

Each function below is written as attention-gym writes it for PyTorch's
FlexAttention; only the import changes (attn.flex instead of
torch.nn.attention.flex_attention) and, where the gym calls torch.abs or
torch.tanh on a traced value, the builtin abs / the tensor method (the
torch spellings trace the same way when torch is installed). Each result
is checked against attn's float64 reference and, where attn has the mask
built in, against the builtin.

    PYTHONPATH=build/python python examples/python/flex_gym.py
"""

import numpy as np

import attn
from attn.flex import and_masks, create_block_mask, flex_attention, or_masks

B, H, S, D = 1, 4, 256, 64
rng = np.random.default_rng(0)
q, k, v = (rng.standard_normal((B, H, S, D)).astype(np.float32)
           for _ in range(3))


def causal_mask(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx


def generate_sliding_window(window_size):
    def sliding_window(b, h, q_idx, kv_idx):
        return q_idx - kv_idx <= window_size
    return and_masks(sliding_window, causal_mask)


def generate_prefix_lm_mask(prefix_length):
    def prefix_mask(b, h, q_idx, kv_idx):
        return kv_idx < prefix_length
    return or_masks(prefix_mask, causal_mask)


def generate_doc_mask_mod(mask_mod, document_id):
    # The gym builds document_id and offsets with torch; numpy here.
    counts = np.bincount(document_id)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])

    def doc_mask_mod(b, h, q_idx, kv_idx):
        same_doc = document_id[q_idx] == document_id[kv_idx]
        q_logical = q_idx - offsets[document_id[q_idx]]
        kv_logical = kv_idx - offsets[document_id[kv_idx]]
        inner_mask = mask_mod(b, h, q_logical, kv_logical)
        return same_doc & inner_mask
    return doc_mask_mod


def generate_natten(W, H, K_W, K_H):
    # A W x W canvas in the gym (H == W); tokens row-major.
    def get_x_y(idx):
        return idx // W, idx % W

    def natten_mask_mod(b, h, q_idx, kv_idx):
        q_x, q_y = get_x_y(q_idx)
        kv_x, kv_y = get_x_y(kv_idx)
        # The kernel centre is clamped half a kernel from the canvas edge.
        kernel_x = q_x.clamp(K_W // 2, (W - 1) - K_W // 2)
        kernel_y = q_y.clamp(K_H // 2, (H - 1) - K_H // 2)
        hori_mask = (kernel_x - kv_x).abs() <= K_W // 2
        vert_mask = (kernel_y - kv_y).abs() <= K_H // 2
        return hori_mask & vert_mask
    return natten_mask_mod


def generate_dilated_sliding_window(window_size, dilation):
    def dilated_sliding_window(b, h, q_idx, kv_idx):
        diff = abs(q_idx - kv_idx)  # torch.abs in the gym
        in_window = diff <= window_size
        is_dilated = (diff % dilation) == 0
        return in_window & is_dilated
    return dilated_sliding_window


def generate_alibi_bias(num_heads):
    alibi_bias = np.array([2.0 ** (-8.0 * (h + 1) / num_heads)
                           for h in range(num_heads)], np.float32)

    def alibi_mod(score, b, h, q_idx, kv_idx):
        bias = alibi_bias[h] * (kv_idx - q_idx)
        return score + bias
    return alibi_mod


def generate_tanh_softcap(soft_cap):
    def tanh_softcap(score, b, h, q_idx, kv_idx):
        return soft_cap * (score / soft_cap).tanh()  # torch.tanh in the gym
    return tanh_softcap


document_id = np.repeat(np.arange(5), [90, 40, 1, 75, 50])
CASES = [
    # (name, mask_mod, score_mod, the builtin spec, or None)
    ("causal", causal_mask, None, attn.Spec(attn.causal())),
    ("sliding window 64", generate_sliding_window(64), None,
     attn.Spec(attn.sliding_window(64, 0) & attn.causal())),
    ("prefix LM 50", generate_prefix_lm_mask(50), None,
     attn.Spec(attn.prefix_lm(50))),
    ("document causal", generate_doc_mask_mod(causal_mask, document_id),
     None, None),
    ("natten 16 x 16, kernel 5 x 7", generate_natten(16, 16, 5, 7), None,
     attn.Spec(attn.natten(16, 16, (5, 7)))),
    ("dilated sliding window", generate_dilated_sliding_window(40, 3), None,
     attn.Spec(attn.dilated_sliding_window(40, 3))),
    ("causal + ALiBi", causal_mask, generate_alibi_bias(H),
     attn.Spec(attn.causal(), score_mod=attn.alibi())),
    ("causal + tanh soft-cap 20", causal_mask, generate_tanh_softcap(20.0),
     attn.Spec(attn.causal(), score_mod=attn.softcap(20.0))),
]

for name, mask_mod, score_mod, builtin in CASES:
    block_mask = create_block_mask(mask_mod, None, None, S, S, BLOCK_SIZE=64)
    out = flex_attention(q, k, v, score_mod=score_mod, block_mask=block_mask)
    spec = attn.Spec(attn.mask_mod(mask_mod),
                     score_mod=attn.score_mod(score_mod) if score_mod else None)
    ref = attn.reference.attention(spec, q, k, v)
    err = float(np.abs(out - ref).max())
    assert err < 1e-4, f"{name}: error {err} against the float64 reference"
    line = f"{name:32s} max error {err:.1e}, {block_mask.sparsity():4.1f}% " \
           f"of blocks skipped"
    if builtin is not None:
        same = float(np.abs(out - attn.compile(builtin, head_dim=D)(q, k, v))
                     .max())
        assert same < 1e-4, f"{name}: differs from the builtin by {same}"
        line += f"; builtin differs by {same:.1e}"
    print(line)
print(f"flex_gym: {len(CASES)} attention-gym ports match the float64 "
      f"reference (tolerance 1e-04) OK")
