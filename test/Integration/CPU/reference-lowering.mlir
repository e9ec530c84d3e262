// The reference lowering (--lowering=reference), kept for differential
// testing of the fused path, on every section of variants.mlir: both paths
// are checked against the same float64 reference.
// RUN: split-file %S/variants.mlir %t
// RUN: attn-run --lowering=reference %t/causal.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK3
// RUN: attn-run --lowering=reference %t/sliding_window.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/chunked.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/halo.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/dilated.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/global.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/streaming.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/prefix_lm.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/neighborhood_2d.mlir --check --shape B=1,Hq=2,Sq=72,Skv=72 --shape B=2,Hq=1,Sq=50,Skv=50 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/window_2d.mlir --check --shape B=1,Hq=2,Sq=64,Skv=64 | FileCheck %S/variants.mlir --check-prefix=OK1
// RUN: attn-run --lowering=reference %t/directional_2d.mlir --check --shape B=1,Hq=3,Sq=36,Skv=36 | FileCheck %S/variants.mlir --check-prefix=OK1
// RUN: attn-run --lowering=reference %t/directional_2d_half.mlir --check --shape B=1,Hq=4,Sq=36,Skv=36 | FileCheck %S/variants.mlir --check-prefix=OK1
// RUN: attn-run --lowering=reference %t/not_or.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/document.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=2,Hq=2,Sq=90,Skv=90 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/tree.mlir --check --shape B=2,Hq=2,Sq=8,Skv=40 --shape B=1,Hq=2,Sq=6,Skv=6 --tree-size 6 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/dense.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/mqa_cross.mlir --check --shape B=2,Hq=4,Hkv=1,Sq=13,Skv=70 --shape B=1,Hq=3,Hkv=1,Sq=70,Skv=13 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/d_ne_dv_bshd.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/sigmoid.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/sigmoid_beta.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/softplus.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/relu.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/relu_seq.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/sink_softmax.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/alibi_softcap.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/alibi_slopes.mlir --check --shape B=2,Hq=2,Hkv=2,Sq=30,Skv=41 | FileCheck %S/variants.mlir --check-prefix=OK1
// RUN: attn-run --lowering=reference %t/rel_bias.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/bias_temp.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/gaussian.mlir --check --shape B=2,Hq=2,Hkv=2,Sq=30,Skv=41 | FileCheck %S/variants.mlir --check-prefix=OK1
// RUN: attn-run --lowering=reference %t/score_mod_region.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=4,Hkv=4,Sq=9,Skv=50 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/mask_mod_region.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Hkv=1,Sq=7,Skv=129 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/decode_kv_len.mlir --check --shape B=3,Hq=4,Hkv=2,Sq=1,Skv=77 --shape B=2,Hq=2,Sq=4,Skv=130 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/f16.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/bf16_lse.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=100,Skv=31 | FileCheck %S/variants.mlir --check-prefix=OK2
// RUN: attn-run --lowering=reference %t/merge.mlir --check --shape B=2,H=3,S=21 | FileCheck %S/variants.mlir --check-prefix=OK1
// RUN: not attn-run --lowering=bogus %t/causal.mlir 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: attn-run: error: lowering must be 'fused' or 'reference', not 'bogus'
