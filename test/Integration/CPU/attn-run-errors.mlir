// attn-run on bad input: every case exits with status 1 and one clear
// message, never a crash. Sizes and .npy files that disagree with each
// other or with the IR are reported with where each value came from.
// RUN: rm -rf %t && mkdir -p %t
// RUN: attn-run %attn_src_root/examples/lse.mlir --shape B=1,Hq=2,Sq=5,Skv=5 --output-dir %t

// RUN: not attn-run %t/does-not-exist.mlir 2>&1 | FileCheck %s --check-prefix=NOFILE
// NOFILE: attn-run: error: cannot open '{{.*}}does-not-exist.mlir'

// RUN: echo 'func.func @f(' > %t/broken.mlir
// RUN: not attn-run %t/broken.mlir 2>&1 | FileCheck %s --check-prefix=PARSE
// PARSE: broken.mlir:{{[0-9]+}}:{{[0-9]+}}: error:

// RUN: not attn-run %s --func=nope 2>&1 | FileCheck %s --check-prefix=FUNC
// FUNC: attn-run: error: no function @nope with an attn op

// RUN: not attn-run %s --func=extra_argument 2>&1 | FileCheck %s --check-prefix=EXTRA
// EXTRA: attn-run: error: argument #4 of @extra_argument does not feed the attn op directly

// RUN: not attn-run %s --func=dynamic_capture 2>&1 | FileCheck %s --check-prefix=DYNCAP
// DYNCAP: attn-run: error: 'capture0' has a dynamic dim 0; give it a static size or pass it with --input

// --shape syntax and names.
// RUN: not attn-run %s --shape B2 2>&1 | FileCheck %s --check-prefix=SYNTAX
// SYNTAX: attn-run: error: bad --shape entry 'B2': expected NAME=NON_NEGATIVE_INT
// RUN: not attn-run %s --shape B=-1 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// NEGATIVE: attn-run: error: bad --shape entry 'B=-1': expected NAME=NON_NEGATIVE_INT
// RUN: not attn-run %s --shape B=2,Sq=x 2>&1 | FileCheck %s --check-prefix=NOTINT
// NOTINT: attn-run: error: bad --shape entry 'Sq=x': expected NAME=NON_NEGATIVE_INT
// RUN: not attn-run %s --shape Foo=3 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// UNKNOWN: attn-run: error: unknown size 'Foo' in --shape (known for attn.attention: B, Hq, Hkv, Sq, Skv, D, Dv)
// RUN: not attn-run %attn_src_root/examples/merge.mlir --shape Hq=3 2>&1 | FileCheck %s --check-prefix=MERGENAME
// MERGENAME: attn-run: error: unknown size 'Hq' in --shape (known for attn.merge: B, H, S, Dv)
// RUN: not attn-run %s --shape B=1,B=2 2>&1 | FileCheck %s --check-prefix=TWICE
// TWICE: attn-run: error: --shape gives B twice, as 1 and 2
// RUN: not attn-run %s --shape D=16 2>&1 | FileCheck %s --check-prefix=STATIC
// STATIC: attn-run: error: --shape gives D=16 but the IR fixes it to 32
// RUN: not attn-run %s --shape Hq=3,Hkv=2 2>&1 | FileCheck %s --check-prefix=GQA
// GQA: attn-run: error: Hq=3 must be a multiple of Hkv=2
// RUN: not attn-run %s --shape Hq=4,Hkv=0 2>&1 | FileCheck %s --check-prefix=NOKV
// NOKV: attn-run: error: Hq=4 must be a multiple of Hkv=0
// RUN: not attn-run %s --shape B=1,Sq=5,Skv=2000000000000 2>&1 | FileCheck %s --check-prefix=HUGE
// HUGE: attn-run: error: these sizes need {{.*}} GiB for the arguments and their reference copies, more than the {{.*}} of memory

