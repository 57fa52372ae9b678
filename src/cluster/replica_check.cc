#include "cluster/replica_check.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

#include "cluster/remote_env.h"
#include "util/coding.h"

namespace vmstore::cluster {
namespace {

constexpr uint32_t kRunUnits = 128;  // 512 KiB reads
constexpr size_t kUnit = 4096;

std::string U64Bytes(uint64_t x) {
  std::string s(8, '\0');
  internal::PutU64(s.data(), x);
  return s;
}

// The sum of a unit of zeros (a hole reads as one).
uint64_t ZeroUnitSum() {
  static const uint64_t sum = [] {
    const std::string zeros(kUnit, '\0');
    return internal::Hash64(zeros.data(), zeros.size());
  }();
  return sum;
}

// One replica's copy, read whole: a digest of what it holds, or why not.
struct Copy {
  Status error;
  uint64_t digest = 0;
  uint64_t bytes = 0;
};

// A container: each allocated unit's number and sum (the node verifies each
// unit against its sum as it reads it). A unit of zeros counts as a hole:
// copies equal in content compare equal whatever their layout (a repair
// copies units whose sums differ, and a hole reads as zeros).
Copy ReadContainer(NodeClient* c, uint64_t k) {
  const uint64_t zero_sum = ZeroUnitSum();
  Copy out;
  auto ranges = c->Call(MakeRequest(ContainerOp::kAllocatedUnits, k, 0, 0));
  if (!ranges.ok()) return {ranges.status()};
  std::string acc;
  const std::vector<uint64_t> v = DecodeU64List(*ranges);
  for (size_t i = 0; i + 1 < v.size(); i += 2) {
    for (uint64_t first = v[i]; first < v[i + 1];) {
      const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(kRunUnits, v[i + 1] - first));
      // The units, checked by the node against their sums, and the sums.
      std::string range;
      AppendU64List(&range, {0, n});
      auto got = c->Call(MakeRequest(ContainerOp::kReadBlockPart, k, first, n), range);
      if (!got.ok()) return {got.status()};
      if (got->size() != n * (kUnit + 8)) return {Corruption("answered with the wrong length")};
      for (uint32_t u = 0; u < n; ++u) {
        const char* sum = got->data() + size_t{n} * kUnit + size_t{u} * 8;
        if (internal::GetU64(sum) == zero_sum) continue;
        acc += U64Bytes(first + u);
        acc.append(sum, 8);
      }
      out.bytes += n * kUnit;
      first += n;
    }
  }
  out.digest = internal::Hash64(acc.data(), acc.size());
  return out;
}

// A pool file: its size, data ranges and bytes.
Copy ReadFile(NodeClient* c, const std::string& path) {
  Copy out;
  const std::string name = FileNamePayload(path);
  // File requests carry a punch's length where containers carry their number.
  auto size = c->Call(MakeRequest(ContainerOp::kFileSize, 0, 0, 0), name);
  if (!size.ok()) return {size.status()};
  auto ranges = c->Call(MakeRequest(ContainerOp::kFileRanges, 0, 0, 0), name);
  if (!ranges.ok()) return {ranges.status()};
  std::string acc = *size + *ranges;
  const std::vector<uint64_t> v = DecodeU64List(*ranges);
  for (size_t i = 0; i + 1 < v.size(); i += 2) {
    for (uint64_t done = 0; done < v[i + 1];) {
      const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(v[i + 1] - done, kMaxPayloadBytes / 2));
      auto data = c->Call(MakeRequest(ContainerOp::kFileRead, 0, v[i] + done, n), name);
      if (!data.ok()) return {data.status()};
      if (data->size() != n) return {Corruption("answered with the wrong length")};
      acc += U64Bytes(internal::Hash64(data->data(), data->size()));
      out.bytes += n;
      done += n;
    }
  }
  out.digest = internal::Hash64(acc.data(), acc.size());
  return out;
}

// An object as found on the nodes.
struct Found {
  std::vector<const RingNode*> owners;
  std::set<std::string> holders;
  std::function<Copy(NodeClient*)> read;
};

Copy ReadCopy(NodeClient* c, const std::string& object, uint64_t key) {
  if (object.rfind("file:", 0) == 0) return ReadFile(c, object.substr(5));
  return ReadContainer(c, key);
}

// One request to both nodes at once; either answer may be an error.
std::pair<StatusOr<std::string>, StatusOr<std::string>> AskBoth(NodeClient* a, NodeClient* b, const ContainerRequest& r,
                                                                const std::string& payload) {
  NodeClient::Sent sa = a->Start(r, payload), sb = b->Start(r, payload);
  auto x = a->Finish(&sa);
  auto y = b->Finish(&sb);
  return {std::move(x), std::move(y)};
}

