// attn-run does not run quantized caches yet (Python's attn.quantize_kv and
// attn.compile do, test/python/test_quant_kv.py): it says so instead of
// filling i8 codes with random floats.
// RUN: not attn-run %s --check 2>&1 | FileCheck %s

// CHECK: attn-run: error: @quant_int4: attn-run does not run quantized caches (#attn.quant) yet; use attn.quantize_kv and attn.compile from Python
func.func @quant_int4(%q: tensor<?x?x1x64xf32>, %k: tensor<?x?x?x32xi8>,
                      %ks: tensor<?x?x?x64xf16>, %vs: tensor<?x?x?x2xf16>,
                      %n: tensor<?xi32>, %o: tensor<?x?x1x64xf32>) -> tensor<?x?x1x64xf32> {
  %r = attn.attention ins(%q, %k, %k : tensor<?x?x1x64xf32>, tensor<?x?x?x32xi8>, tensor<?x?x?x32xi8>)
         kv_quant(%ks, %ks, %vs, %vs : tensor<?x?x?x64xf16>, tensor<?x?x?x64xf16>, tensor<?x?x?x2xf16>, tensor<?x?x?x2xf16>)
         kv_len(%n : tensor<?xi32>) outs(%o : tensor<?x?x1x64xf32>)
         {quant = #attn.quant<bits = 4, group = 32, scale = f16>} -> tensor<?x?x1x64xf32>
  return %r : tensor<?x?x1x64xf32>
}
