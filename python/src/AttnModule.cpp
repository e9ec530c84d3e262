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

/// Calls a CUDA kernel on (address, shape, host bytes, is output) tuples:
/// host inputs (bytes > 0) are copied in, host outputs back; device
/// addresses (bytes 0) are passed as they are. Raises RuntimeError with the
/// runtime's message when the GPU or a driver call fails.
void callCuda(
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
  std::string error;
  bool ok;
  {
    nb::gil_scoped_release release;
    ok = kernel.callOnDevice(buffers, bytes, isOutput, error);
  }
  if (!ok)
    throw std::runtime_error("target='" + kernel.target() + "': " + error);
}

/// Runs `call(error)` (one of the attn::python::cuda* functions) without
/// the GIL; raises RuntimeError with its error when it returns false.
template <typename Call> void cudaOrRaise(Call call) {
  std::string error;
  bool ok;
  {
    nb::gil_scoped_release release;
    ok = call(error);
  }
  if (!ok)
    throw std::runtime_error("CUDA: " + error);
}

/// The Kernel from `compile` (a Kernel factory taking IR text, options and
/// an error), compiled without the GIL; CompileError when it fails.
template <typename Compile>
std::unique_ptr<Kernel> compileOrRaise(Compile compile, const std::string &ir,
                                       const std::string &options) {
  std::string error;
  std::unique_ptr<Kernel> kernel;
  {
    nb::gil_scoped_release release;
    kernel = compile(ir, options, error);
  }
  if (!kernel)
    throw CompileError(error);
  return kernel;
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
  m.def(
      "lower",
      [](const std::string &ir, const std::string &pipeline) {
        std::string lowered, error;
        bool ok;
        {
          nb::gil_scoped_release release;
          ok = attn::python::lowerModule(ir, pipeline, lowered, error);
        }
        if (!ok)
          throw CompileError(error);
        return lowered;
      },
      nb::arg("ir"), nb::arg("pipeline"),
      "Run a textual pass pipeline over IR text and print the result.");
  m.def(
      "lower_remarks",
      [](const std::string &ir, const std::string &pipeline) {
        std::string lowered, error, remarks;
        bool ok;
        {
          nb::gil_scoped_release release;
          ok = attn::python::lowerModule(ir, pipeline, lowered, error,
                                         &remarks);
        }
        if (!ok)
          throw CompileError(error);
        return remarks;
      },
      nb::arg("ir"), nb::arg("pipeline"),
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
        cudaOrRaise([&](std::string &error) {
          return attn::python::cudaAlloc(bytes, address, error);
        });
        return address;
      },
      nb::arg("bytes"), "Allocates device memory; returns its address.");
  m.def(
      "cuda_free",
      [](uintptr_t address) {
        cudaOrRaise([&](std::string &error) {
          return attn::python::cudaFree(address, error);
        });
      },
      nb::arg("address"), "Frees memory from cuda_alloc.");
  m.def(
      "cuda_copy",
      [](uintptr_t dst, uintptr_t src, size_t bytes) {
        cudaOrRaise([&](std::string &error) {
          return attn::python::cudaCopy(dst, src, bytes, error);
        });
      },
      nb::arg("dst"), nb::arg("src"), nb::arg("bytes"),
      "Copies bytes between host or device addresses and waits.");
  m.def(
      "cuda_stream_synchronize",
      [](uintptr_t stream) {
        cudaOrRaise([&](std::string &error) {
          return attn::python::cudaStreamSynchronize(stream, error);
        });
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
      .def_static(
          "compile",
          [](const std::string &ir, const std::string &options) {
            return compileOrRaise(&Kernel::compile, ir, options);
          },
          nb::arg("ir"), nb::arg("options") = "",
          "JIT-compile IR with --attn-cpu-pipeline{options}.")
      .def_static(
          "compile_cuda",
          [](const std::string &ir, const std::string &options) {
            return compileOrRaise(&Kernel::compileCUDA, ir, options);
          },
          nb::arg("ir"), nb::arg("options") = "",
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
           "tuples; host arguments go through device copies.");
}
