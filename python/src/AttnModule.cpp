//===- AttnModule.cpp - The attn._attn Python extension -------------------===//
//
// The one native module of the Python package: parsing and lowering IR text,
// JIT compilation, loading cached object code and calling kernels on raw
// buffers. Everything user-facing (specs, tracing, array checks, caching)
// is Python in the `attn` package on top of it.
//
//===----------------------------------------------------------------------===//

#include "Api.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace nb = nanobind;
using attn::python::Buffer;
using attn::python::Kernel;

namespace {

/// Raised for invalid IR, failed pipelines and failed compilations; the
/// Python package re-exports it as attn.CompileError.
struct CompileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

nb::bytes objectCode(Kernel &kernel) {
  std::string code, error;
  if (!kernel.objectCode(code, error))
    throw CompileError(error);
  return nb::bytes(code.data(), code.size());
}

/// Calls the bound function on (address, shape) pairs. The Python caller
/// has checked the arguments against the kernel's signature and keeps the
/// arrays alive; the GIL is released while the kernel runs. Returns 0, or
/// the 1-based number of a captured array indexed out of range.
int call(
    const Kernel &kernel,
    const std::vector<std::tuple<uintptr_t, std::vector<int64_t>>> &args) {
  std::vector<Buffer> buffers;
  buffers.reserve(args.size());
  for (const auto &[address, shape] : args)
    buffers.push_back(Buffer{reinterpret_cast<void *>(address), shape});
  nb::gil_scoped_release release;
  return kernel.call(buffers);
}

/// Runs `call(args..., error)` without the GIL and returns its result (a
/// bool or a pointer); raises `Error` with `prefix` and the error when that
/// is false or null.
template <typename Error, typename Call, typename... Args>
auto withoutGilOrRaise(const std::string &prefix, Call call, Args &&...args) {
  std::string error;
  decltype(call(std::forward<Args>(args)..., error)) result;
  {
    nb::gil_scoped_release release;
    result = call(std::forward<Args>(args)..., error);
  }
  if (!result)
    throw Error(prefix + error);
  return result;
}

/// Calls a CUDA kernel on (address, shape, host bytes, is output) tuples:
/// host inputs (bytes > 0) are copied in, host outputs back; device
/// addresses (bytes 0) are passed as they are. Raises RuntimeError with the
/// runtime's message when the GPU or a driver call fails.
int callCuda(
    const Kernel &kernel,
    const std::vector<std::tuple<uintptr_t, std::vector<int64_t>, size_t, bool>>
        &args) {
  std::vector<Buffer> buffers;
  std::vector<size_t> bytes;
  std::vector<bool> isOutput;
  for (const auto &[address, shape, size, output] : args) {
    buffers.push_back(Buffer{reinterpret_cast<void *>(address), shape});
    bytes.push_back(size);
    isOutput.push_back(output);
  }
  int badCapture = 0;
  withoutGilOrRaise<std::runtime_error>(
      "target='" + kernel.target() + "': ", [&](std::string &error) {
        return kernel.callOnDevice(buffers, bytes, isOutput, badCapture,
                                   error);
      });
  return badCapture;
}

/// The Python binding of lowerModule: it runs a pipeline over IR text
/// without the GIL and returns the IR as printed or, with `wantRemarks`, the
/// remarks of the run; CompileError when it fails.
auto lowerOrRaise(bool wantRemarks) {
  return [wantRemarks](const std::string &ir, const std::string &pipeline) {
    std::string lowered, remarks;
    withoutGilOrRaise<CompileError>("", [&](std::string &error) {
      return attn::python::lowerModule(ir, pipeline, lowered, error,
                                       wantRemarks ? &remarks : nullptr);
    });
    return wantRemarks ? remarks : lowered;
  };
}

/// Runs `call(args..., error)` (one of the attn::python::cuda* functions)
/// without the GIL; raises RuntimeError with its error when it returns
/// false.
template <typename Call, typename... Args>
void cudaOrRaise(Call call, Args &&...args) {
  withoutGilOrRaise<std::runtime_error>("CUDA: ", call,
                                        std::forward<Args>(args)...);
}

/// The Python binding of `compile` (a Kernel factory taking IR text,
/// options and an error): it compiles without the GIL and raises
/// CompileError when that fails.
template <typename Compile> auto compileOrRaise(Compile compile) {
  return [compile](const std::string &ir, const std::string &options) {
    return withoutGilOrRaise<CompileError>("", compile, ir, options);
  };
}

} // namespace

