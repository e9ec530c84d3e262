//===- Interpreter.cpp - Lock-step interpreter of CUDA kernels ------------===//
//
// Placeholder until the interpreter lands: every launch fails plainly.
//
//===----------------------------------------------------------------------===//

#include "attn/Emulator/Emulator.h"

using namespace attn::emu;

Module::~Module() = default;

namespace {
class StubModule : public Module {
public:
  bool hasKernel(const std::string &) const override { return false; }
  LaunchResult launch(const std::string &name, const LaunchConfig &, void **,
                      const std::vector<GlobalRange> &) override {
    LaunchResult result;
    result.error = "the emulator cannot run kernel '" + name + "' yet";
    return result;
  }
};
} // namespace

std::unique_ptr<Module> Module::parse(const std::string &, std::string &) {
  return std::make_unique<StubModule>();
}
