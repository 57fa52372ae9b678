// The engine over storage nodes: a pool whose containers live on three
// ContainerServers (real TCP on loopback, container files in temp dirs),
// placed by the ring with two replicas. Random operations against an oracle,
// a node stopped mid-run, a damaged replica, another cluster's node, and the
// size of what crosses the network.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "cluster/remote_block_store.h"
#include "cluster/remote_env.h"
#include "cluster/replica_check.h"
#include "engine/test_util.h"
#include "node/container_server.h"
#include "util/coding.h"

namespace vmstore::testing {
namespace {

using cluster::ContainerOp;
using cluster::DecodeU64List;
using cluster::MakeRequest;
using cluster::NodeClient;
using cluster::RemoteBlockStore;
using cluster::RepairReport;
using cluster::Ring;
using cluster::RingNode;
using node::ContainerServer;
using node::ContainerServerOptions;

ContainerGeometry Geometry(uint8_t tag, uint32_t units) {
  ContainerGeometry g;
  g.pool_uuid.fill(tag);
  g.container_units = units;
  return g;
}

// How long a node counts an idle copy as under way, here.
constexpr std::chrono::milliseconds kMoveIdle{300};

// Three storage nodes with their own container directories.
class Nodes {
 public:
  Nodes(int n, const ContainerGeometry& g) {
    for (int i = 0; i < n; ++i) {
      const std::string dir = tmp_.path() + "/node" + std::to_string(i);
      std::filesystem::create_directories(dir);
      dirs_.push_back(dir);
      stores_.push_back(NewFileBlockStore(Env::Default(), dir));
      EXPECT_OK(stores_.back()->Attach(g));
      ContainerServerOptions o;
      o.name = "node" + std::to_string(i);
      o.geometry = g;
      o.env = Env::Default();
      o.files_dir = dir + "/files";
      o.move_idle = kMoveIdle;
      std::filesystem::create_directories(o.files_dir);
      servers_.push_back(std::make_unique<ContainerServer>(stores_.back().get(), o));
      EXPECT_OK(servers_.back()->Start());
      ring_.push_back({o.name, "127.0.0.1:" + std::to_string(servers_.back()->port()), "", 1});
    }
  }
  std::vector<RingNode> ring() const { return ring_; }
  ContainerServer& server(int i) { return *servers_[i]; }
  // A stopped node back on its port with the data it had (its process
  // restarted); `reserve`: it keeps that many bytes of its file system free
  // of copies (0: no check).
  void Restart(int i, const ContainerGeometry& g, uint64_t reserve = 0) {
    const int port = servers_[i]->port();
    servers_[i].reset();
    ContainerServerOptions o;
    o.name = "node" + std::to_string(i);
    o.listen = "127.0.0.1:" + std::to_string(port);
    o.geometry = g;
    o.env = Env::Default();
    o.files_dir = dirs_[i] + "/files";
    o.move_idle = kMoveIdle;
    if (reserve) {
      o.space_path = dirs_[i];
      o.reserve_bytes = reserve;
    }
    servers_[i] = std::make_unique<ContainerServer>(stores_[i].get(), o);
    EXPECT_OK(servers_[i]->Start());
  }
  const std::string& dir(int i) const { return dirs_[i]; }