NB_MODULE(_attn, m) {
  m.doc() = "Native core of the attn attention compiler";
  nb::exception<CompileError>(m, "CompileError", PyExc_RuntimeError);

  m.def(
      "parse",
      [](const std::string &ir) {
        std::string printed, error;
        if (!attn::python::parseModule(ir, printed, error))
          throw CompileError(error);
        return printed;
      },
      nb::arg("ir"), "Parse and verify IR text; returns it as printed.");
  m.def("lower", lowerOrRaise(/*wantRemarks=*/false), nb::arg("ir"),
        nb::arg("pipeline"),
        "Run a textual pass pipeline over IR text and print the result.");
  m.def("lower_remarks", lowerOrRaise(/*wantRemarks=*/true), nb::arg("ir"),
        nb::arg("pipeline"),
        "Run a textual pass pipeline over IR text; return its remarks.");
  m.def("host_cpu", &attn::python::hostCPU,
        "The host CPU's name and features, as the JIT targets them.");
  m.def(
      "cuda_status",
      [] {
        std::string why;
        bool ok = attn::python::cudaStatus(why);
        return std::make_tuple(ok, why);
      },
      "(True, '') when a CUDA GPU is usable, else (False, why).");

  m.def(
      "cuda_alloc",
      [](size_t bytes) {
        uintptr_t address = 0;
        cudaOrRaise(attn::python::cudaAlloc, bytes, address);
        return address;
      },
      nb::arg("bytes"), "Allocates device memory; returns its address.");
  m.def(
      "cuda_free",
      [](uintptr_t address) { cudaOrRaise(attn::python::cudaFree, address); },
      nb::arg("address"), "Frees memory from cuda_alloc.");
  m.def(
      "cuda_copy",
      [](uintptr_t dst, uintptr_t src, size_t bytes) {
        cudaOrRaise(attn::python::cudaCopy, dst, src, bytes);
      },
      nb::arg("dst"), nb::arg("src"), nb::arg("bytes"),
      "Copies bytes between host or device addresses and waits.");
  m.def(
      "cuda_stream_synchronize",
      [](uintptr_t stream) {
        cudaOrRaise(attn::python::cudaStreamSynchronize, stream);
      },
      nb::arg("stream"), "Waits for the work queued on a CUDA stream.");
  m.def(
      "cuda_check_device_range",
      [](uintptr_t address, size_t bytes) {
        std::string why;
        bool ok = attn::python::cudaCheckDeviceRange(address, bytes, why);
        return std::make_tuple(ok, why);
      },
      nb::arg("address"), nb::arg("bytes"),
      "(True, '') when the bytes at address are device memory a kernel can "
      "read, else (False, why).");

  nb::class_<Kernel>(m, "Kernel")
      .def_static("compile", compileOrRaise(&Kernel::compile), nb::arg("ir"),
                  nb::arg("options") = "",
                  "JIT-compile IR with --attn-cpu-pipeline{options}.")
      .def_static(
          "compile_cuda", compileOrRaise(&Kernel::compileCUDA), nb::arg("ir"),
          nb::arg("options") = "",
          "JIT-compile the host side of IR with --attn-cuda-pipeline{options}.")
      .def_static(
          "load",
          [](nb::bytes object, bool openmp) {
            std::string code(object.c_str(), object.size());
            std::string error;
            std::unique_ptr<Kernel> kernel = Kernel::load(code, openmp, error);
            if (!kernel)
              throw CompileError(error);
            return kernel;
          },
          nb::arg("object"), nb::arg("openmp") = true,
          "Load object code written by object_code().")
      .def("object_code", &objectCode,
           "The kernel's native code as a relocatable object.")
      .def(
          "bind",
          [](Kernel &kernel, const std::string &name) {
            std::string error;
            if (!kernel.bind(name, error))
              throw CompileError(error);
          },
          nb::arg("name"), "Select the public function that call() runs.")
      .def("call", &call, nb::arg("args"),
           "Call the bound function on (address, shape) pairs.")
      .def("call_cuda", &callCuda, nb::arg("args"),
           "Call a CUDA kernel on (address, shape, host bytes, is output) "
           "tuples; host arguments go through device copies. Returns the "
           "1-based number of a capture read out of range, or 0.");
}
