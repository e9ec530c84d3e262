// RUN: attn-opt %s -attn-openmp-dynamic-schedule | FileCheck %s

// Loops without a schedule become dynamic; a given schedule stays.
// CHECK-LABEL: func.func @loops
// CHECK: omp.wsloop schedule(dynamic)
// CHECK: omp.wsloop schedule(static)
func.func @loops(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        omp.yield
      }
    }
    omp.wsloop schedule(static) {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        omp.yield
      }
    }
    omp.terminator
  }
  return
}
