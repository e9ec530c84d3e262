//===- FirstError.h - The error channel of the mgpu* runtimes ---*- C++ -*-===//
//
// Both runtimes (CudaRuntime.h, EmulatorRuntime.h) keep the first error
// since it was last taken, as attnCudaTakeError hands it out, and copy
// messages into callers' buffers the same way.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_FIRSTERROR_H
#define ATTN_RUNTIME_FIRSTERROR_H

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>

namespace attn::runtime {

/// Copies `text` into `message`: at most `size` bytes, NUL-terminated.
inline void copyMessage(const std::string &text, char *message, size_t size) {
  if (!message || size == 0)
    return;
  size_t n = std::min(text.size(), size - 1);
  std::memcpy(message, text.data(), n);
  message[n] = '\0';
}

/// The first error recorded since the last `take`; the runtime guards it
/// with its own mutex.
class FirstError {
public:
  bool empty() const { return message.empty(); }
  /// Keeps `code` (non-zero) and `text` unless an error is kept already.
  void record(int code, const std::string &text) {
    if (message.empty()) {
      message = text;
      errorCode = code;
    }
  }
  /// attnCudaTakeError: the code (0 when none) and the message, then
  /// clears both.
  int take(char *out, size_t size) {
    int code = errorCode;
    copyMessage(message, out, size);
    message.clear();
    errorCode = 0;
    return code;
  }

private:
  std::string message;
  int errorCode = 0;
};

} // namespace attn::runtime

#endif // ATTN_RUNTIME_FIRSTERROR_H
