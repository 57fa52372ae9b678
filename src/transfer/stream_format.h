// The send stream: what `vmstore send` writes and `vmstore receive` reads, a
// disk snapshot whole or as the changes from an older one (docs/FORMAT.md,
// "Send stream"). A header names the snapshots; records carry data or zeroes
// for byte ranges in ascending order; an END record closes it. Every record's
// XXH3-64 is seeded with the one before it, so a changed, dropped, reordered
// or truncated record is detected.
//
// Thread-safety: none (one stream, one thread). Errors: the sink's and
// source's own; Corruption for a damaged stream, naming what and where.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "vmstore/status.h"

namespace vmstore::transfer {

inline constexpr char kStreamMagic[8] = {'V', 'M', 'S', 'S', 'E', 'N', 'D', '1'};
inline constexpr uint32_t kStreamVersion = 1;
inline constexpr uint64_t kMaxRecordData = 1 << 20;  // bytes of one DATA record

struct StreamHeader {
  uint64_t size = 0;       // the disk's size at the sent snapshot
  int64_t created_ns = 0;  // when the sent snapshot was taken
  std::string to_guid;     // the sent snapshot's identity (kept by the receiver)
  std::string from_guid;   // the base snapshot's identity; "" for a full stream
  std::string to_name;     // "VM/DISK@FULL" on the sender (shown, not relied on)
  std::string from_name;   // ... of the base
  std::string snapshot;    // the sent snapshot's NAME (the receiver names its copy after it)
  bool incremental() const { return !from_guid.empty(); }
};

enum class RecordType : uint32_t { kData = 1, kZero = 2, kEnd = 3 };

class StreamWriter {
 public:
  // `sink` takes each encoded piece in order.
  explicit StreamWriter(std::function<Status(std::string_view)> sink) : sink_(std::move(sink)) {}
  Status WriteHeader(const StreamHeader& h);
  // `data` of 1 .. kMaxRecordData bytes.
  Status WriteData(uint64_t offset, std::string_view data);
  Status WriteZero(uint64_t offset, uint64_t length);
  Status Finish();  // the END record
  uint64_t records() const { return records_; }
  uint64_t data_bytes() const { return data_bytes_; }

 private:
  Status Emit(RecordType type, uint64_t offset, uint64_t length, std::string_view payload);
  std::function<Status(std::string_view)> sink_;
  uint64_t chain_ = 0;
  uint64_t records_ = 0, data_bytes_ = 0;
};

struct StreamRecord {
  RecordType type = RecordType::kEnd;
  uint64_t offset = 0, length = 0;
  std::string data;  // kData only
};

class StreamReader {
 public:
  // `source(buf, n)` reads up to n bytes into buf, returning 0 at the end.
  explicit StreamReader(std::function<StatusOr<size_t>(char*, size_t)> source) : source_(std::move(source)) {}
  StatusOr<StreamHeader> ReadHeader();
  // The next record, verified (checksum, order, bounds) before it is returned;
  // kEnd once, after which the stream is known whole.
  StatusOr<StreamRecord> Next();
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  Status ReadExact(char* buf, size_t n, const char* what);
  std::function<StatusOr<size_t>(char*, size_t)> source_;
  StreamHeader header_;
  uint64_t chain_ = 0;
  uint64_t records_ = 0, data_bytes_ = 0;
  uint64_t next_offset_ = 0;  // records must start at or after this
  uint64_t bytes_read_ = 0;
  bool ended_ = false;
};

}  // namespace vmstore::transfer