 private:
  TempDir tmp_;
  std::vector<std::string> dirs_;
  std::vector<std::unique_ptr<BlockStore>> stores_;
  std::vector<std::unique_ptr<ContainerServer>> servers_;
  std::vector<RingNode> ring_;
};

PoolOptions ClusterPoolOptions(MemEnv* env, BlockStore* store) {
  PoolOptions o = SmallOptions(env, 16384);
  o.container_size = 1 << 20;  // 256 units: many containers, spread over the nodes
  o.block_store = store;
  return o;
}

// Random writes, snapshots, clones and trims with checkpoints and reopens;
// every volume compared with the oracle.
void RandomOps(std::mt19937_64& rng, Pool* pool, Oracle* oracle, int steps) {
  const uint64_t C = 16384;
  for (int step = 0; step < steps; ++step) {
    const int op = static_cast<int>(rng() % 100);
    if (oracle->empty() || op < 5) {
      const uint64_t size = (4 + rng() % 60) * C;
      VolumeId id = Unwrap(pool->CreateVolume(size));
      (*oracle)[id] = {std::string(size, '\0'), false};
    } else if (op < 70) {
      VolumeId id = PickVolume(rng, *oracle, true);
      if (!id) continue;
      std::string& d = (*oracle)[id].data;
      const uint64_t off = rng() % d.size(), len = 1 + rng() % std::min<uint64_t>(d.size() - off, 3 * C);
      std::string buf(len, '\0');
      FillPattern(rng, &buf);
      ASSERT_OK(pool->Write(id, off, buf));
      d.replace(off, len, buf);
    } else if (op < 78) {
      VolumeId id = PickVolume(rng, *oracle, false);
      const bool clone = rng() % 2;
      VolumeId n = Unwrap(clone ? pool->Clone(id) : pool->Snapshot(id));
      (*oracle)[n] = {(*oracle)[id].data, !clone};
    } else if (op < 84) {
      VolumeId id = PickVolume(rng, *oracle, true);
      if (!id) continue;
      std::string& d = (*oracle)[id].data;
      const uint64_t off = rng() % d.size(), len = 1 + rng() % (d.size() - off);
      ASSERT_OK(pool->Trim(id, off, len));
      std::fill(d.begin() + static_cast<std::ptrdiff_t>(off), d.begin() + static_cast<std::ptrdiff_t>(off + len), '\0');
    } else if (op < 90 && oracle->size() > 2) {
      VolumeId id = PickVolume(rng, *oracle, false);
      ASSERT_OK(pool->DeleteVolume(id));
      oracle->erase(id);
    } else {
      ASSERT_OK(pool->Checkpoint());
    }
  }
}

cluster::RemoteStoreOptions Remote(const ContainerGeometry& g) {
  cluster::RemoteStoreOptions o;
  o.cluster = g;
  o.replicas = 2;
  o.timeout = std::chrono::seconds(3);
  return o;
}

TEST(RemoteStoreTest, RandomOperationsOverThreeNodesMatchTheOracle) {
  const uint64_t seed = 20261206;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  MemEnv env;
  const ContainerGeometry g = Geometry(7, 256);
  Nodes nodes(3, g);
  RemoteBlockStore store(Ring(nodes.ring(), 1), Remote(g));
  const PoolOptions o = ClusterPoolOptions(&env, &store);
  auto pool = Unwrap(Pool::Create("/pool", o));
  ASSERT_TRUE(pool);
  Oracle oracle;
  for (int round = 0; round < 6; ++round) {
    RandomOps(rng, pool.get(), &oracle, 150);
    if (HasFatalFailure()) return;
    ASSERT_EQ(CompareAll(*pool, oracle), "") << "round " << round;
    if (round % 2) {  // reopen: every index node read back from the nodes
      ASSERT_OK(pool->Close());
      pool = Unwrap(Pool::Open("/pool", o));
      ASSERT_EQ(CompareAll(*pool, oracle), "") << "after reopen, round " << round;
    }
  }
  ASSERT_OK(pool->VerifyRefcounts());
  CheckReport report;
  ASSERT_OK(pool->Check(true, &report));
  EXPECT_TRUE(report.clean()) << report.errors[0];
  EXPECT_TRUE(store.degraded().empty());
  uint64_t total = 0;
  for (int i = 0; i < 3; ++i) total += nodes.server(i).stats().writes;
  EXPECT_GT(total, 0u);
  // Deleting every volume gives the space back on the nodes: freed blocks
  // are punched a generation later and empty containers deleted.
  const uint64_t before = Unwrap(store.AllocatedBytes());
  for (const VolumeInfo& v : pool->ListVolumes()) ASSERT_OK(pool->DeleteVolume(v.id));
  for (int i = 0; i < 3; ++i) ASSERT_OK(pool->Checkpoint());
  const uint64_t after = Unwrap(store.AllocatedBytes());
  std::cout << "node bytes (both replicas): " << before << " with the volumes, " << after << " after deleting them\n";
  EXPECT_GT(before, 1u << 20);
  EXPECT_LT(after, before / 20);  // what is left: the volume table and container headers
  ASSERT_OK_AND_ASSIGN(PoolStats st, pool->Stats());
  EXPECT_EQ(st.data_bytes, 0u);
  ASSERT_OK(pool->Check(true, &report));
  EXPECT_TRUE(report.clean()) << report.errors[0];
  EXPECT_EQ(report.garbage_bytes, 0u);
}

TEST(RemoteStoreTest, WritesCrossTheNetworkInRunsOfAtMost512KiB) {
  MemEnv env;
  const ContainerGeometry g = Geometry(8, 1024);  // 4 MiB containers
  Nodes nodes(3, g);
  RemoteBlockStore store(Ring(nodes.ring(), 1), Remote(g));
  PoolOptions o = ClusterPoolOptions(&env, &store);
  o.container_size = 4 << 20;
  o.max_dirty_bytes = 64 << 20;
  auto pool = Unwrap(Pool::Create("/pool", o));
  VolumeId v = Unwrap(pool->CreateVolume(16 << 20));
  std::string data(16 << 20, '\0');
  std::mt19937_64 rng(5);
  for (char& c : data) c = static_cast<char>(rng());
  ASSERT_OK(pool->Write(v, 0, data));
  ASSERT_OK(pool->Checkpoint());
  uint64_t writes = 0, max = 0;
  for (int i = 0; i < 3; ++i) {
    writes += nodes.server(i).stats().writes;
    max = std::max(max, nodes.server(i).stats().max_write_bytes);
  }
  std::printf("16 MiB written: %llu write requests to the nodes (R = 2), the largest %llu bytes\n",
              static_cast<unsigned long long>(writes), static_cast<unsigned long long>(max));
  EXPECT_EQ(max, 512u * 1024);          // coalesced to the article's buffer, never more
  EXPECT_LE(writes, 2 * (16 * 2 + 8));  // ~32 runs of 512 KiB per replica, and the index
  std::string back(data.size(), '\0');
  ASSERT_OK(pool->Read(v, 0, back));
  EXPECT_TRUE(back == data);
}

TEST(RemoteStoreTest, ANodeDownLeavesReadsAndWritesGoingDegraded) {
  std::mt19937_64 rng(99);
  MemEnv env;
  const ContainerGeometry g = Geometry(9, 256);
  Nodes nodes(3, g);
  RemoteBlockStore store(Ring(nodes.ring(), 1), Remote(g));
  const PoolOptions o = ClusterPoolOptions(&env, &store);
  auto pool = Unwrap(Pool::Create("/pool", o));
  Oracle oracle;
  RandomOps(rng, pool.get(), &oracle, 200);
  ASSERT_OK(pool->Checkpoint());
  nodes.server(1).Stop();  // as kill -9: its connections drop, nothing answers
  // Reopen: every index node and block comes from the surviving replicas.
  ASSERT_OK(pool->Close());
  pool = Unwrap(Pool::Open("/pool", o));
  ASSERT_EQ(CompareAll(*pool, oracle), "");
  RandomOps(rng, pool.get(), &oracle, 200);
  ASSERT_OK(pool->Flush());
  ASSERT_OK(pool->Checkpoint());
  ASSERT_EQ(CompareAll(*pool, oracle), "");
  auto degraded = store.degraded();
  EXPECT_FALSE(degraded.empty());
  for (auto& [c, missing] : degraded) {
    EXPECT_EQ(missing, std::set<std::string>{nodes.ring()[1].name}) << "container " << c;
  }
}

// What `cluster fsck` finds on the nodes of `nodes`, with `store`'s and `env`'s misses.
cluster::ReplicaReport CheckNodes(Nodes& nodes, const ContainerGeometry& g, const Ring& ring,
                                  const RemoteBlockStore& store, const cluster::RemoteEnv& env) {
  std::vector<std::unique_ptr<cluster::NodeClient>> clients;
  cluster::ReplicaCheckOptions o;
  o.ring = &ring;
  o.replicas = 2;
  o.file_prefix = "/pools/";
  for (const RingNode& n : ring.nodes()) {
    clients.push_back(std::make_unique<cluster::NodeClient>(n.address, g, std::chrono::seconds(3), 1, n.name));
    o.nodes[n.name] = clients.back().get();
  }
  for (auto& [k, names] : store.degraded()) o.misses["container:" + std::to_string(k)] = names;
  for (auto& [path, names] : env.missed()) o.misses["file:" + path] = names;
  return Unwrap(cluster::CheckReplicas(o));
}

std::string Describe(const cluster::ReplicaReport& r) {
  std::string out;
  for (auto* list : {&r.missing, &r.degraded, &r.damaged, &r.differ, &r.unreachable}) {
    for (auto& e : *list) out += e + "\n";
  }
  return out;
}

// A node down while the pool is written misses changes of containers and
// files; back up, Repair() copies them back (while the pool goes on being
// written), the records go, and the check finds every copy whole and equal.
TEST(RemoteStoreTest, AReplicaThatMissedChangesIsRepairedWhenItIsBack) {
  const uint64_t seed = 31337;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const ContainerGeometry g = Geometry(14, 256);
  Nodes nodes(3, g);
  const Ring ring(nodes.ring(), 1);
  cluster::RemoteEnv env(ring, Remote(g));
  std::atomic<bool> held{true};  // the pool's writer lock, as the store sees it
  cluster::RemoteStoreOptions so = Remote(g);
  so.holds_lock = [&held] { return held.load(); };
  RemoteBlockStore store(ring, so);
  PoolOptions o = ClusterPoolOptions(nullptr, &store);
  o.env = &env;
  auto pool = Unwrap(Pool::Create("/pools/r", o));
  Oracle oracle;
  RandomOps(rng, pool.get(), &oracle, 150);
  ASSERT_OK(pool->Checkpoint());
  cluster::ReplicaReport before = CheckNodes(nodes, g, ring, store, env);
  EXPECT_TRUE(before.clean()) << Describe(before);
  EXPECT_GT(before.copies_verified, 0u);

  nodes.server(1).Stop();
  RandomOps(rng, pool.get(), &oracle, 200);
  ASSERT_OK(pool->Flush());
  ASSERT_OK(pool->Checkpoint());
  ASSERT_FALSE(store.degraded().empty());
  ASSERT_FALSE(env.missed().empty());  // the logs and superblock changed too
  cluster::RepairReport down = store.Repair();
  EXPECT_EQ(down.repaired, 0u);  // it is still down: nothing to do yet
  EXPECT_GT(down.left, 0u);

  nodes.Restart(1, g);
  cluster::ReplicaReport stale = CheckNodes(nodes, g, ring, store, env);
  EXPECT_FALSE(stale.clean());
  EXPECT_FALSE(stale.degraded.empty());
  // A holder that lost its lock (paused past its lease) may copy, but clears
  // no record: another holder may be writing meanwhile.
  held = false;
  cluster::RepairReport lost = store.Repair();
  EXPECT_EQ(lost.repaired, 0u);
  EXPECT_GT(lost.left, 0u);
  EXPECT_NE(lost.first_error.ToString().find("writer lock was lost"), std::string::npos) << lost.first_error.ToString();
  EXPECT_FALSE(store.degraded().empty());
  held = true;
  // Repair with writes going on (each container's writes wait for its copy).
  std::thread writer([&] { RandomOps(rng, pool.get(), &oracle, 100); });
  cluster::RepairReport blocks = store.Repair();
  cluster::RepairReport files = env.Repair();
  writer.join();
  EXPECT_EQ(blocks.left, 0u) << blocks.first_error.ToString();
  EXPECT_EQ(files.left, 0u) << files.first_error.ToString();
  EXPECT_GT(blocks.repaired, 0u);
  EXPECT_GT(files.repaired, 0u);
  EXPECT_TRUE(store.degraded().empty());
  EXPECT_TRUE(env.missed().empty());
  ASSERT_OK(pool->Flush());
  ASSERT_OK(pool->Checkpoint());
  cluster::ReplicaReport after = CheckNodes(nodes, g, ring, store, env);
  EXPECT_TRUE(after.clean()) << Describe(after);
  // The repaired node serves alone where it must: the others down in turn.
  for (int other : {0, 2}) {
    SCOPED_TRACE("node " + std::to_string(other) + " down");
    nodes.server(other).Stop();
    ASSERT_OK(pool->Close());
    pool = Unwrap(Pool::Open("/pools/r", o));
    EXPECT_EQ(CompareAll(*pool, oracle), "");
    nodes.Restart(other, g);  // it missed what the reopen wrote: repaired too
    EXPECT_EQ(store.Repair().left + env.Repair().left, 0u);
  }
  cluster::ReplicaReport last = CheckNodes(nodes, g, ring, store, env);
  EXPECT_TRUE(last.clean()) << Describe(last);
}

// Recovery never fills a node: a copy into a node that would be left with
// less than its reserve free is refused ("the copy waits"), the record stays
// for a later pass, and clients' writes are not held to the reserve.
TEST(RemoteStoreTest, ARepairWaitsRatherThanFillANode) {
  MemEnv env;
  const ContainerGeometry g = Geometry(20, 256);
  Nodes nodes(3, g);
  const Ring ring(nodes.ring(), 1);
  RemoteBlockStore store(ring, Remote(g));
  const PoolOptions o = ClusterPoolOptions(&env, &store);
  auto pool = Unwrap(Pool::Create("/pool", o));
  VolumeId v = Unwrap(pool->CreateVolume(4 << 20));
  std::string data(2 << 20, 'r');
  ASSERT_OK(pool->Write(v, 0, data));
  ASSERT_OK(pool->Checkpoint());
  nodes.server(1).Stop();
  std::string more(1 << 20, 'm');
  ASSERT_OK(pool->Write(v, 1 << 20, more));
  data.replace(1 << 20, more.size(), more);
  ASSERT_OK(pool->Checkpoint());
  ASSERT_FALSE(store.degraded().empty());
  // Back with a reserve larger than its file system's free space.
  const uint64_t free_now = std::filesystem::space(nodes.dir(1)).available;
  nodes.Restart(1, g, free_now + (uint64_t{1} << 30));
  cluster::RepairReport full = store.Repair();
  EXPECT_EQ(full.repaired, 0u);
  EXPECT_GT(full.left, 0u);
  EXPECT_EQ(full.first_error.code(), Code::kNoSpace) << full.first_error.ToString();
  EXPECT_NE(full.first_error.ToString().find("the copy waits"), std::string::npos) << full.first_error.ToString();
  EXPECT_EQ(nodes.server(1).stats().recovery_bytes, 0u) << "copied into a node with no room";
  EXPECT_FALSE(store.degraded().empty()) << "the records stay for a later pass";
  // Clients' writes go on (a full node refuses them on its own, ENOSPC).
  ASSERT_OK(pool->Write(v, 3 << 20, std::string(4096, 'c')));
  data.append(std::string((3 << 20) - data.size(), '\0')).append(4096, 'c');
  ASSERT_OK(pool->Flush());
  // With room again (restarted with its default reserve), the copies are made.
  nodes.server(1).Stop();
  nodes.Restart(1, g);
  cluster::RepairReport later = store.Repair();
  EXPECT_EQ(later.left, 0u) << later.first_error.ToString();
  EXPECT_TRUE(store.degraded().empty());
  std::string back(data.size(), '\0');
  ASSERT_OK(pool->Read(v, 0, back));
  EXPECT_TRUE(back == data);
}

// A node back after a short absence takes what changed while it was away,
// not the containers it missed changes of: the repair compares sums first.
TEST(RemoteStoreTest, ANodeBackAfterAShortAbsenceTakesOnlyWhatChanged) {
  const uint64_t seed = 4242;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  MemEnv env;
  const ContainerGeometry g = Geometry(16, 256);
  Nodes nodes(3, g);
  RemoteBlockStore store(Ring(nodes.ring(), 1), Remote(g));
  const PoolOptions o = ClusterPoolOptions(&env, &store);
  auto pool = Unwrap(Pool::Create("/pool", o));
  const uint64_t C = 16384, size = 1024 * C;  // 16 MiB over 16+ containers
  VolumeId v = Unwrap(pool->CreateVolume(size));
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(rng());  // no two blocks alike
  ASSERT_OK(pool->Write(v, 0, data));
  ASSERT_OK(pool->Checkpoint());
  const uint64_t held = Unwrap(store.AllocatedBytes());  // on the three nodes

  nodes.server(1).Stop();
  auto received = [&] { return nodes.server(0).stats().write_bytes + nodes.server(2).stats().write_bytes; };
  const uint64_t survivors_before = received();
  for (int i = 0; i < 12; ++i) {  // 12 blocks here and there
    std::string buf(C, '\0');
    for (char& c : buf) c = static_cast<char>(rng());
    const uint64_t off = (rng() % (size / C)) * C;
    ASSERT_OK(pool->Write(v, off, buf));
    data.replace(off, C, buf);
  }
  ASSERT_OK(pool->Flush());
  ASSERT_OK(pool->Checkpoint());
  // Every change node1 missed went to a survivor: an upper bound of what it lacks.
  const uint64_t meanwhile = received() - survivors_before;
  const size_t touched = store.degraded().size();
  ASSERT_GT(touched, 2u);

  nodes.Restart(1, g);
  RepairReport r = store.Repair();
  EXPECT_EQ(r.left, 0u) << r.first_error.ToString();
  EXPECT_EQ(r.repaired, touched);
  std::printf("short absence: %zu containers touched, %llu bytes written to the survivors, %llu copied back\n", touched,
              static_cast<unsigned long long>(meanwhile), static_cast<unsigned long long>(r.bytes));
  EXPECT_LE(r.bytes, meanwhile * 3 / 2) << "more than 1.5 x what was written meanwhile copied back";
  EXPECT_LT(r.bytes, touched * (g.container_units * 4096) / 4) << "whole containers copied again";
  EXPECT_LT(r.bytes, held / 20);
  // The bulk went as a recovery copy (throttled by the node), not under the lock.
  EXPECT_GT(nodes.server(1).stats().recovery_bytes, 0u);
  // And the copy is right: node1 serves what it shares with each other node alone.
  for (int other : {0, 2}) {
    SCOPED_TRACE("node " + std::to_string(other) + " down");
    nodes.server(other).Stop();
    ASSERT_OK(pool->Close());
    pool = Unwrap(Pool::Open("/pool", o));
    std::string back(size, '\0');
    ASSERT_OK(pool->Read(v, 0, back));
    EXPECT_TRUE(back == data);
    nodes.Restart(other, g);
  }
}

// A node limits the copies under way in and out (repairs', moves'); a
// client's requests are never limited; a copy over the limit is refused and
// its copier keeps the record for its next pass - it does not go on to copy
// under the lock, unthrottled.
// Regression (a boot storm of 25 clones through one gateway): every call
// without an idle connection opened a new one, the node closed those over
// its limit, and the calls failed with "no answer to hello" - EIO to the VMs.
// Calls over the client's limit now wait for a connection to come back.
TEST(RemoteStoreTest, ABurstOfCallsQueuesForConnectionsInsteadOfFailing) {
  const ContainerGeometry g = Geometry(21, 256);
  TempDir tmp;
  std::filesystem::create_directories(tmp.path());
  auto store = NewFileBlockStore(Env::Default(), tmp.path());
  ASSERT_OK(store->Attach(g));
  ContainerServerOptions o;
  o.name = "node0";
  o.geometry = g;
  o.max_connections = 4;
  ContainerServer server(store.get(), o);
  ASSERT_OK(server.Start());
  const std::string address = "127.0.0.1:" + std::to_string(server.port());
  NodeClient client(address, g, std::chrono::seconds(5), /*connections=*/4, "node0", /*max_in_flight=*/4);
  std::atomic<int> failed{0};
  std::string first_error;
  std::mutex error_mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < 24; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto r = client.Call(MakeRequest(ContainerOp::kList, 0, 0, 0));
        if (r.ok()) continue;
        if (failed++ == 0) {
          std::lock_guard<std::mutex> l(error_mu);
          first_error = r.status().ToString();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0) << first_error;
  EXPECT_EQ(server.stats().refused, 0u) << "the node closed connections over its limit";
}

TEST(RemoteStoreTest, ACopyOverANodesLimitWaitsForTheNextPass) {
  MemEnv env;
  const ContainerGeometry g = Geometry(17, 256);
  Nodes nodes(2, g);  // R = 2 over 2 nodes: every container on both
  RemoteBlockStore store(Ring(nodes.ring(), 1), Remote(g));
  const PoolOptions o = ClusterPoolOptions(&env, &store);
  auto pool = Unwrap(Pool::Create("/pool", o));
  VolumeId v = Unwrap(pool->CreateVolume(4 << 20));
  std::string data(4 << 20, '\0');
  std::mt19937_64 rng(5);
  for (char& c : data) c = static_cast<char>(rng());
  ASSERT_OK(pool->Write(v, 0, data));
  ASSERT_OK(pool->Checkpoint());

  // The limit, on a node's own terms.
  nodes.server(1).SetMaxMoves(1);
  NodeClient direct(nodes.ring()[1].address, g, std::chrono::seconds(3), 1, "node1");
  auto flagged = [](ContainerOp op, uint64_t container, uint32_t count) {
    cluster::ContainerRequest r = MakeRequest(op, container, 0, count);
    r.flags = cluster::kFlagRecovery;
    return r;
  };
  std::string unit(4096 + 8, '\0');
  const uint64_t sum = internal::Hash64(unit.data(), 4096);
  std::memcpy(unit.data() + 4096, &sum, 8);
  EXPECT_OK(direct.Call(flagged(ContainerOp::kWrite, 900, 1), unit).status());  // a copy in under way
  auto refused = direct.Call(flagged(ContainerOp::kWrite, 901, 1), unit);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.status().ToString().find("the limit"), std::string::npos) << refused.status().ToString();
  EXPECT_OK(direct.Call(MakeRequest(ContainerOp::kWrite, 901, 0, 1), unit).status());  // a client's: never held
  EXPECT_OK(direct.Call(flagged(ContainerOp::kReadSums, 900, 1)).status());            // a copy out: counted apart
  EXPECT_FALSE(direct.Call(flagged(ContainerOp::kReadSums, 901, 1)).ok());
  EXPECT_EQ(nodes.server(1).stats().moves_in_peak, 1u);
  EXPECT_EQ(nodes.server(1).stats().moves_out_peak, 1u);
  EXPECT_EQ(nodes.server(1).stats().moves_refused, 2u);
  std::this_thread::sleep_for(kMoveIdle * 2);  // idle: the copies ended
  EXPECT_OK(direct.Call(flagged(ContainerOp::kWrite, 901, 1), unit).status());
  ASSERT_OK(direct.Call(MakeRequest(ContainerOp::kDelete, 900, 0, 0)).status());
  ASSERT_OK(direct.Call(MakeRequest(ContainerOp::kDelete, 901, 0, 0)).status());

