#pragma once

// gtest names for table-driven cases: each case's `name` sentence with everything but letters
// and digits turned into '_' ("a v4 ban" -> "a_v4_ban"), for INSTANTIATE_TEST_SUITE_P.

#include <cctype>
#include <gtest/gtest.h>
#include <string>

namespace popgate::test {

struct CaseName {
  template <typename Case> std::string operator()(const testing::TestParamInfo<Case>& info) const {
    std::string name;
    for (char ch : info.param.name) {
      name += std::isalnum(static_cast<unsigned char>(ch)) != 0 ? ch : '_';
    }
    return name;
  }
};

} // namespace popgate::test
