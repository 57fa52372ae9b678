// vmstore send / receive: a disk snapshot, whole or as the changes since an
// older snapshot, to a stream (stream_format.h) and back into a disk, as
// `zfs send [-i]` / `zfs receive` do for datasets.
//
// Identity: a stream names its snapshot by a guid (SnapshotGuid, diff.h). A
// received snapshot keeps the sender's guid (property "vmstore:guid"), so an
// incremental stream finds its base on the receiver however many hops the
// snapshots travelled.
//
// Thread-safety: as the Manager's. Ownership: borrows everything.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "transfer/stream_format.h"
#include "vmstore/manager.h"

namespace vmstore::transfer {

// Called now and then with the bytes done and the bytes to do.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

struct SendOptions {
  std::string to;    // "VM/DISK@FULL": the snapshot sent
  std::string from;  // "": a full stream; else the base snapshot, "VM/DISK@FULL" or "@FULL" (same disk)
  ProgressFn progress;
};

struct TransferStats {
  uint64_t records = 0;
  uint64_t data_bytes = 0;  // in DATA records
  uint64_t zero_bytes = 0;  // in ZERO records
  std::string method;       // how the changes were found (DiskDiff::method)
  std::string snapshot;     // receive: the snapshot made, "VM@FULL"
};

// Writes the stream to `sink`. Errors: InvalidArgument (`to` or `from` not a
// snapshot), NotFound, and the storage's and sink's errors.
StatusOr<TransferStats> Send(Manager& m, const SendOptions& o, const std::function<Status(std::string_view)>& sink);

struct ReceiveOptions {
  std::string target;  // "VM/DISK"
  std::string sr;      // full stream: the SR of the new disk ("" = default)
  // Incremental stream: roll the disk back to the base snapshot when it
  // changed since (else FailedPrecondition).
  bool force = false;
  ProgressFn progress;
};

// Reads a stream into the target disk and snapshots it. A full stream makes
// a new disk (and its VM when missing); an incremental one applies to the disk
// holding its base snapshot, which must be unchanged since (or `force`).
// Nothing is kept of a stream that fails part way: a new disk is deleted, an
// existing one rolled back to the base. Errors: InvalidArgument/Corruption/
// NotSupported (the stream), AlreadyExists (a full stream into an existing
// disk; a snapshot received before), FailedPrecondition (no base, or the disk
// changed), the storage's errors.
StatusOr<TransferStats> Receive(Manager& m, const ReceiveOptions& o, StreamReader& in);

}  // namespace vmstore::transfer
