// The fused CPU path's row kernel (decoding: Sq <= 2 with static head
// dims that are multiples of the vector width) on every normalizer, masks
// with modifiers, f16/bf16, BSHD, kv_len, GQA, empty caches and explicit kv
// splits, checked against the float64 reference. Sq = 3 takes the tile
// kernel on the same compiled function.
// RUN: split-file %s %t
// RUN: attn-run %t/softmax_kvlen.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=300 --shape B=1,Hq=2,Sq=2,Skv=77 --shape B=1,Hq=2,Sq=3,Skv=130 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/streaming_alibi.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=300 --shape B=1,Hq=2,Sq=2,Skv=77 --shape B=1,Hq=2,Sq=3,Skv=130 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/sink_softmax.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=300 --shape B=1,Hq=2,Sq=2,Skv=77 --shape B=1,Hq=2,Sq=3,Skv=130 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/sigmoid.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=300 --shape B=1,Hq=2,Sq=2,Skv=77 --shape B=1,Hq=2,Sq=3,Skv=130 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/softplus.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=300 --shape B=1,Hq=2,Sq=2,Skv=77 --shape B=1,Hq=2,Sq=3,Skv=130 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/relu_seq.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=300 --shape B=1,Hq=2,Sq=2,Skv=77 --shape B=1,Hq=2,Sq=3,Skv=130 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/relu_rowsum.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=300 --shape B=1,Hq=2,Sq=2,Skv=77 --shape B=1,Hq=2,Sq=3,Skv=130 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/f16_bshd.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=300 --shape B=1,Hq=2,Sq=2,Skv=77 --shape B=1,Hq=2,Sq=3,Skv=130 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/bf16.mlir --check --shape B=2,Hq=4,Hkv=2,Sq=1,Skv=300 --shape B=1,Hq=2,Sq=2,Skv=77 --shape B=1,Hq=2,Sq=3,Skv=130 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/splits3.mlir --check --shape B=1,Hq=2,Sq=1,Skv=500 --shape B=1,Hq=1,Sq=2,Skv=5 --shape B=2,Hq=2,Hkv=1,Sq=1,Skv=0 | FileCheck %s --check-prefix=OK3
// RUN: attn-run %t/splits7_sink.mlir --check --shape B=1,Hq=2,Sq=1,Skv=700 --shape B=1,Hq=1,Sq=2,Skv=64 | FileCheck %s --check-prefix=OK2
// RUN: attn-run %t/document.mlir --check --shape B=2,Hq=2,Sq=1,Skv=1 --shape B=2,Hq=2,Sq=2,Skv=2 --num-docs 1 | FileCheck %s --check-prefix=OK2

// OK3-COUNT-3: check=ok
// OK3-NOT: FAIL
// OK2-COUNT-2: check=ok
// OK2-NOT: FAIL

//--- softmax_kvlen.mlir
func.func @softmax_kvlen(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>, %v: tensor<?x?x?x32xf32>, %kl: tensor<?xi32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x32xf32>)
      kv_len(%kl : tensor<?xi32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {mask = #attn.causal} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- streaming_alibi.mlir
func.func @streaming_alibi(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {mask = #attn.and<[#attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 40>]>, #attn.causal]>, score_mods = [#attn.softcap<cap = 20.0>, #attn.alibi]} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- sink_softmax.mlir
func.func @sink_softmax(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %s: tensor<?xf32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      sink(%s : tensor<?xf32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {normalizer = #attn.sink_softmax, mask = #attn.causal} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- sigmoid.mlir
func.func @sigmoid(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {normalizer = #attn.sigmoid, mask = #attn.sliding_window<left = 50>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- softplus.mlir
func.func @softplus(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {normalizer = #attn.softplus, mask = #attn.causal} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- relu_seq.mlir
func.func @relu_seq(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {normalizer = #attn.relu<power = 2, norm = seq_len>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}

//--- relu_rowsum.mlir
func.func @relu_rowsum(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {normalizer = #attn.relu<power = 1, norm = row_sum>} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- f16_bshd.mlir
func.func @f16_bshd(%q: tensor<?x?x?x32xf16>, %k: tensor<?x?x?x32xf16>, %v: tensor<?x?x?x32xf16>, %o: tensor<?x?x?x32xf16>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf16>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf16>, tensor<?x?x?x32xf16>, tensor<?x?x?x32xf16>)
      outs(%o, %l : tensor<?x?x?x32xf16>, tensor<?x?x?xf32>) {mask = #attn.causal, layout = #attn.layout<bshd>} -> tensor<?x?x?x32xf16>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf16>, tensor<?x?x?xf32>
}

//--- bf16.mlir
func.func @bf16(%q: tensor<?x?x?x32xbf16>, %k: tensor<?x?x?x32xbf16>, %v: tensor<?x?x?x32xbf16>, %o: tensor<?x?x?x32xbf16>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xbf16>, tensor<?x?x?x32xbf16>, tensor<?x?x?x32xbf16>)
      outs(%o, %l : tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>) {mask = #attn.prefix_lm<prefix = 20>} -> tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xbf16>, tensor<?x?x?xf32>
}

//--- splits3.mlir
func.func @splits3(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {mask = #attn.causal, config = #attn.config<kv_splits = 3>} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- splits7_sink.mlir
func.func @splits7_sink(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %s: tensor<?xf32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      sink(%s : tensor<?xf32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {normalizer = #attn.sink_softmax, mask = #attn.sliding_window<left = 100>, config = #attn.config<kv_splits = 7, block_kv = 32>} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

//--- document.mlir
func.func @document(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %sq: tensor<?x?xi32>, %skv: tensor<?x?xi32>, %o: tensor<?x?x?x32xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      segments(%sq, %skv : tensor<?x?xi32>, tensor<?x?xi32>)
      outs(%o, %l : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>) {mask = #attn.document} -> tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x32xf32>, tensor<?x?x?xf32>
}

