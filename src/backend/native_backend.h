// The native backend: an SR kept by VMStore's own chain-free engine (Pool).
// Handles are the engine's volume ids in decimal.
#pragma once

#include "vmstore/backend.h"

namespace vmstore::backend {

StatusOr<std::unique_ptr<Backend>> OpenNativeBackend(const std::string& location, const OpenOptions& options);

// A native backend over a pool the caller opened (the cluster's gateway
// opens its pools over the nodes).
std::unique_ptr<Backend> NewNativeBackend(std::unique_ptr<Pool> pool);

// Tests only: the engine behind a native backend (nullptr for other types).
// Everything else reaches it through the Backend interface.
Pool* NativePoolForTesting(Backend* backend);

// Parses a native handle; InvalidArgument if it is not a volume id.
StatusOr<VolumeId> NativeVolumeId(const std::string& handle);

}  // namespace vmstore::backend