// Whether both answers came, each `n` u64s long; else why not, in *d.
bool BothAnswered(const StatusOr<std::string>& x, const StatusOr<std::string>& y, size_t n, CopyDiff* d) {
  if (!x.ok()) d->a_error = x.status();
  if (!y.ok()) d->b_error = y.status();
  if (x.ok() && y.ok() && (x->size() != n * 8 || y->size() != n * 8)) {
    d->a_error = Corruption("a node answered with the wrong length");
  }
  return d->a_error.ok() && d->b_error.ok();
}

void ContainerDifferences(NodeClient* a, NodeClient* b, uint64_t key, CopyDiff* d) {
  auto [la, lb] = AskBoth(a, b, MakeRequest(ContainerOp::kAllocatedUnits, key, 0, 0), "");
  if (!la.ok()) d->a_error = la.status();
  if (!lb.ok()) d->b_error = lb.status();
  if (!la.ok() || !lb.ok()) return;
  std::vector<std::pair<uint64_t, uint64_t>> ra, rb;
  for (auto [list, out] : {std::make_pair(&*la, &ra), std::make_pair(&*lb, &rb)}) {
    const std::vector<uint64_t> v = DecodeU64List(*list);
    for (size_t i = 0; i + 1 < v.size(); i += 2) out->emplace_back(v[i], v[i + 1]);
  }
  auto held = [](const std::vector<std::pair<uint64_t, uint64_t>>& r, uint64_t u) {
    return std::any_of(r.begin(), r.end(), [&](const auto& x) { return u >= x.first && u < x.second; });
  };
  std::vector<std::pair<uint64_t, uint64_t>> all = ra;
  all.insert(all.end(), rb.begin(), rb.end());
  std::set<uint64_t> asked;  // runs already compared (the two lists overlap)
  constexpr uint32_t kSumRun = 512;
  for (auto [begin, end] : all) {
    for (uint64_t first = begin; first < end;) {
      const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(kSumRun, end - first));
      const uint64_t at = first;
      first += n;
      if (!asked.insert(at).second) continue;
      auto [sa, sb] = AskBoth(a, b, MakeRequest(ContainerOp::kReadSums, key, at, n), "");
      if (!BothAnswered(sa, sb, n, d)) return;
      for (uint32_t i = 0; i < n; ++i) {
        const uint64_t u = at + i;
        const uint64_t x = held(ra, u) ? internal::GetU64(sa->data() + size_t{i} * 8) : ZeroUnitSum();
        const uint64_t y = held(rb, u) ? internal::GetU64(sb->data() + size_t{i} * 8) : ZeroUnitSum();
        if (x != y) d->differ.insert(u);
      }
    }
  }
}

void FileDifferences(NodeClient* a, NodeClient* b, const std::string& path, CopyDiff* d) {
  const std::string name = FileNamePayload(path);
  auto [za, zb] = AskBoth(a, b, MakeRequest(ContainerOp::kFileSize, 0, 0, 0), name);
  if (!BothAnswered(za, zb, 1, d)) return;
  const uint64_t size_a = internal::GetU64(za->data()), size_b = internal::GetU64(zb->data());
  if (size_a != size_b) d->differ.insert(UINT64_MAX);
  const uint64_t chunks = (std::max(size_a, size_b) + kFileChunkBytes - 1) / kFileChunkBytes;
  for (uint64_t c = 0; c < chunks;) {
    const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(kMaxFileSumChunks, chunks - c));
    auto [sa, sb] = AskBoth(a, b, MakeRequest(ContainerOp::kFileSums, 0, c * kFileChunkBytes, n), name);
    if (!BothAnswered(sa, sb, n, d)) return;
    for (uint32_t i = 0; i < n; ++i) {
      if (std::memcmp(sa->data() + size_t{i} * 8, sb->data() + size_t{i} * 8, 8) != 0) d->differ.insert(c + i);
    }
    c += n;
  }
}

}  // namespace

CopyDiff CopyDifferences(NodeClient* a, NodeClient* b, const std::string& object, uint64_t key) {
  CopyDiff d;
  if (object.rfind("file:", 0) == 0) {
    FileDifferences(a, b, object.substr(5), &d);
  } else {
    ContainerDifferences(a, b, key, &d);
  }
  return d;
}

