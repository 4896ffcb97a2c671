#pragma once

namespace popgate::proxy {
inline constexpr const char* kVersion = POPGATE_VERSION;
} // namespace popgate::proxy
