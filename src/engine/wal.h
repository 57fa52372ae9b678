// The pool's write-ahead log: every operation since the last checkpoint, as a
// logical redo record, plus undo records (before-images) written just before a
// checkpoint patches committed blocks in place.
//
// Records are coalesced in a 512 KiB buffer (VMStore's write-coalescing size) and
// written sequentially; Sync() makes everything appended so far durable. Each
// record carries the superblock generation it follows and a sequence number, so
// records left over from an earlier generation, torn writes or reordered writes
// end the log at the first record that does not fit (docs/FORMAT.md, "wal").
//
// Thread-safety: none; the pool serialises access: the live log is
// PoolImpl::wal_, GUARDED_BY(writer_mu_); the frozen one is handed to the
// checkpoint thread (under ckpt_mu_) and used by it alone until it is done.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/format.h"
#include "vmstore/env.h"

namespace vmstore::internal {

struct WalRecord {
  WalType type;
  uint64_t seq;
  std::string payload;
};

class Wal {
 public:
  explicit Wal(std::unique_ptr<File> file) : file_(std::move(file)) {}

  // Reads the valid records of generation `gen` from the start of the file and
  // positions the writer after the last one (dropping what follows it).
  // A bad record is a torn tail - unless a valid record of the generation
  // after it says that records past the bad one had been made durable (each
  // record carries how many were synced when it was appended): that is damage
  // to flushed writes, refused with Corruption ("the log is damaged ..."),
  // or with `accept_loss` dropped like a tail (said in *dropped, if given).
  StatusOr<std::vector<WalRecord>> Recover(uint64_t gen, bool accept_loss = false, std::string* dropped = nullptr);
  // The generation of the file's first record, or 0 if it has no valid first
  // header (an empty log). Reads only; call before Recover.
  StatusOr<uint64_t> FirstGeneration();
  // True when the buffer is full: WriteOut before the next Append.
  bool NeedsWriteOut() const { return buf_.size() >= kWalBufferBytes; }
  // Appends a record to the buffer; never does I/O, so it cannot fail (the
  // caller makes room first with WriteOut when NeedsWriteOut).
  void Append(WalType type, const std::string& payload);
  // Writes the buffer to the file. On failure the buffer is kept whole, and
  // the next WriteOut or Sync writes it again at the same offset.
  Status WriteOut();
  // Writes out the buffer and makes the log durable.
  Status Sync();
  // Starts an empty log for generation `gen` (after a checkpoint). The log is
  // usable even when the truncate it ends with fails (the error is returned).
  Status Reset(uint64_t gen);
  uint64_t bytes() const { return file_offset_ + buf_.size(); }
  // True when records were appended since the last Sync.
  bool unsynced() const { return unsynced_; }
  // True once an fdatasync of this file failed (until Reset). After that the
  // kernel may have dropped written pages, so a later sync that succeeds
  // proves nothing: only a checkpoint makes this log's records safe.
  bool sync_failed() const { return sync_failed_; }

 private:
  std::unique_ptr<File> file_;
  std::string buf_;
  uint64_t file_offset_ = 0;
  uint64_t gen_ = 0;
  uint64_t seq_ = 0;
  uint64_t synced_seq_ = 0;  // records of this generation known durable (not after a failed sync)
  bool unsynced_ = false;
  bool sync_failed_ = false;
};

}  // namespace vmstore::internal
