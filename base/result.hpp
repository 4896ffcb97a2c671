#pragma once

// A small stand-in for C++23 std::expected, with the same member names so that moving to
// std::expected is a rename. g++ 12 offers std::expected only under -std=c++23, and Debian 12
// has no tl-expected package.

#include <cassert>
#include <utility>
#include <variant>

namespace popgate {

template <typename E> struct Unexpected { E error; };

template <typename E> Unexpected<std::decay_t<E>> unexpected(E&& e) { return {std::forward<E>(e)}; }

template <typename T, typename E> class Result {
public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  template <typename G> Result(Unexpected<G> u) : v_(std::in_place_index<1>, std::move(u.error)) {}

  [[nodiscard]] bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  [[nodiscard]] const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  [[nodiscard]] const E& error() const {
    assert(!has_value());
    return std::get<1>(v_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

private:
  std::variant<T, E> v_;
};

// Result<void, E>: success carries nothing.
template <typename E> class Result<void, E> {
public:
  Result() = default;
  template <typename G> Result(Unexpected<G> u) : error_(std::move(u.error)), ok_(false) {}

  [[nodiscard]] bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  [[nodiscard]] const E& error() const {
    assert(!ok_);
    return error_;
  }

private:
  E error_{};
  bool ok_ = true;
};

} // namespace popgate
