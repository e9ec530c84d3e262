// The fused path with AVX2-width vectors (8 lanes; the code runs on any
// AVX-512 host too) on a selection of variants.mlir, against the float64
// reference.
// RUN: split-file %S/variants.mlir %t
// RUN: attn-run --vector-width=8 %t/causal.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK3
// RUN: attn-run --vector-width=8 %t/dilated.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/streaming.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/prefix_lm.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/neighborhood_2d.mlir --check --shape B=1,Hq=2,Sq=72,Skv=72 --shape B=2,Hq=1,Sq=50,Skv=50 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/document.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=2,Hq=2,Sq=90,Skv=90 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/mqa_cross.mlir --check --shape B=2,Hq=4,Hkv=1,Sq=13,Skv=70 --shape B=1,Hq=3,Hkv=1,Sq=70,Skv=13 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/d_ne_dv_bshd.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/sigmoid.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/softplus.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/relu.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/sink_softmax.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/alibi_softcap.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/mask_mod_region.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/decode_kv_len.mlir --check --shape B=3,Hq=4,Hkv=2,Sq=1,Skv=77 --shape B=2,Hq=2,Sq=4,Skv=130 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/f16.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --vector-width=8 %t/bf16_lse.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: not attn-run --vector-width=5 %t/causal.mlir 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: attn-run: error: vector-width must be 0 (host), 4 (SSE), 8 (AVX2) or 16 (AVX-512), not 5
