// #attn.a_shape, one leaf, against attn-run's float64 reference: long
// enough rows that kv tiles are empty (between the sinks and the window),
// full and partial; Sq = 2 takes the decoding (row) kernel, whose row
// intervals are exact for this leaf.
// RUN: attn-run %s --check --shape B=1,Hq=2,Sq=300,Skv=300 --shape B=2,Hq=2,Hkv=1,Sq=129,Skv=400 --shape B=1,Hq=2,Sq=2,Skv=333 | FileCheck %s

// CHECK-COUNT-3: check=ok
// CHECK-NOT: FAIL
func.func @a_shape(%q: tensor<?x?x?x32xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x32xf32>, %o: tensor<?x?x?x32xf32>) -> (tensor<?x?x?x32xf32>) {
  %r = attn.attention ins(%q, %k, %v : tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>, tensor<?x?x?x32xf32>)
      outs(%o : tensor<?x?x?x32xf32>) {mask = #attn.a_shape<sinks = 20, window = 70>} -> tensor<?x?x?x32xf32>
  return %r : tensor<?x?x?x32xf32>
}
