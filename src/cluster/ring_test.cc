// Placement: balance with 100 nodes, zones, weights, and how little moves
// when a node joins.
#include "cluster/ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>

namespace vmstore::cluster {
namespace {

std::vector<RingNode> Nodes(int n, int zones = 0) {
  std::vector<RingNode> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({"node" + std::to_string(i), "10.0.0." + std::to_string(i) + ":7000",
                   zones ? "zone" + std::to_string(i % zones) : "", 1});
  }
  return out;
}

// Replica load per node over `keys` random container numbers.
std::map<std::string, uint64_t> Loads(const Ring& ring, int replicas, int keys, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::map<std::string, uint64_t> load;
  for (const RingNode& n : ring.nodes()) load[n.name] = 0;
  for (int i = 0; i < keys; ++i) {
    for (const RingNode* n : ring.Place(1 + rng() % ((1ull << 33) - 1), replicas)) ++load[n->name];
  }
  return load;
}

TEST(RingTest, HundredNodesCarryWithinTwentyPercentOfTheMean) {
  for (int replicas : {2, 3}) {
    Ring ring(Nodes(100), 1);
    auto load = Loads(ring, replicas, 400000, 7);
    uint64_t max = 0, sum = 0;
    for (auto& [n, l] : load) {
      max = std::max(max, l);
      sum += l;
    }
    const double mean = static_cast<double>(sum) / 100.0;
    std::printf("R=%d: max/mean replica load %.3f over 100 nodes (seed 7)\n", replicas, max / mean);
    EXPECT_LE(max / mean, 1.2) << "R=" << replicas;
    EXPECT_EQ(sum, 400000u * replicas);
  }
}

TEST(RingTest, ReplicasGoToDistinctNodesAndZones) {
  Ring ring(Nodes(12, 3), 1);
  std::map<std::string, std::string> zone;
  for (const RingNode& n : ring.nodes()) zone[n.name] = n.zone;
  for (uint64_t c = 1; c < 5000; ++c) {
    auto owners = ring.Place(c, 3);
    ASSERT_EQ(owners.size(), 3u);
    std::set<std::string> names, zones;
    for (auto* n : owners) {
      names.insert(n->name);
      zones.insert(zone[n->name]);
    }
    EXPECT_EQ(names.size(), 3u);
    EXPECT_EQ(zones.size(), 3u) << "container " << c;
  }
  // Two zones, three replicas: two zones, then a distinct node.
  Ring two(Nodes(6, 2), 1);
  for (uint64_t c = 1; c < 1000; ++c) {
    auto owners = two.Place(c, 3);
    ASSERT_EQ(owners.size(), 3u);
    EXPECT_NE(owners[0]->zone, owners[1]->zone);
    EXPECT_NE(owners[2]->name, owners[0]->name);
    EXPECT_NE(owners[2]->name, owners[1]->name);
  }
}

TEST(RingTest, FewerNodesThanReplicasGivesEveryNodeOnce) {
  Ring ring(Nodes(2), 1);
  auto owners = ring.Place(42, 3);
  ASSERT_EQ(owners.size(), 2u);
  EXPECT_NE(owners[0]->name, owners[1]->name);
  EXPECT_TRUE(Ring().Place(42, 2).empty());
}

TEST(RingTest, WeightsSetTheShare) {
  auto nodes = Nodes(10);
  nodes[0].weight = 3;
  nodes[1].weight = 0;  // drained: holds nothing
  Ring ring(nodes, 1);
  auto load = Loads(ring, 2, 200000, 11);
  EXPECT_EQ(load["node1"], 0u);
  const double heavy = static_cast<double>(load["node0"]), light = static_cast<double>(load["node5"]);
  std::printf("weight 3 vs 1: load ratio %.2f\n", heavy / light);
  EXPECT_GT(heavy / light, 2.0);
  EXPECT_LT(heavy / light, 4.0);
}

TEST(RingTest, AJoinMovesAboutOneNthAndNothingBetweenOldNodes) {
  Ring before(Nodes(3), 1);
  auto nodes = Nodes(4);
  Ring after(nodes, 2);
  const int keys = 100000;
  int moved_slots = 0;
  for (uint64_t c = 1; c <= keys; ++c) {
    auto a = before.Place(c, 2), b = after.Place(c, 2);
    std::set<std::string> was, now;
    for (auto* n : a) was.insert(n->name);
    for (auto* n : b) now.insert(n->name);
    for (const std::string& n : now) {
      if (was.count(n)) continue;
      ++moved_slots;
      EXPECT_EQ(n, "node3") << "container " << c << " moved to an old node";
    }
  }
  // Ideal: the new node takes R * keys / 4 replicas.
  const double ratio = moved_slots / (2.0 * keys / 4.0);
  std::printf("3 -> 4 nodes: %d replicas moved, %.3f of the ideal\n", moved_slots, ratio);
  EXPECT_LT(ratio, 1.15);
  EXPECT_GT(ratio, 0.85);
}

TEST(RingTest, ValidateRefusesDuplicateAndEmptyNames) {
  EXPECT_EQ(Ring::Validate({{"a", "x:1", "", 1}, {"a", "y:1", "", 1}}).code(), Code::kInvalidArgument);
  EXPECT_EQ(Ring::Validate({{"", "x:1", "", 1}}).code(), Code::kInvalidArgument);
  EXPECT_TRUE(Ring::Validate(Nodes(5)).ok());
}

}  // namespace
}  // namespace vmstore::cluster
