#include "gateway/move.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <thread>

#include "cluster/lock_keeper.h"
#include "cluster/remote_block_store.h"
#include "cluster/remote_env.h"
#include "cluster/replica_check.h"
#include "cluster/writer_lock.h"
#include "util/log.h"

namespace vmstore::gateway {
namespace {

using cluster::NodeClient;
using cluster::RingNode;

// Every node of `ring` (and of its previous members), with a client each.
struct Clients {
  std::vector<std::unique_ptr<NodeClient>> owned;
  std::map<std::string, NodeClient*> by_name;
};
Clients ClientsFor(const ClusterContext& ctx, const cluster::RingView::State& st) {
  Clients c;
  for (const RingNode* n : st.AllNodes()) {
    c.owned.push_back(std::make_unique<NodeClient>(
        n->address, ContainerGeometry{ctx.cluster.uuid, ctx.cluster.container_units}, ctx.node_timeout, 2, n->name));
    c.by_name[n->name] = c.owned.back().get();
  }
  return c;
}

std::set<std::string> Names(const std::vector<const RingNode*>& nodes) {
  std::set<std::string> out;
  for (const RingNode* n : nodes) out.insert(n->name);
  return out;
}

// The ring key of a miss record's object, or false for a name of neither kind.
bool KeyOf(const std::string& object, uint64_t* key) {
  if (object.rfind("file:", 0) == 0) {
    *key = cluster::FileKey(object.substr(5));
    return true;
  }
  if (object.rfind("container:", 0) != 0) return false;
  const char* b = object.data() + 10;
  const char* e = object.data() + object.size();
  auto [end, ec] = std::from_chars(b, e, *key);
  return ec == std::errc() && end == e;
}

// The nodes that own `key` under `next` and did not under `prev`.
std::vector<std::string> Added(const cluster::Ring& prev, const cluster::Ring& next, uint64_t key, int replicas) {
  const std::set<std::string> before = Names(prev.Place(key, replicas));
  std::vector<std::string> out;
  for (const RingNode* n : next.Place(key, replicas)) {
    if (!before.count(n->name)) out.push_back(n->name);
  }
  return out;
}

Status Record(cluster::Etcd& etcd, const std::string& object, const std::string& node) {
  ASSIGN_OR_RETURN(uint64_t pool, cluster::PoolOfObject(object));
  return cluster::NewEtcdMissLog(&etcd, cluster::PoolMissPrefix(pool))->Record(object, node);
}

bool SamePlacement(const std::vector<RingNode>& a, const std::vector<RingNode>& b) {
  auto key = [](const std::vector<RingNode>& v) {
    std::map<std::string, std::pair<std::string, uint32_t>> m;
    for (const RingNode& n : v) m[n.name] = {n.zone, n.weight};
    return m;
  };
  return key(a) == key(b);
}

// The miss records (object -> nodes) naming nodes that `ring` does not
// place their objects on.
std::map<std::string, std::set<std::string>> RecordsOfNonOwners(
    const cluster::Ring& ring, int replicas, const std::map<std::string, std::set<std::string>>& misses) {
  std::map<std::string, std::set<std::string>> out;
  for (auto& [object, nodes] : misses) {
    uint64_t key = 0;
    if (!KeyOf(object, &key)) continue;
    const std::set<std::string> owners = Names(ring.Place(key, replicas));
    for (const std::string& n : nodes) {
      if (!owners.count(n)) out[object].insert(n);
    }
  }
  return out;
}

void ClearRecords(cluster::Etcd* etcd, const std::map<std::string, std::set<std::string>>& records) {
  for (auto& [object, nodes] : records) {
    auto pool = cluster::PoolOfObject(object);
    if (!pool.ok()) continue;
    for (const std::string& n : nodes) {
      (void)cluster::NewEtcdMissLog(etcd, cluster::PoolMissPrefix(*pool))->Clear(object, n);
    }
  }
}

void ClearRecordsOfNonOwners(cluster::Etcd* etcd, const cluster::Ring& ring, int replicas,
                             const std::map<std::string, std::set<std::string>>& misses) {
  ClearRecords(etcd, RecordsOfNonOwners(ring, replicas, misses));
}

}  // namespace

StatusOr<cluster::RingRecord> CancelMove(const std::shared_ptr<ClusterContext>& ctx) {
  ASSIGN_OR_RETURN(cluster::RingRecord ring, cluster::LoadRing(*ctx->etcd));
  if (!ring.moving()) return FailedPrecondition("no move is under way (ring epoch " + std::to_string(ring.epoch) + ")");
  cluster::RingRecord back = ring;
  back.members = ring.previous;
  back.previous.clear();
  ASSIGN_OR_RETURN(bool won, cluster::PutRing(*ctx->etcd, back));
  if (!won) return FailedPrecondition("the ring changed meanwhile; look again (vmstore cluster status)");
  ASSIGN_OR_RETURN(cluster::RingRecord now, cluster::LoadRing(*ctx->etcd));
  ctx->ring->Update(now);
  // The old owners were written all along; what the move recorded for the
  // new ones names nothing now.
  ASSIGN_OR_RETURN(auto misses, cluster::LoadAllMisses(ctx->etcd.get()));
  ClearRecordsOfNonOwners(ctx->etcd.get(), now.ring(), ctx->cluster.replicas, misses);
  (void)cluster::DeleteMove(*ctx->etcd);  // its progress; status ignores a stale one
  logging::Info("move", "cancelled", {{"epoch", now.epoch}});
  return now;
}

uint64_t WaitingCopies(const cluster::RingRecord& ring, int replicas,
                       const std::map<std::string, std::set<std::string>>& misses,
                       const std::map<std::string, cluster::ListedObject>* sizes, uint64_t* bytes) {
  if (!ring.moving()) return 0;
  const cluster::Ring cur = ring.ring(), prev = ring.previous_ring();
  uint64_t n = 0;
  for (auto& [object, nodes] : misses) {
    uint64_t key = 0;
    if (!KeyOf(object, &key)) continue;
    for (const std::string& a : Added(prev, cur, key, replicas)) {
      if (!nodes.count(a)) continue;
      ++n;
      if (sizes && bytes) {
        auto it = sizes->find(object);
        if (it != sizes->end()) *bytes += it->second.bytes;
      }
    }
  }
  return n;
}

StatusOr<MoveStart> StartMove(const std::shared_ptr<ClusterContext>& ctx, std::vector<RingNode> members) {
  RETURN_IF_ERROR(cluster::Ring::Validate(members));
  if (members.empty()) return FailedPrecondition("the ring would have no storage node left");
  if (static_cast<int>(members.size()) < ctx->cluster.replicas) {
    return FailedPrecondition("the cluster keeps " + std::to_string(ctx->cluster.replicas) +
                              " copies of everything; the ring would have " + std::to_string(members.size()) +
                              " node(s)");
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    ASSIGN_OR_RETURN(cluster::RingRecord ring, cluster::LoadRing(*ctx->etcd));
    if (ring.moving()) {
      return FailedPrecondition("a move is under way (ring epoch " + std::to_string(ring.epoch) + ", from epoch " +
                                std::to_string(ring.previous_epoch) +
                                "); it must end first (`vmstore cluster status` shows it)");
    }
    MoveStart out;
    if (SamePlacement(ring.members, members)) {
      out.ring = ring;
      return out;  // nothing moves (an address changes through JoinRing)
    }
    cluster::RingRecord next = ring;
    next.members = members;
    next.previous = ring.members;
    next.previous_epoch = ring.epoch;
    cluster::RingView view(next);
    auto st = view.Get();
    Clients clients = ClientsFor(*ctx, *st);
    std::map<std::string, Status> down;
    ASSIGN_OR_RETURN(auto objects, cluster::ListObjects(clients.by_name, "pool-", &down, /*sizes=*/true));
    for (auto& [name, why] : down) {
      logging::Warn("move", "node not listed (its objects are found on their other copies)",
                    {{"node", name}, {"error", why.ToString()}});
    }
    const cluster::Ring cur = ring.ring(), nxt(members, ring.epoch + 1);
    out.objects = objects.size();
    for (auto& [object, o] : objects) {
      const std::vector<std::string> added = Added(cur, nxt, o.key, ctx->cluster.replicas);
      if (added.empty()) continue;
      ++out.moving;
      for (const std::string& n : added) {
        RETURN_IF_ERROR(Record(*ctx->etcd, object, n));
        ++out.recorded;
        out.bytes += o.bytes;
      }
    }
    ASSIGN_OR_RETURN(bool won, cluster::PutRing(*ctx->etcd, next));
    if (!won) continue;  // the ring changed meanwhile: look again
    ASSIGN_OR_RETURN(out.ring, cluster::LoadRing(*ctx->etcd));
    ctx->ring->Update(out.ring);
    cluster::MoveRecord m;
    m.epoch = out.ring.epoch;
    m.started_ns = m.updated_ns = Env::Default()->NowNanos();
    m.copies = m.copies_left = out.recorded;
    m.bytes = m.bytes_left = out.bytes;
    if (Status s = cluster::PutMove(*ctx->etcd, m); !s.ok()) {
      logging::Warn("move", "its progress is not recorded", {{"error", s.ToString()}});
    }
    logging::Info("move", "started",
                  {{"epoch", out.ring.epoch},
                   {"objects", out.objects},
                   {"moving", out.moving},
                   {"copies", out.recorded},
                   {"bytes", out.bytes}});
    return out;
  }
  return FailedPrecondition("the ring kept changing while the move started (5 tries)");
}

void MoveDriver::RecordProgress(uint64_t epoch, const MoveProgress& p) {
  cluster::Etcd& etcd = *ctx_->etcd;
  const int64_t now = Env::Default()->NowNanos();
  auto m = cluster::LoadMove(etcd);
  if (!m.ok() || m->epoch != epoch) {  // none (a move an older version started): from here
    m = cluster::MoveRecord{};
    m->epoch = epoch;
    m->started_ns = now;
    m->copies = p.waiting + p.unverified;
    m->bytes = p.bytes_left;
  }
  m->updated_ns = now;
  m->copies_left = p.waiting + p.unverified;
  m->bytes_left = std::min(p.bytes_left, m->bytes);
  if (Status s = cluster::PutMove(etcd, *m); !s.ok()) {
    logging::Warn("move", "its progress is not recorded", {{"error", s.ToString()}});
  }
}

StatusOr<MoveProgress> MoveDriver::Pass() {
  MoveProgress p;
  ClusterContext& ctx = *ctx_;
  ASSIGN_OR_RETURN(cluster::RingRecord ring, cluster::LoadRing(*ctx.etcd));
  ctx.ring->Update(ring);
  if (!ring.moving()) {
    epoch_ = 0;
    verified_.clear();
    ASSIGN_OR_RETURN(auto misses, cluster::LoadAllMisses(ctx.etcd.get()));
    auto off = RecordsOfNonOwners(ring.ring(), ctx.cluster.replicas, misses);
    std::map<std::string, std::set<std::string>> seen_twice;
    if (ring.mod_revision == off_owner_revision_) {
      for (auto& [object, nodes] : off) {
        auto before = off_owner_records_.find(object);
        if (before == off_owner_records_.end()) continue;
        for (const std::string& n : nodes) {
          if (before->second.count(n)) seen_twice[object].insert(n);
        }
      }
    }
    ClearRecords(ctx.etcd.get(), seen_twice);
    off_owner_records_ = std::move(off);
    off_owner_revision_ = ring.mod_revision;
    return p;
  }
  p.moving = true;
  const auto now = std::chrono::steady_clock::now();
  if (ring.epoch != epoch_) {
    epoch_ = ring.epoch;
    seen_ = now;
    verified_.clear();
  }
  // Every store follows the ring within a second (gateway/cluster_manager.cc):
  // after this, whatever an old-ring writer left unrecorded is on disk to see.
  const bool settled = now - seen_ >= std::chrono::seconds(3);
  const int R = ctx.cluster.replicas;
  const cluster::Ring cur = ring.ring(), prev = ring.previous_ring();
  cluster::RingView view(ring);
  Clients clients = ClientsFor(ctx, *view.Get());
  std::map<std::string, Status> down;
  ASSIGN_OR_RETURN(auto objects, cluster::ListObjects(clients.by_name, "pool-", &down, /*sizes=*/true));
  ASSIGN_OR_RETURN(auto misses, cluster::LoadAllMisses(ctx.etcd.get()));
  auto fail = [&](Status s) {
    if (p.first_error.ok()) p.first_error = std::move(s);
  };
  std::set<uint64_t> pools_waiting;
  for (auto& [object, o] : objects) {
    const std::vector<std::string> added = Added(prev, cur, o.key, R);
    if (added.empty()) continue;
    const std::set<std::string> missed = misses.count(object) ? misses[object] : std::set<std::string>{};
    for (const std::string& n : added) {
      auto pool = cluster::PoolOfObject(object);
      if (missed.count(n)) {
        // Copied under the pool's lock before the record goes (ReplicaSet::
        // Repair): once it is gone, that copy needs no comparing.
        verified_.insert(object + "@" + n);
        ++p.waiting;
        if (pool.ok()) pools_waiting.insert(*pool);
        continue;
      }
      if (!settled) {
        ++p.unverified;
        continue;
      }
      if (verified_.count(object + "@" + n)) continue;
      bool wrong = !o.holders.count(n);
      if (!wrong) {
        // Compare with an old owner's good copy.
        const RingNode* good = nullptr;
        for (const RingNode* old : prev.Place(o.key, R)) {
          if (o.holders.count(old->name) && !missed.count(old->name) && clients.by_name.count(old->name)) good = old;
        }
        if (good == nullptr) {
          ++p.unverified;  // no old copy to compare with now (its node down?)
          continue;
        }
        // Asked of both at once, the copies rarely show a write in flight;
        // a unit (a file chunk) counts as different only when every look
        // finds it so - one a write is changing shows in one look, a stale
        // one in all (a busy object never looks equal whole).
        bool compared = false;
        std::set<uint64_t> still;
        for (int look = 0; look < kLooks; ++look) {
          if (look) std::this_thread::sleep_for(std::chrono::milliseconds(200));
          cluster::CopyDiff d =
              cluster::CopyDifferences(clients.by_name.at(n), clients.by_name.at(good->name), object, o.key);
          if (!d.b_error.ok()) {
            fail(d.b_error);
            break;
          }
          compared = true;
          if (!d.a_error.ok()) {
            wrong = true;  // no copy, or one its node cannot read
            break;
          }
          if (look == 0) {
            still = std::move(d.differ);
          } else {
            std::set<uint64_t> both;
            std::set_intersection(still.begin(), still.end(), d.differ.begin(), d.differ.end(),
                                  std::inserter(both, both.end()));
            still = std::move(both);
          }
          wrong = !still.empty();
          if (!wrong) break;
        }
        if (!compared) {
          ++p.unverified;  // the old copy could not be read now: next pass
          continue;
        }
      }
      if (wrong) {
        // Written on the old owners only, or only in part on the new one.
        if (Status s = Record(*ctx.etcd, object, n); !s.ok()) {
          fail(s);
          ++p.unverified;
          continue;
        }
        ++p.waiting;
        if (pool.ok()) pools_waiting.insert(*pool);
        continue;
      }
      verified_.insert(object + "@" + n);
    }
  }

  // The pools no gateway holds are copied here, under their locks.
  if (!pools_waiting.empty()) {
    ASSIGN_OR_RETURN(auto pools, ListPools(*ctx.etcd));
    for (auto& [name, index] : pools) {
      if (!pools_waiting.count(index)) continue;
      auto lock = cluster::WriterLock::Acquire(ctx.etcd.get(), PoolLockKey(name), ctx.holder, ctx.lock_ttl_s);
      if (!lock.ok()) {
        if (lock.status().code() == Code::kFailedPrecondition) {
          ++p.held_elsewhere;  // its gateway copies in its repair pass
        } else {
          fail(lock.status());
        }
        continue;
      }
      {
        cluster::LockKeeper keeper(lock->get(), ctx.lock_ttl_s);  // kept through the copies
        cluster::RemoteStoreOptions ro = PoolStoreOptions(ctx_, index, (*lock)->fence());
        ro.holds_lock = [l = lock->get()] { return l->held(); };
        cluster::RemoteBlockStore store(ctx.ring, ro);
        cluster::RemoteEnv env(ctx.ring, ro);
        for (const cluster::RepairReport& r : {store.Repair(), env.Repair()}) {
          p.repaired += r.repaired;
          p.bytes += r.bytes;
          if (!r.first_error.ok()) fail(r.first_error);
        }
      }  // the keeper stops before the lock goes
      (void)(*lock)->Release();
    }
  }

  ASSIGN_OR_RETURN(misses, cluster::LoadAllMisses(ctx.etcd.get()));
  p.waiting = WaitingCopies(ring, R, misses, &objects, &p.bytes_left);
  RecordProgress(ring.epoch, p);
  // A member of the new list that did not answer may hold copies not yet
  // seen; a node only of the old list (one removed because it died) may not.
  for (auto& [node, why] : down) {
    const std::string& name = node;  // (a structured binding cannot be captured in C++20)
    const bool member =
        std::any_of(ring.members.begin(), ring.members.end(), [&](const RingNode& m) { return m.name == name; });
    if (member) {
      ++p.unverified;
      fail(why.WithContext("node " + name));
    }
  }
  if (p.waiting > 0 || p.unverified > 0 || !settled) return p;
  // Every new owner holds a verified copy: the old lists' copies go.
  cluster::RingRecord done = ring;
  done.previous.clear();
  ASSIGN_OR_RETURN(bool won, cluster::PutRing(*ctx.etcd, done));
  if (!won) return p;  // changed meanwhile: the next pass looks again
  ASSIGN_OR_RETURN(cluster::RingRecord now_ring, cluster::LoadRing(*ctx.etcd));
  ctx.ring->Update(now_ring);
  // Records of nodes that owned an object only under the old list (a write
  // to an old owner failed during the move) name nothing to repair now.
  ClearRecordsOfNonOwners(ctx.etcd.get(), cur, R, misses);
  (void)cluster::DeleteMove(*ctx.etcd);
  p.moving = false;
  p.finished = true;
  logging::Info("move", "finished", {{"epoch", now_ring.epoch}});
  return p;
}

}  // namespace vmstore::gateway
