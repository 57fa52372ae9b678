// Reply encoding of the transmission phase: simple replies, and structured
// replies (one chunk with the DONE flag: OFFSET_DATA for reads, BLOCK_STATUS,
// ERROR with a message, or NONE), plus the block-status payload and the
// errno a Status maps to.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nbd/wire.h"
#include "vmstore/pool.h"
#include "vmstore/status.h"

namespace vmstore::nbd {

// The NBD error of a Status: EINVAL for bad input and ranges, EPERM for a
// read-only export, ENOSPC, ENOTSUP, else EIO; 0 for OK.
uint32_t ErrnoFor(const Status& s);

// The reply to `r`: `*head` gets the header (and an error's message), and the
// returned view the payload that follows it (a read's data, a block status
// descriptor list), which stays owned by the caller.
std::string_view EncodeReply(bool structured, const RequestHeader& r, const Status& st, std::string_view payload,
                             std::string* head);

// The BLOCK_STATUS payload of `extents` for context `context_id`: 32-bit
// descriptors (longer extents split), only the first with `req_one`.
std::string EncodeBlockStatus(uint32_t context_id, const std::vector<Extent>& extents, bool req_one);

}  // namespace vmstore::nbd