  // A repair that meets the limit leaves its record, copying nothing under the lock.
  nodes.server(1).Stop();
  std::string more(1 << 20, '\0');
  for (char& c : more) c = static_cast<char>(rng());
  ASSERT_OK(pool->Write(v, 1 << 20, more));
  data.replace(1 << 20, more.size(), more);
  ASSERT_OK(pool->Flush());
  ASSERT_OK(pool->Checkpoint());
  ASSERT_FALSE(store.degraded().empty());
  nodes.Restart(1, g);
  nodes.server(1).SetMaxMoves(1);
  NodeClient again(nodes.ring()[1].address, g, std::chrono::seconds(3), 1, "node1");
  EXPECT_OK(again.Call(flagged(ContainerOp::kWrite, 900, 1), unit).status());  // another copier's
  RepairReport busy = store.Repair();
  EXPECT_EQ(busy.repaired, 0u);
  EXPECT_GT(busy.left, 0u);
  EXPECT_NE(busy.first_error.ToString().find("the limit"), std::string::npos) << busy.first_error.ToString();
  EXPECT_EQ(nodes.server(1).stats().recovery_bytes, unit.size()) << "copied in spite of the limit";
  EXPECT_EQ(nodes.server(1).stats().write_bytes, 4096u) << "copied without the limit's leave";
  std::this_thread::sleep_for(kMoveIdle * 2);
  // One copy after another: each copy's end frees its place at once.
  RepairReport later = store.Repair();
  EXPECT_EQ(later.left, 0u) << later.first_error.ToString();
  EXPECT_GT(later.repaired, 0u);
  EXPECT_TRUE(store.degraded().empty());
  ASSERT_OK(again.Call(MakeRequest(ContainerOp::kDelete, 900, 0, 0)).status());
  // node1 alone has it all.
  nodes.server(0).Stop();
  ASSERT_OK(pool->Close());
  pool = Unwrap(Pool::Open("/pool", o));
  std::string back(data.size(), '\0');
  ASSERT_OK(pool->Read(v, 0, back));
  EXPECT_TRUE(back == data);
}

// The article's client-side index cache, counted: a clone of a clone of a
// clone reads like the original - one index lookup (the same number of
// index nodes at any depth of cloning), and once the index is warm one
// round trip to the nodes per read (the data), none for the index.
TEST(RemoteStoreTest, AWarmReadOfAnyCloneCostsOneRoundTrip) {
  MemEnv env;
  const ContainerGeometry g = Geometry(15, 256);
  Nodes nodes(3, g);
  RemoteBlockStore store(Ring(nodes.ring(), 1), Remote(g));
  const PoolOptions o = ClusterPoolOptions(&env, &store);
  auto pool = Unwrap(Pool::Create("/pool", o));
  const uint64_t C = 16384, size = 512 * C;  // 8 MiB
  VolumeId v = Unwrap(pool->CreateVolume(size));
  std::string data(size, '\0');
  std::mt19937_64 rng(77);
  for (char& c : data) c = static_cast<char>(rng());
  ASSERT_OK(pool->Write(v, 0, data));
  // gold -> snapshot -> clone -> snapshot -> clone ... five deep; each clone
  // overwrites one cluster of its own.
  std::vector<std::pair<std::string, VolumeId>> chain = {{"original", v}};
  VolumeId last = v;
  for (int depth = 1; depth <= 5; ++depth) {
    VolumeId snap = Unwrap(pool->Snapshot(last));
    last = Unwrap(pool->Clone(snap));
    ASSERT_OK(pool->Write(last, depth * C, std::string(C, static_cast<char>('a' + depth))));
    chain.push_back({"snapshot " + std::to_string(depth), snap});
    chain.push_back({"clone of a clone, depth " + std::to_string(depth), last});
  }
  ASSERT_OK(pool->Checkpoint());
  ASSERT_OK(pool->Close());
  pool = Unwrap(Pool::Open("/pool", o));  // cold: no index node cached
  std::string buf(4096, '\0');
  uint64_t block = 100;
  for (auto& [name, id] : chain) {
    SCOPED_TRACE(name);
    ReadStats cold;
    const uint64_t before = store.round_trips();
    ASSERT_OK(pool->Read(id, block * C, buf, &cold));
    const uint64_t cold_trips = store.round_trips() - before;
    EXPECT_EQ(buf, data.substr(block * C, 4096));
    // Another cluster under the same index leaf: the index is warm now.
    ReadStats warm;
    const uint64_t mid = store.round_trips();
    ASSERT_OK(pool->Read(id, (block + 1) * C, buf, &warm));
    EXPECT_EQ(store.round_trips() - mid, 1u) << "a warm read crosses the network once, for its data";
    EXPECT_EQ(buf, data.substr((block + 1) * C, 4096));
    EXPECT_EQ(warm.nodes_visited, cold.nodes_visited) << "one lookup whatever the depth of cloning";
    EXPECT_LE(cold_trips, cold.nodes_visited + 1);
    std::printf("%-28s first read after open: %llu round trips (%llu index nodes); then 1\n", name.c_str(),
                static_cast<unsigned long long>(cold_trips), static_cast<unsigned long long>(cold.nodes_visited));
    block += 8;
  }
  // The same index depth at every level: no chain is walked.
  ReadStats first, deepest;
  ASSERT_OK(pool->Read(chain.front().second, 0, buf, &first));
  ASSERT_OK(pool->Read(chain.back().second, 0, buf, &deepest));
  EXPECT_EQ(first.nodes_visited, deepest.nodes_visited);
}

// A gateway that lost its pool's writer lock (paused past its lease, say)
// while another took it: the nodes refuse its changes by its smaller fence,
// and the refusal is not taken for a replica that missed a write.
TEST(RemoteStoreTest, NodesRefuseTheChangesOfAnOlderLockHolder) {
  const ContainerGeometry g = Geometry(9, 256);
  Nodes nodes(3, g);
  auto holder = [&](uint64_t pool, uint64_t fence) {
    cluster::RemoteStoreOptions o = Remote(g);
    o.container_base = pool << cluster::kPoolSpanBits;
    o.container_span = uint64_t{1} << cluster::kPoolSpanBits;
    o.fence = fence;
    auto s = std::make_unique<RemoteBlockStore>(Ring(nodes.ring(), 1), o);
    EXPECT_OK(s->Attach(g));
    return s;
  };
  auto old_holder = holder(3, 5), new_holder = holder(3, 7), other_pool = holder(4, 1);
  const std::string unit(4096, 'v');
  const uint64_t sum = vmstore::internal::Hash64(unit.data(), unit.size());
  auto write = [&](RemoteBlockStore& s) {
    return s.WriteBlocks({UnitWrite{BlockAddress(0, 0), unit.data(), 1, &sum}});
  };
  ASSERT_OK(write(*old_holder));  // fence 5, the newest the nodes have seen
  ASSERT_OK(write(*new_holder));  // fence 7 takes over
  Status s = write(*old_holder);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.ToString().find("fenced: pool 3's writer lock has a newer holder (fence 5 < 7)"), std::string::npos)
      << s.ToString();
  EXPECT_EQ(old_holder->Punch(BlockAddress(0, 0), 1).code(), Code::kFailedPrecondition);
  EXPECT_TRUE(old_holder->degraded().empty());  // a refusal is not a miss
  ASSERT_OK(write(*other_pool));                // fences are per pool
  ASSERT_OK(write(*new_holder));
  std::string back(4096, '\0');
  ASSERT_OK(new_holder->ReadUnits(BlockAddress(0, 0), 1, back.data()));
  EXPECT_EQ(back, unit);
}