// Other options.
// RUN: not attn-run %s --repeat 0 2>&1 | FileCheck %s --check-prefix=REPEAT
// REPEAT: attn-run: error: --repeat must be at least 1
// RUN: not attn-run %s --check --tol -1 2>&1 | FileCheck %s --check-prefix=TOL
// TOL: attn-run: error: --tol must be a non-negative number
// A tolerance of 0 cannot be met by f32 arithmetic: --check fails with status 1.
// RUN: not attn-run %s --check --tol 0 --shape B=1,Hq=2,Sq=67 | FileCheck %s --check-prefix=FAIL
// FAIL: shape=B=1,D=32,Dv=32,Hkv=2,Hq=2,Skv=67,Sq=67 {{.*}} check=FAIL tol=0.0e+00

// --input files.
// RUN: not attn-run %s --input q 2>&1 | FileCheck %s --check-prefix=INSYNTAX
// INSYNTAX: attn-run: error: bad --input 'q': expected ROLE=FILE.npy
// RUN: not attn-run %s --input zz=%t/o.npy 2>&1 | FileCheck %s --check-prefix=ROLE
// ROLE: attn-run: error: --input names role 'zz', which @causal does not have
// RUN: not attn-run %s --input q=%t/missing.npy 2>&1 | FileCheck %s --check-prefix=NONPY
// NONPY: attn-run: error: {{.*}}missing.npy: cannot open: No such file or directory
// RUN: printf 'garbage' > %t/garbage.npy
// RUN: not attn-run %s --input q=%t/garbage.npy 2>&1 | FileCheck %s --check-prefix=GARBAGE
// GARBAGE: attn-run: error: {{.*}}garbage.npy: not an .npy file (missing the \x93NUMPY magic string)
// RUN: head -c 200 %t/o.npy > %t/truncated.npy
// RUN: not attn-run %s --input q=%t/truncated.npy 2>&1 | FileCheck %s --check-prefix=TRUNC
// TRUNC: attn-run: error: {{.*}}truncated.npy: truncated data: expected 1280 bytes, found 72
// RUN: not attn-run %attn_src_root/examples/f16.mlir --input q=%t/o.npy 2>&1 | FileCheck %s --check-prefix=DTYPE
// DTYPE: attn-run: error: '{{.*}}o.npy' holds float32 but 'q' needs float16
// RUN: not attn-run %attn_src_root/examples/decode.mlir --input kv_len=%t/lse.npy 2>&1 | FileCheck %s --check-prefix=INTDTYPE
// INTDTYPE: attn-run: error: '{{.*}}lse.npy' holds float32 but 'kv_len' needs int32
// RUN: not attn-run %s --input q=%t/lse.npy 2>&1 | FileCheck %s --check-prefix=RANK
// RANK: attn-run: error: '{{.*}}lse.npy' has rank 3 but 'q' needs rank 4
// RUN: not attn-run %attn_src_root/examples/temperature.mlir --input temperature=%t/lse.npy \
// RUN:   --shape B=1,Hq=2,Sq=6 2>&1 | FileCheck %s --check-prefix=SHAPE
// SHAPE: attn-run: error: --input 'temperature' has shape [1, 2, 5] but the problem needs [1, 2, 6]
// RUN: not attn-run %s --input q=%t/o.npy --shape Sq=7 2>&1 | FileCheck %s --check-prefix=CONFLICT
// CONFLICT: attn-run: error: --input q={{.*}}o.npy has Sq=5 but --shape gives Sq=7
// RUN: not attn-run %attn_src_root/examples/causal.mlir --input q=%t/o.npy 2>&1 | FileCheck %s --check-prefix=IRDIM
// IRDIM: attn-run: error: --input q={{.*}}o.npy gives D=32 but the IR fixes it to 64
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }" > %t/limit4.npy
// RUN: printf '\x05\x00\x00\x00\x14\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00' >> %t/limit4.npy
// RUN: not attn-run %S/regions-control-flow.mlir --input capture0=%t/limit4.npy 2>&1 \
// RUN: | FileCheck %s --check-prefix=CAPSHAPE
// CAPSHAPE: attn-run: error: --input 'capture0' has shape [4] but the problem needs [3]

