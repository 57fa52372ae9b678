#include "cluster/ring.h"

#include <algorithm>
#include <set>

#include "util/coding.h"

namespace vmstore::cluster {

namespace {

uint64_t PointHash(const std::string& node, uint32_t i) {
  std::string k = node;
  k.push_back('\0');
  internal::AppendU32(&k, i);
  return internal::Hash64(k.data(), k.size());
}

}  // namespace

uint64_t ContainerHash(uint64_t container) {
  char b[8];
  internal::PutU64(b, container);
  return internal::Hash64(b, sizeof b);
}

Status Ring::Validate(const std::vector<RingNode>& nodes) {
  std::set<std::string> names;
  for (const RingNode& n : nodes) {
    if (n.name.empty()) return InvalidArgument("a ring member has no name");
    if (!names.insert(n.name).second) return InvalidArgument("node name '" + n.name + "' is on the ring twice");
    if (n.weight > 1000)
      return InvalidArgument("node '" + n.name + "': weight " + std::to_string(n.weight) + " is over 1000");
  }
  return Status::OK();
}

Ring::Ring(std::vector<RingNode> nodes, uint64_t epoch) : nodes_(std::move(nodes)), epoch_(epoch) {
  for (uint32_t n = 0; n < nodes_.size(); ++n) {
    const uint32_t points = nodes_[n].weight * kVnodesPerWeight;
    for (uint32_t i = 0; i < points; ++i) points_.push_back({PointHash(nodes_[n].name, i), n});
  }
  std::sort(points_.begin(), points_.end(),
            [](const Point& a, const Point& b) { return a.hash != b.hash ? a.hash < b.hash : a.node < b.node; });
}

std::vector<const RingNode*> Ring::Place(uint64_t container, int replicas) const {
  std::vector<const RingNode*> out;
  if (points_.empty() || replicas <= 0) return out;
  std::set<std::string> zones;
  for (const RingNode& n : nodes_) {
    if (n.weight > 0) zones.insert(n.zone);
  }
  const bool by_zone = zones.size() > 1 || (zones.size() == 1 && !zones.begin()->empty());
  const size_t want = std::min<size_t>(replicas, [&] {
    size_t live = 0;
    for (const RingNode& n : nodes_) live += n.weight > 0;
    return live;
  }());
  const uint64_t h = ContainerHash(container);
  const size_t first = static_cast<size_t>(
      std::lower_bound(points_.begin(), points_.end(), h, [](const Point& p, uint64_t v) { return p.hash < v; }) -
      points_.begin());
  std::vector<bool> taken(nodes_.size(), false);
  std::set<std::string> used_zones;
  // First walk: distinct zones; second walk: distinct nodes (zones ran out).
  for (int pass = by_zone ? 0 : 1; pass < 2 && out.size() < want; ++pass) {
    for (size_t k = 0; k < points_.size() && out.size() < want; ++k) {
      const Point& p = points_[(first + k) % points_.size()];
      if (taken[p.node]) continue;
      const RingNode& n = nodes_[p.node];
      if (pass == 0 && used_zones.count(n.zone)) continue;
      taken[p.node] = true;
      used_zones.insert(n.zone);
      out.push_back(&n);
    }
  }
  return out;
}

}  // namespace vmstore::cluster
