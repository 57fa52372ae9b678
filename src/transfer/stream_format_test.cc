// The send stream's encoding: round trips, and every damage detected - each
// byte flipped, each truncation, records out of order or past the end.
#include "transfer/stream_format.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "transfer/test_util.h"

namespace vmstore::transfer {
namespace {

StreamHeader Header(bool incremental) {
  StreamHeader h;
  h.size = 1 << 20;
  h.created_ns = 1234567890123;
  h.to_guid = "guid-b";
  if (incremental) {
    h.from_guid = "guid-a";
    h.from_name = "web/root@a_20261124T00:00:00";
  }
  h.to_name = "web/root@b_20261124T00:00:01";
  h.snapshot = "b";
  return h;
}

std::string Encode(const StreamHeader& h, std::mt19937_64& rng) {
  std::string out;
  StreamWriter w(AppendTo(&out));
  EXPECT_TRUE(w.WriteHeader(h).ok());
  uint64_t off = 0;
  while (off < h.size) {
    off += (rng() % 8) * 4096;
    if (off >= h.size) break;
    uint64_t len = std::min<uint64_t>((1 + rng() % 16) * 4096, h.size - off);
    if (rng() % 2) {
      std::string data(len, '\0');
      for (char& c : data) c = static_cast<char>(rng());
      EXPECT_TRUE(w.WriteData(off, data).ok());
    } else {
      EXPECT_TRUE(w.WriteZero(off, len).ok());
    }
    off += len;
  }
  EXPECT_TRUE(w.Finish().ok());
  return out;
}

// Reads the whole stream; OK only if it is complete and valid.
Status ReadAll(const std::string& s, StreamHeader* h = nullptr, std::vector<StreamRecord>* recs = nullptr) {
  size_t pos = 0;
  StreamReader r(ReadFrom(&s, &pos));
  ASSIGN_OR_RETURN(StreamHeader got, r.ReadHeader());
  if (h) *h = got;
  for (;;) {
    ASSIGN_OR_RETURN(StreamRecord rec, r.Next());
    if (rec.type == RecordType::kEnd) break;
    if (recs) recs->push_back(rec);
  }
  if (pos != s.size()) return Corruption("bytes after END");
  return Status::OK();
}

TEST(StreamFormatTest, RoundTrip) {
  for (bool inc : {false, true}) {
    std::mt19937_64 rng(1);
    StreamHeader h = Header(inc);
    std::string s = Encode(h, rng);
    StreamHeader got;
    std::vector<StreamRecord> recs;
    ASSERT_TRUE(ReadAll(s, &got, &recs).ok());
    EXPECT_EQ(got.size, h.size);
    EXPECT_EQ(got.created_ns, h.created_ns);
    EXPECT_EQ(got.to_guid, h.to_guid);
    EXPECT_EQ(got.from_guid, h.from_guid);
    EXPECT_EQ(got.to_name, h.to_name);
    EXPECT_EQ(got.from_name, h.from_name);
    EXPECT_EQ(got.snapshot, h.snapshot);
    EXPECT_EQ(got.incremental(), inc);
    EXPECT_FALSE(recs.empty());
  }
}

TEST(StreamFormatTest, EveryFlippedByteIsDetected) {
  std::mt19937_64 rng(2);
  StreamHeader h = Header(true);
  h.size = 64 * 1024;
  std::string s = Encode(h, rng);
  for (size_t i = 0; i < s.size(); ++i) {
    std::string bad = s;
    bad[i] ^= static_cast<char>(1 + rng() % 255);
    EXPECT_FALSE(ReadAll(bad).ok()) << "flip at byte " << i << " of " << s.size() << " went unnoticed";
  }
}

TEST(StreamFormatTest, EveryTruncationIsDetected) {
  std::mt19937_64 rng(3);
  StreamHeader h = Header(false);
  h.size = 64 * 1024;
  std::string s = Encode(h, rng);
  for (size_t n = 0; n < s.size(); ++n) {
    Status st = ReadAll(s.substr(0, n));
    EXPECT_FALSE(st.ok()) << "cut at " << n;
  }
}

TEST(StreamFormatTest, RecordsOutOfOrderOrPastTheEndAreRefused) {
  for (int which = 0; which < 3; ++which) {
    std::string out;
    StreamWriter w(AppendTo(&out));
    StreamHeader h = Header(true);
    ASSERT_TRUE(w.WriteHeader(h).ok());
    if (which == 0) {  // overlapping
      ASSERT_TRUE(w.WriteZero(8192, 8192).ok());
      ASSERT_TRUE(w.WriteZero(12288, 4096).ok());
    } else if (which == 1) {  // past the end
      ASSERT_TRUE(w.WriteData(h.size - 100, std::string(200, 'x')).ok());
    } else {  // backwards
      ASSERT_TRUE(w.WriteZero(65536, 4096).ok());
      ASSERT_TRUE(w.WriteZero(0, 4096).ok());
    }
    ASSERT_TRUE(w.Finish().ok());
    Status st = ReadAll(out);
    EXPECT_EQ(st.code(), Code::kCorruption) << which << ": " << st.ToString();
  }
}

TEST(StreamFormatTest, NotAStreamAndNewerVersionsAreNamed) {
  EXPECT_EQ(ReadAll(std::string(100, 'x')).code(), Code::kInvalidArgument);
  std::mt19937_64 rng(4);
  std::string s = Encode(Header(false), rng);
  s[8] = 2;  // version
  EXPECT_EQ(ReadAll(s).code(), Code::kNotSupported);
}

}  // namespace
}  // namespace vmstore::transfer
