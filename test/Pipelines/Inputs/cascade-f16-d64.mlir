// attn.cascade_ir("f16", 64, 64, causal=True, kv_len=True), verbatim after this line (test_cascade.py checks it).
// A shared-prefix cascade (attn.cascade): the batch's queries stacked
// into one problem over the prefix, each sequence's suffix on its own, the
// two merged by their log-sum-exp.
func.func @cascade(%q: tensor<?x?x?x64xf16>, %kp: tensor<1x?x?x64xf16>, %vp: tensor<1x?x?x64xf16>, %ks: tensor<?x?x?x64xf16>, %vs: tensor<?x?x?x64xf16>, %kv_len: tensor<?xi32>, %o: tensor<?x?x?x64xf16>, %lse: tensor<?x?x?xf32>) -> (tensor<?x?x?x64xf16>, tensor<?x?x?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %b = tensor.dim %q, %c0 : tensor<?x?x?x64xf16>
  %h = tensor.dim %q, %c1 : tensor<?x?x?x64xf16>
  %s = tensor.dim %q, %c2 : tensor<?x?x?x64xf16>
  %n = arith.muli %b, %s : index
  %hkv = tensor.dim %kp, %c1 : tensor<1x?x?x64xf16>
  %group = arith.divui %h, %hkv : index
  %rows = arith.muli %group, %n : index
  %qs0 = tensor.empty(%c1, %hkv, %rows) : tensor<?x?x?x64xf16>
  %qs = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      outs(%qs0 : tensor<?x?x?x64xf16>) {
  ^bb0(%unused: f16):
    %l0 = linalg.index 0 : index
    %l1 = linalg.index 1 : index
    %l2 = linalg.index 2 : index
    %l3 = linalg.index 3 : index
    %g = arith.divui %l2, %n : index
    %r = arith.remui %l2, %n : index
    %i0 = arith.divui %r, %s : index
    %kg = arith.muli %l1, %group : index
    %i1 = arith.addi %kg, %g : index
    %i2 = arith.remui %r, %s : index
    %i3 = arith.addi %l3, %c0 : index
    %x = tensor.extract %q[%i0, %i1, %i2, %i3] : tensor<?x?x?x64xf16>
    linalg.yield %x : f16
  } -> tensor<?x?x?x64xf16>
  %op0 = tensor.empty(%c1, %hkv, %rows) : tensor<?x?x?x64xf16>
  %lp0 = tensor.empty(%c1, %hkv, %rows) : tensor<?x?x?xf32>
  %p:2 = attn.attention ins(%qs, %kp, %vp : tensor<?x?x?x64xf16>, tensor<1x?x?x64xf16>, tensor<1x?x?x64xf16>)
      outs(%op0, %lp0 : tensor<?x?x?x64xf16>, tensor<?x?x?xf32>)
      {mask = #attn.full, normalizer = #attn.softmax}
      -> tensor<?x?x?x64xf16>, tensor<?x?x?xf32>
  %opt0 = tensor.empty(%b, %h, %s) : tensor<?x?x?x64xf16>
  %opt = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      outs(%opt0 : tensor<?x?x?x64xf16>) {
  ^bb0(%unused: f16):
    %l0 = linalg.index 0 : index
    %l1 = linalg.index 1 : index
    %l2 = linalg.index 2 : index
    %hg = arith.remui %l1, %group : index
    %row0 = arith.muli %hg, %n : index
    %bs = arith.muli %l0, %s : index
    %row1 = arith.addi %row0, %bs : index
    %i0 = arith.addi %c0, %c0 : index
    %i1 = arith.divui %l1, %group : index
    %i2 = arith.addi %row1, %l2 : index
    %l3 = linalg.index 3 : index
    %i3 = arith.addi %l3, %c0 : index
    %x = tensor.extract %p#0[%i0, %i1, %i2, %i3] : tensor<?x?x?x64xf16>
    linalg.yield %x : f16
  } -> tensor<?x?x?x64xf16>
  %lpt0 = tensor.empty(%b, %h, %s) : tensor<?x?x?xf32>
  %lpt = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]}
      outs(%lpt0 : tensor<?x?x?xf32>) {
  ^bb0(%unused: f32):
    %l0 = linalg.index 0 : index
    %l1 = linalg.index 1 : index
    %l2 = linalg.index 2 : index
    %hg = arith.remui %l1, %group : index
    %row0 = arith.muli %hg, %n : index
    %bs = arith.muli %l0, %s : index
    %row1 = arith.addi %row0, %bs : index
    %i0 = arith.addi %c0, %c0 : index
    %i1 = arith.divui %l1, %group : index
    %i2 = arith.addi %row1, %l2 : index
    %x = tensor.extract %p#1[%i0, %i1, %i2] : tensor<?x?x?xf32>
    linalg.yield %x : f32
  } -> tensor<?x?x?xf32>
  %os0 = tensor.empty(%b, %h, %s) : tensor<?x?x?x64xf16>
  %ls0 = tensor.empty(%b, %h, %s) : tensor<?x?x?xf32>
  %x:2 = attn.attention ins(%q, %ks, %vs : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>)
      kv_len(%kv_len : tensor<?xi32>)
      outs(%os0, %ls0 : tensor<?x?x?x64xf16>, tensor<?x?x?xf32>)
      {mask = #attn.causal, normalizer = #attn.softmax}
      -> tensor<?x?x?x64xf16>, tensor<?x?x?xf32>
  %r:2 = attn.merge ins(%opt, %x#0 : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>)
      lse(%lpt, %x#1 : tensor<?x?x?xf32>, tensor<?x?x?xf32>)
      outs(%o, %lse : tensor<?x?x?x64xf16>, tensor<?x?x?xf32>)
      -> tensor<?x?x?x64xf16>, tensor<?x?x?xf32>
  return %r#0, %r#1 : tensor<?x?x?x64xf16>, tensor<?x?x?xf32>
}