StatusOr<std::map<std::string, ListedObject>> ListObjects(const std::map<std::string, NodeClient*>& nodes,
                                                          const std::string& file_prefix,
                                                          std::map<std::string, Status>* down, bool sizes) {
  std::map<std::string, ListedObject> objects;
  const uint32_t with = sizes ? 1 : 0;
  for (auto& [name, c] : nodes) {
    auto list = c->Call(MakeRequest(ContainerOp::kList, 0, 0, with));
    auto files = c->Call(MakeRequest(ContainerOp::kFileList, 0, 0, with), FileNamePayload(file_prefix));
    if (!list.ok() || !files.ok()) {
      (*down)[name] = list.ok() ? files.status() : list.status();
      continue;
    }
    const std::vector<uint64_t> v = DecodeU64List(*list);
    for (size_t i = 0; i < v.size(); i += sizes ? 2 : 1) {
      ListedObject& o = objects["container:" + std::to_string(v[i])];
      o.key = v[i];
      o.holders.insert(name);
      if (sizes && i + 1 < v.size()) o.bytes = std::max(o.bytes, v[i + 1]);
    }
    for (size_t i = 0; i + 4 <= files->size();) {
      const uint32_t len = internal::GetBe32(files->data() + i);
      if (i + 4 + len + (sizes ? 8 : 0) > files->size())
        return Corruption("node " + name + " sent a damaged file list");
      const std::string path = files->substr(i + 4, len);
      i += 4 + len;
      ListedObject& o = objects["file:" + path];
      o.key = FileKey(path);
      o.holders.insert(name);
      if (sizes) {
        o.bytes = std::max(o.bytes, internal::GetU64(files->data() + i));
        i += 8;
      }
    }
  }
  return objects;
}

StatusOr<ReplicaReport> CheckReplicas(const ReplicaCheckOptions& o) {
  if (o.ring == nullptr) return InvalidArgument("no ring to check against");
  ReplicaReport r;
  std::map<std::string, Found> objects;  // by miss-record name
  std::set<std::string> down;
  std::map<std::string, Status> why_down;
  ASSIGN_OR_RETURN(auto listed, ListObjects(o.nodes, o.file_prefix, &why_down));
  for (auto& [name, s] : why_down) {
    down.insert(name);
    r.unreachable.push_back(name + ": " + s.ToString());
  }
  for (auto& [object, l] : listed) {
    Found& f = objects[object];
    f.owners = o.ring->Place(l.key, o.replicas);
    f.holders = l.holders;
    f.read = [name = object, key = l.key](NodeClient* n) { return ReadCopy(n, name, key); };
  }
  // Records of objects no node holds (deleted since; the stale replica was down).
  for (auto& [object, nodes] : o.misses) {
    if (objects.count(object)) continue;
    for (const std::string& n : nodes) {
      r.degraded.push_back(object + " on " + n + " (missed a change; waiting for its gateway's repair)");
    }
  }

  std::map<std::string, std::vector<std::string>> suspects;  // object -> nodes whose copies disagreed
  for (auto& [object, f] : objects) {
    (object.rfind("file:", 0) == 0 ? r.files : r.containers)++;
    auto m = o.misses.find(object);
    const std::set<std::string> stale = m == o.misses.end() ? std::set<std::string>{} : m->second;
    std::set<std::string> owner_names;
    for (const RingNode* n : f.owners) owner_names.insert(n->name);
    for (const std::string& h : f.holders) {
      if (!owner_names.count(h)) r.strays.push_back(object + " on " + h + " (the ring does not place it there)");
    }
    std::map<uint64_t, std::vector<std::string>> by_digest;
    std::vector<std::string> bad;  // nodes whose copy their node found damaged
    for (const RingNode* n : f.owners) {
      if (stale.count(n->name)) {
        r.degraded.push_back(object + " on " + n->name + " (missed a change; waiting for its gateway's repair)");
        continue;
      }
      if (down.count(n->name)) continue;  // reported as unreachable
      if (!f.holders.count(n->name)) {
        r.missing.push_back(object + " has no copy on " + n->name + ", which the ring names");
        continue;
      }
      Copy c = f.read(o.nodes.at(n->name));
      if (!c.error.ok()) {
        r.damaged.push_back(object + " on " + n->name + ": " + c.error.ToString());
        if (c.error.code() == Code::kCorruption) bad.push_back(n->name);
        continue;
      }
      ++r.copies_verified;
      r.bytes_verified += c.bytes;
      by_digest[c.digest].push_back(n->name);
    }
    if (by_digest.size() == 1) {
      for (const std::string& b : bad) r.repairable.emplace_back(object, b);
    }
    if (by_digest.size() > 1) {
      for (auto& [d, names] : by_digest) suspects[object].insert(suspects[object].end(), names.begin(), names.end());
    }
  }
  if (!suspects.empty()) {
    // A gateway may have been between replicas: look once more.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    for (auto& [object, names] : suspects) {
      std::set<uint64_t> digests;
      std::string detail;
      for (const std::string& n : names) {
        Copy c = objects[object].read(o.nodes.at(n));
        digests.insert(c.error.ok() ? c.digest : 0);
        detail += (detail.empty() ? "" : ", ") + n;
      }
      if (digests.size() > 1) r.differ.push_back(object + ": the copies on " + detail + " differ");
    }
  }
  return r;
}

}  // namespace vmstore::cluster
