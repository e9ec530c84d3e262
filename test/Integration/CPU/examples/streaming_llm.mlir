// StreamingLLM: (sinks | window) & causal, including one-token decoding.
// Runs examples/streaming_llm.mlir: each RUN line compiles the kernel once and runs it
// on every shape, checking it against the float64 reference.
// RUN: attn-run %attn_src_root/examples/streaming_llm.mlir --check \
// RUN:   --shape B=2,Hq=4,Sq=67,Skv=67 --shape B=1,Hq=2,Sq=1,Skv=190 --shape B=1,Hq=2,Sq=129,Skv=129 --shape B=1,Hq=2,Sq=50,Skv=3 \
// RUN: | FileCheck %s
// RUN: attn-run %attn_src_root/examples/streaming_llm.mlir --check --seed 7 \
// RUN:   --shape B=2,Hq=4,Hkv=2,Sq=77,Skv=77 \
// RUN: | FileCheck %s --check-prefix=CHECK2

// CHECK: shape=B=2,D=64,Dv=64,Hkv=4,Hq=4,Skv=67,Sq=67 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=190,Sq=1 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=129,Sq=129 {{.*}} check=ok
// CHECK-NEXT: shape=B=1,D=64,Dv=64,Hkv=2,Hq=2,Skv=3,Sq=50 {{.*}} check=ok
// CHECK2: shape=B=2,D=64,Dv=64,Hkv=2,Hq=4,Skv=77,Sq=77 {{.*}} check=ok
