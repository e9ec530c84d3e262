// RUN: attn-run %s --check --shape B=1,Hq=4,Sq=67 | FileCheck %s
// CHECK: attn-run: {{.*}} check=ok
func.func @main(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>, %v: tensor<?x?x?x64xf32>, %o: tensor<?x?x?x64xf32>, %l: tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf32>, tensor<?x?x?xf32>) {
  %r:2 = attn.attention ins(%q, %k, %v : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32>)
     outs(%o, %l : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>)
     {mask = #attn.and<[#attn.causal, #attn.or<[#attn.sinks<count = 4>, #attn.sliding_window<left = 16>]>]>,
      score_mods = [#attn.softcap<cap = 30.0>, #attn.alibi]} -> tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x64xf32>, tensor<?x?x?xf32>
}
