#pragma once

// The TLS core's public interface: ServerContext (shared configuration and certificates) and
// Engine (one connection). See each header for the contracts.

#include "tls/engine.hpp"
#include "tls/options.hpp"
#include "tls/server_context.hpp"