// A copy on a node the ring does not place the container on (an old owner
// within its stray grace, a node back from being out): a delete takes it
// too, and while no owner holds the container it is read there rather than
// taken for gone (the fault run found such strays outliving their objects).
TEST(RemoteStoreTest, AStrayCopyGoesWithItsContainerAndIsReadWhenNoOwnerHoldsIt) {
  const ContainerGeometry g = Geometry(17, 256);
  Nodes nodes(3, g);
  const Ring ring(nodes.ring(), 1);
  RemoteBlockStore store(ring, Remote(g));
  ASSERT_OK(store.Attach(g));
  const std::string unit(4096, 's');
  const uint64_t sum = vmstore::internal::Hash64(unit.data(), unit.size());
  std::vector<std::unique_ptr<NodeClient>> direct;
  for (const RingNode& n : nodes.ring()) {
    direct.push_back(std::make_unique<NodeClient>(n.address, g, std::chrono::seconds(3), 1, n.name));
  }
  auto index = [&](const RingNode* n) { return static_cast<size_t>(n->name.back() - '0'); };
  auto holds = [&](size_t node, uint64_t c) {
    auto l = direct[node]->Call(MakeRequest(ContainerOp::kList, 0, 0, 0));
    EXPECT_OK(l.status());
    const std::vector<uint64_t> v = l.ok() ? DecodeU64List(*l) : std::vector<uint64_t>{};
    return std::count(v.begin(), v.end(), c) > 0;
  };
  for (uint64_t c : {5u, 6u}) {
    ASSERT_OK(store.WriteBlocks({UnitWrite{BlockAddress(c, 3), unit.data(), 1, &sum}}));
    std::vector<const RingNode*> owners = ring.Place(c, 2);
    ASSERT_EQ(owners.size(), 2u);
    const size_t stray = 3 - index(owners[0]) - index(owners[1]);
    // The stray: the owners' copy written to the third node as a move would.
    std::string range;
    cluster::AppendU64List(&range, {0, 1});
    std::string part = Unwrap(direct[index(owners[0])]->Call(MakeRequest(ContainerOp::kReadBlockPart, c, 3, 1), range));
    ASSERT_OK(direct[stray]->Call(MakeRequest(ContainerOp::kWrite, c, 3, 1), part).status());
    ASSERT_TRUE(holds(stray, c));
    if (c == 5) {
      // Deleted through the store: the stray goes with the owners' copies.
      ASSERT_OK(store.DeleteContainer(c));
      for (size_t n = 0; n < 3; ++n) EXPECT_FALSE(holds(n, c)) << "node" << n << " kept container " << c;
    } else {
      // The owners' copies gone (as if never copied there): read on the stray.
      for (const RingNode* o : owners) {
        ASSERT_OK(direct[index(o)]->Call(MakeRequest(ContainerOp::kDelete, c, 0, 0)).status());
      }
      std::string back(4096, '\0');
      ASSERT_OK(store.ReadUnits(BlockAddress(c, 3), 1, back.data()));
      EXPECT_EQ(back, unit);
      EXPECT_OK(store.CheckHeader(c));
    }
  }
}