// Invalid data is reported before the kernel runs (a tree parent out of
// range would make it read out of bounds).
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }" > %t/tree.npy
// RUN: printf '\xff\xff\xff\xff\xff\xff\xff\x7f\x01\x00\x00\x00' >> %t/tree.npy
// RUN: not attn-run %attn_src_root/examples/tree.mlir --tree-size 3 --input tree=%t/tree.npy \
// RUN:   --shape B=1,Hq=2,Sq=8,Skv=40 2>&1 | FileCheck %s --check-prefix=TREE
// TREE: attn-run: error: the reference rejects this problem: mask: treeParent[1] = 2147483647 must be -1 or an index in [0, 3)
// RUN: printf '\x93NUMPY\x01\x00\x76\x00%%-117s\n' \
// RUN:   "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }" > %t/kv_len.npy
// RUN: printf '\x50\x00\x00\x00\x03\x00\x00\x00' >> %t/kv_len.npy
// RUN: not attn-run %attn_src_root/examples/decode.mlir --input kv_len=%t/kv_len.npy \
// RUN:   --shape B=2,Hq=2,Sq=2,Skv=40 2>&1 | FileCheck %s --check-prefix=KVLEN
// KVLEN: attn-run: error: the reference rejects this problem: kvLen[0] = 80 is outside [0, Skv = 40]

!t = tensor<?x?x?x32xf32>
func.func @causal(%q: !t, %k: !t, %v: !t, %o: !t) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t)
      {mask = #attn.causal} -> !t
  return %r : !t
}

func.func @extra_argument(%q: !t, %k: !t, %v: !t, %o: !t, %x: f32) -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t) outs(%o : !t) -> !t
  return %r : !t
}

func.func @dynamic_capture(%q: !t, %k: !t, %v: !t, %c: tensor<?xf32>, %o: !t)
    -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      captures(%c : tensor<?xf32>)
      outs(%o : !t)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index,
           %x: tensor<?xf32>):
        %w = tensor.extract %x[%h] : tensor<?xf32>
        %y = arith.mulf %s, %w : f32
        attn.yield %y : f32
      } {score_mods = [#attn.score_mod]} -> !t
  return %r : !t
}

// A captured array read out of range: the kernel reads nothing there and
// attn-run reports the array, on both lowerings (it used to read past the
// end, or crash). Skv = 4 stays in range.
// RUN: attn-run %s --func=short_capture --shape B=1,Hq=1,Sq=4,Skv=4 --check | FileCheck %s --check-prefix=CAPOK
// CAPOK: check=ok
// RUN: not attn-run %s --func=short_capture --shape B=1,Hq=1,Sq=4,Skv=5 2>&1 | FileCheck %s --check-prefix=CAPOOB
// RUN: not attn-run %s --func=short_capture --lowering=reference --shape B=1,Hq=1,Sq=4,Skv=5 2>&1 | FileCheck %s --check-prefix=CAPOOB
// CAPOOB: attn-run: error: captured array 0 (0-based, in the order of captures(...)) was indexed out of range by a score_mod/mask_mod region
func.func @short_capture(%q: !t, %k: !t, %v: !t, %c: tensor<4xf32>, %o: !t)
    -> !t {
  %r = attn.attention ins(%q, %k, %v : !t, !t, !t)
      captures(%c : tensor<4xf32>)
      outs(%o : !t)
      score_mod {
      ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index,
           %x: tensor<4xf32>):
        %w = tensor.extract %x[%j] : tensor<4xf32>
        %y = arith.addf %s, %w : f32
        attn.yield %y : f32
      } {score_mods = [#attn.score_mod]} -> !t
  return %r : !t
}
