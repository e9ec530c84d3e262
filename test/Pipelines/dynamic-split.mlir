// RUN: attn-opt %s --attn-cpu-pipeline -split-input-file -verify-diagnostics
// RUN: attn-opt %s --attn-cuda-pipeline -split-input-file -verify-diagnostics

// An expand_shape splitting one dimension into two dynamic sizes: LLVM 22's
// expand-strided-metadata crashes on it, so the pipelines reject it with a
// message instead of a segfault.
func.func @split(%q: tensor<?x64xf32>, %n: index, %m: index) -> tensor<?x?x64xf32> {
  // expected-error @+1 {{splits a dimension into several dynamic sizes}}
  %e = tensor.expand_shape %q [[0, 1], [2]] output_shape [%n, %m, 64] : tensor<?x64xf32> into tensor<?x?x64xf32>
  return %e : tensor<?x?x64xf32>
}