// A gateway that missed a ring change cannot write by the old placement
// once the nodes know the new ring: the node refuses ("stale ring:"), the
// gateway loads the ring again and places the change again.
TEST(RemoteStoreTest, AChangePlacedByAnOlderRingIsRefusedAndPlacedAgain) {
  const ContainerGeometry g = Geometry(18, 256);
  Nodes nodes(3, g);
  cluster::RingRecord old_ring;
  old_ring.epoch = 4;
  old_ring.members = nodes.ring();
  auto view = std::make_shared<cluster::RingView>(old_ring);
  int refreshed = 0;
  cluster::RemoteStoreOptions o = Remote(g);
  RemoteBlockStore plain(view, o);
  o.refresh_ring = [&]() -> Status {
    ++refreshed;
    cluster::RingRecord now = old_ring;
    now.epoch = 6;  // what etcd says now
    view->Update(now);
    return Status::OK();
  };
  RemoteBlockStore store(view, o);
  ASSERT_OK(store.Attach(g));
  const std::string unit(4096, 'e');
  const uint64_t sum = vmstore::internal::Hash64(unit.data(), unit.size());
  auto write = [&](RemoteBlockStore& s, uint64_t c) {
    return s.WriteBlocks({UnitWrite{BlockAddress(c, 0), unit.data(), 1, &sum}});
  };
  ASSERT_OK(write(store, 1));  // epoch 4 everywhere: taken
  EXPECT_EQ(refreshed, 0);
  for (int i = 0; i < 3; ++i) nodes.server(i).SetRingEpoch(6);  // the nodes learn the new ring first
  Status refused = write(plain, 2);                             // no way to load the ring: refused, unacknowledged
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition) << refused.ToString();
  EXPECT_NE(refused.message().find("stale ring: the change was placed by ring epoch 4, node"), std::string::npos)
      << refused.ToString();
  EXPECT_TRUE(plain.degraded().empty()) << "a refusal is not a miss";
  ASSERT_OK(write(store, 3));  // refused, the ring loaded again, placed again
  EXPECT_EQ(refreshed, 1);
  EXPECT_EQ(view->epoch(), 6u);
  EXPECT_TRUE(store.degraded().empty());
  std::string back(4096, '\0');
  ASSERT_OK(store.ReadUnits(BlockAddress(3, 0), 1, back.data()));
  EXPECT_EQ(back, unit);
  // A request carrying a newer epoch than a node knows raises the node's.
  cluster::RingRecord newer = old_ring;
  newer.epoch = 9;
  RemoteBlockStore ahead(std::make_shared<cluster::RingView>(newer), Remote(g));
  ASSERT_OK(write(ahead, 4));
  int raised = 0;
  for (int i = 0; i < 3; ++i) raised += nodes.server(i).ring_epoch() == 9;
  EXPECT_GE(raised, 2);  // the container's owners
  EXPECT_EQ(write(plain, 4).code(), Code::kFailedPrecondition);
}

