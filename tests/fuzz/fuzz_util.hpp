#pragma once

// Utilities shared by the fuzz targets.

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string_view>

namespace popgate::fuzz {

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
  [[nodiscard]] std::string_view view() const { return {data_.get(), size_}; }

private:
  // NOLINTNEXTLINE(modernize-avoid-c-arrays): exact-size heap, ASan sees over-reads
  std::unique_ptr<char[]> data_;
  std::size_t size_;
};

// A broken invariant: abort so libFuzzer records the input.
inline void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

// Piece sizes in 1..max_piece for feeding one input in several reads, drawn from a generator
// seeded by the input itself: the pieces change as the fuzzer mutates the input, and a crash
// file alone reproduces them.
class Chunker {
public:
  Chunker(std::string_view input, std::size_t max_piece)
      : random_(
            static_cast<std::minstd_rand::result_type>(std::hash<std::string_view>{}(input) | 1U)),
        pick_(1, max_piece) {}
  std::size_t next() { return pick_(random_); }

private:
  std::minstd_rand random_;
  std::uniform_int_distribution<std::size_t> pick_;
};

} // namespace popgate::fuzz
