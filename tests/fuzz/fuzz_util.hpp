#pragma once

// Utilities shared by the fuzz targets.

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace popgate::pop3::fuzz {

// An exact-size heap copy, so ASan flags any read past the bytes the codec was given, and any
// use after the caller freed them (the codec must copy what it keeps before NeedData).
class HeapChunk {
public:
  explicit HeapChunk(std::string_view bytes)
      : data_(new char[bytes.empty() ? 1 : bytes.size()]), size_(bytes.size()) {
    if (!bytes.empty()) {
      std::memcpy(data_.get(), bytes.data(), bytes.size());
    }
  }
  std::string_view view() const { return {data_.get(), size_}; }

private:
  std::unique_ptr<char[]> data_;
  std::size_t size_;
};

// A broken invariant: abort so libFuzzer records the input.
inline void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

} // namespace popgate::pop3::fuzz