// How a move compares a new owner's copy with an old owner's: by content -
// the units (file chunks) that differ, a unit of zeros the same as a hole.
TEST(RemoteStoreTest, CopiesDifferByUnitsNotByLayout) {
  const ContainerGeometry g = Geometry(19, 256);
  Nodes nodes(2, g);
  NodeClient a(nodes.ring()[0].address, g, std::chrono::seconds(3), 1, "node0");
  NodeClient b(nodes.ring()[1].address, g, std::chrono::seconds(3), 1, "node1");
  auto unit = [](char fill) {
    std::string u(4096 + 8, fill);
    const uint64_t sum = vmstore::internal::Hash64(u.data(), 4096);
    std::memcpy(u.data() + 4096, &sum, 8);
    return u;
  };
  auto write = [&](NodeClient& n, uint64_t u, char fill) {
    ASSERT_OK(n.Call(MakeRequest(ContainerOp::kWrite, 7, u, 1), unit(fill)).status());
  };
  for (NodeClient* n : {&a, &b}) {
    write(*n, 0, 'x');
    write(*n, 1, 'y');
  }
  EXPECT_TRUE(cluster::CopyDifferences(&a, &b, "container:7", 7).differ.empty());
  write(b, 1, 'z');   // stale on a
  write(a, 5, '\0');  // zeros on a, a hole on b: the same
  cluster::CopyDiff d = cluster::CopyDifferences(&a, &b, "container:7", 7);
  EXPECT_OK(d.a_error);
  EXPECT_OK(d.b_error);
  EXPECT_EQ(d.differ, std::set<uint64_t>{1});
  // No copy on one side: its error, not a difference.
  d = cluster::CopyDifferences(&a, &b, "container:8", 8);
  EXPECT_EQ(d.a_error.code(), Code::kNotFound) << d.a_error.ToString();
  // Files: by 64 KiB chunk, and their sizes.
  const std::string name = cluster::FileNamePayload("pool-1/f");
  auto file_write = [&](NodeClient& n, uint64_t at, const std::string& data) {
    ASSERT_OK(n.Call(MakeRequest(ContainerOp::kFileWrite, 0, at, 0), name + data).status());
  };
  file_write(a, 0, std::string(200000, 'f'));
  file_write(b, 0, std::string(200000, 'f'));
  EXPECT_TRUE(cluster::CopyDifferences(&a, &b, "file:pool-1/f", 1).differ.empty());
  file_write(b, 70000, "g");
  EXPECT_EQ(cluster::CopyDifferences(&a, &b, "file:pool-1/f", 1).differ, std::set<uint64_t>{1});
  file_write(a, 200000, "h");
  EXPECT_EQ(cluster::CopyDifferences(&a, &b, "file:pool-1/f", 1).differ, (std::set<uint64_t>{1, 3, UINT64_MAX}));
}

// The newest fence per pool survives a node restart (a gateway that lost its
// lock cannot write to a node that restarted in between), and a damaged
// fence record stops the node from starting rather than being forgotten.
TEST(RemoteStoreTest, ANodeKeepsItsFencesAcrossARestart) {
  TempDir tmp;
  const ContainerGeometry g = Geometry(16, 256);
  auto store = NewFileBlockStore(Env::Default(), tmp.path() + "/c");
  std::filesystem::create_directories(tmp.path() + "/c");
  ASSERT_OK(store->Attach(g));
  ContainerServerOptions o;
  o.name = "solo";
  o.geometry = g;
  o.env = Env::Default();
  o.fences_dir = tmp.path() + "/fences";
  auto server = std::make_unique<ContainerServer>(store.get(), o);
  ASSERT_OK(server->Start());
  auto writer = [&](uint64_t fence) {
    cluster::RemoteStoreOptions ro = Remote(g);
    ro.replicas = 1;
    ro.container_base = uint64_t{3} << cluster::kPoolSpanBits;
    ro.container_span = uint64_t{1} << cluster::kPoolSpanBits;
    ro.fence = fence;
    auto s = std::make_unique<RemoteBlockStore>(
        Ring({{"solo", "127.0.0.1:" + std::to_string(server->port()), "", 1}}, 1), ro);
    EXPECT_OK(s->Attach(g));
    return s;
  };
  const std::string unit(4096, 'f');
  const uint64_t sum = vmstore::internal::Hash64(unit.data(), unit.size());
  auto write = [&](uint64_t fence) {
    return writer(fence)->WriteBlocks({UnitWrite{BlockAddress(0, 0), unit.data(), 1, &sum}});
  };
  ASSERT_OK(write(5));
  ASSERT_OK(write(9));
  o.listen = "127.0.0.1:" + std::to_string(server->port());
  server.reset();  // the node restarts
  server = std::make_unique<ContainerServer>(store.get(), o);
  ASSERT_OK(server->Start());
  Status old = write(5);
  EXPECT_TRUE(cluster::IsFenced(old)) << old.ToString();
  ASSERT_OK(write(9));
  // A damaged record: the node does not start (it would forget the fence).
  server.reset();
  {
    std::fstream f(o.fences_dir + "/3", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(2);
    f.put('\x77');
  }
  server = std::make_unique<ContainerServer>(store.get(), o);
  Status start = server->Start();
  EXPECT_EQ(start.code(), Code::kCorruption) << start.ToString();
  EXPECT_NE(start.ToString().find("the fence record " + o.fences_dir + "/3 is damaged"), std::string::npos)
      << start.ToString();
}

TEST(RemoteStoreTest, ADamagedReplicaIsReadFromTheOtherAndCounted) {
  MemEnv env;
  const ContainerGeometry g = Geometry(10, 256);
  Nodes nodes(2, g);  // R = 2 over 2 nodes: every container on both
  RemoteBlockStore store(Ring(nodes.ring(), 1), Remote(g));
  const PoolOptions o = ClusterPoolOptions(&env, &store);
  auto pool = Unwrap(Pool::Create("/pool", o));
  VolumeId v = Unwrap(pool->CreateVolume(1 << 20));
  std::string data(1 << 20, 'q');
  ASSERT_OK(pool->Write(v, 0, data));
  ASSERT_OK(pool->Checkpoint());
  // Flip one byte of every data unit in the primary's first container.
  const uint64_t container = 1;
  const std::string file = nodes.dir(0) + "/" + [] {
    char b[32];
    std::snprintf(b, sizeof b, "%09llx.ctr", 1ull);
    return std::string(b);
  }();
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good()) << file;
    const uint64_t data_start = 4096 + ((256 * 8 + 4095) / 4096) * 4096;
    for (uint64_t u = 0; u < 256; ++u) {
      f.seekg(static_cast<std::streamoff>(data_start + u * 4096 + 100));
      char c = 0;
      f.read(&c, 1);
      if (!f) break;
      f.seekp(static_cast<std::streamoff>(data_start + u * 4096 + 100));
      c = static_cast<char>(c ^ 0x5a);
      f.write(&c, 1);
    }
  }
  ASSERT_OK(pool->Close());  // drop cached nodes: everything read again
  pool = Unwrap(Pool::Open("/pool", o));
  std::string back(data.size(), '\0');
  ASSERT_OK(pool->Read(v, 0, back));
  EXPECT_TRUE(back == data);
  EXPECT_GT(nodes.server(0).stats().corrupt_units + nodes.server(1).stats().corrupt_units, 0u)
      << "the damage was never seen";
  // The read recorded the damaged copy (it is no longer read) and the repair
  // pass copies the good one over it: every unit of node0's copy reads again.
  auto degraded = store.degraded();
  ASSERT_EQ(degraded.count(container), 1u);
  EXPECT_EQ(degraded[container], std::set<std::string>{"node0"});
  RepairReport repaired = store.Repair();
  EXPECT_GE(repaired.repaired, 1u) << repaired.first_error.ToString();
  EXPECT_TRUE(store.degraded().empty());
  NodeClient direct(nodes.ring()[0].address, g, std::chrono::seconds(3), 1, "node0");
  const std::vector<uint64_t> ranges =
      DecodeU64List(Unwrap(direct.Call(MakeRequest(ContainerOp::kAllocatedUnits, container, 0, 0))));
  ASSERT_FALSE(ranges.empty());
  for (size_t i = 0; i + 1 < ranges.size(); i += 2) {
    EXPECT_OK(direct
                  .Call(MakeRequest(ContainerOp::kReadUnits, container, ranges[i],
                                    static_cast<uint32_t>(ranges[i + 1] - ranges[i])))
                  .status());
  }
}

TEST(RemoteStoreTest, ANodeOfAnotherClusterIsRefused) {
  MemEnv env;
  Nodes nodes(2, Geometry(11, 256));
  RemoteBlockStore store(Ring(nodes.ring(), 1), Remote(Geometry(12, 256)));
  auto created = Pool::Create("/pool", ClusterPoolOptions(&env, &store));
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.status().message().find("belongs to cluster"), std::string::npos) << created.status().ToString();
  // And a pool whose containers are of another size is refused before any call.
  RemoteBlockStore other(Ring(nodes.ring(), 1), Remote(Geometry(11, 512)));
  auto sized = Pool::Create("/pool2", ClusterPoolOptions(&env, &other));
  EXPECT_EQ(sized.status().code(), Code::kInvalidArgument) << sized.status().ToString();
}

// The writes of the crash test: `n` writes of random bytes into a 2 MiB volume.
std::vector<std::pair<uint64_t, std::string>> Writes(uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  std::vector<std::pair<uint64_t, std::string>> w;
  for (int i = 0; i < n; ++i) {
    const uint64_t off = rng() % (2 << 20), len = 1 + rng() % std::min<uint64_t>((2 << 20) - off, 100000);
    std::string d(len, '\0');
    for (char& c : d) c = static_cast<char>(rng());
    w.emplace_back(off, std::move(d));
  }
  return w;
}

TEST(RemoteStoreTest, APoolLivesOnTheNodesAndAnotherGatewayOpensItAfterACrash) {
  const uint64_t seed = 4242;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  const ContainerGeometry g = Geometry(13, 256);
  Nodes nodes(3, g);
  const auto writes = Writes(seed, 70);
  const int flushed = 60;  // the first 60 are flushed; the last 10 may or may not be in
  auto options = [&](Env* env, BlockStore* store) {
    PoolOptions o = ClusterPoolOptions(nullptr, store);
    o.env = env;
    o.max_dirty_bytes = 1 << 20;  // checkpoints on the way
    return o;
  };
  // Gateway 1, in a child process that dies without closing the pool (as kill -9).
  const pid_t child = ::fork();
  if (child == 0) {
    cluster::RemoteEnv env(Ring(nodes.ring(), 1), Remote(g));
    RemoteBlockStore store(Ring(nodes.ring(), 1), Remote(g));
    auto pool = Pool::Create("/pools/vm1", options(&env, &store));
    if (!pool.ok()) ::_exit(2);
    auto v = (*pool)->CreateVolume(2 << 20);
    if (!v.ok()) ::_exit(3);
    for (int i = 0; i < static_cast<int>(writes.size()); ++i) {
      if (!(*pool)->Write(*v, writes[i].first, writes[i].second).ok()) ::_exit(4);
      if (i + 1 == flushed && !(*pool)->Flush().ok()) ::_exit(5);
    }
    ::_exit(0);  // no Close: the log buffer and memory are lost
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "gateway 1 failed: " << status;
  // Gateway 2: only the nodes to go on.
  cluster::RemoteEnv env(Ring(nodes.ring(), 1), Remote(g));
  RemoteBlockStore store(Ring(nodes.ring(), 1), Remote(g));
  auto pool = Unwrap(Pool::Open("/pools/vm1", options(&env, &store)));
  ASSERT_TRUE(pool);
  std::string got(2 << 20, '\0');
  ASSERT_OK(pool->Read(1, 0, got));
  std::string state(2 << 20, '\0');
  int match = -1;
  for (int i = 0; i < static_cast<int>(writes.size()); ++i) {
    state.replace(writes[i].first, writes[i].second.size(), writes[i].second);
    if (i + 1 >= flushed && got == state) match = i + 1;
  }
  EXPECT_GE(match, flushed) << "the reopened pool holds no prefix that includes every flushed write";
  std::printf("reopened by another gateway: the first %d of %zu writes (%d flushed)\n", match, writes.size(), flushed);
  CheckReport report;
  ASSERT_OK(pool->Check(true, &report));
  EXPECT_TRUE(report.clean()) << report.errors[0];
  // Every file of the pool is on two nodes.
  auto names = Unwrap(env.ListDir("/pools/vm1"));
  EXPECT_NE(std::find(names.begin(), names.end(), "superblock"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "wal"), names.end());
  EXPECT_TRUE(env.missed().empty());
}

}  // namespace
}  // namespace vmstore::testing
