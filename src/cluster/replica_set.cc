#include "cluster/replica_set.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "util/coding.h"
#include "util/log.h"

namespace vmstore::cluster {

bool IsFenced(const Status& s) { return s.code() == Code::kFailedPrecondition && s.message().rfind("fenced:", 0) == 0; }

ReplicaSet::ReplicaSet(std::shared_ptr<RingView> view, const RemoteStoreOptions& options)
    : view_(std::move(view)),
      opts_(options),
      replicas_(options.replicas),
      fence_(options.fence),
      seen_epoch_(view_->epoch()),
      misses_(options.misses) {}

ReplicaSet::ReplicaSet(const Ring& ring, const RemoteStoreOptions& options)
    : ReplicaSet(RingView::Fixed(ring), options) {}

NodeClient* ReplicaSet::Client(const RingNode& n) {
  MutexLock l(&clients_mu_);
  NodeClient*& c = clients_[n.name];
  if (c == nullptr || c->address() != n.address) {
    all_clients_.push_back(
        std::make_unique<NodeClient>(n.address, opts_.cluster, opts_.timeout, opts_.connections_per_node, n.name));
    c = all_clients_.back().get();
  }
  return c;
}

bool ReplicaSet::IsCurrent(NodeClient* c) {
  MutexLock l(&clients_mu_);
  auto it = clients_.find(c->name());
  return it != clients_.end() && it->second == c;
}

std::shared_ptr<const RingView::State> ReplicaSet::CurrentRing() {
  auto st = view_->Get();
  uint64_t seen = seen_epoch_.load();
  if (st->record.epoch != seen && seen_epoch_.compare_exchange_strong(seen, st->record.epoch)) {
    if (Status s = misses_.Load(); !s.ok()) {
      logging::Warn("replicas", "miss records not reloaded for a new ring", {{"error", s.ToString()}});
    }
  }
  return st;
}

std::vector<NodeClient*> ReplicaSet::Owners(uint64_t key, bool with_extras) {
  return OwnersIn(*CurrentRing(), key, with_extras);
}

std::vector<NodeClient*> ReplicaSet::OwnersIn(const RingView::State& st, uint64_t key, bool with_extras) {
  std::vector<const RingNode*> owners, extras;
  st.Place(key, replicas_, &owners, &extras);
  std::vector<NodeClient*> out;
  for (const RingNode* n : owners) out.push_back(Client(*n));
  if (with_extras) {
    for (const RingNode* n : extras) out.push_back(Client(*n));
  }
  return out;
}

std::vector<NodeClient*> ReplicaSet::Nodes() {
  auto st = CurrentRing();
  std::vector<NodeClient*> out;
  for (const RingNode* n : st->AllNodes()) out.push_back(Client(*n));
  return out;
}

SharedMutex& ReplicaSet::Stripe(const std::string& object) {
  return stripes_[internal::Hash64(object.data(), object.size()) % kStripes];
}

StatusOr<std::string> ReplicaSet::Read(const std::string& object, uint64_t key, const ContainerRequest& r,
                                       std::string_view payload, const MissSet* misses, bool record_damage) {
  const std::set<std::string> stale = (misses ? *misses : misses_).Nodes(object);
  Status first_error;
  std::vector<NodeClient*> damaged;
  const std::vector<NodeClient*> owners = Owners(key, /*extras=*/true);
  for (NodeClient* c : owners) {
    if (stale.count(c->name())) continue;  // it missed a change: its copy may be old
    ++round_trips_;
    auto out = c->Call(r, payload);
    if (out.ok()) {
      // A copy its node found damaged, while this one is good: this pool's
      // is recorded like a missed change, so that it is neither read again
      // nor trusted, and the repair pass copies the good one over it.
      if (!misses && record_damage) {
        for (NodeClient* d : damaged) {
          if (Status s = misses_.Add(object, d->name()); !s.ok()) {
            logging::Warn("replicas", "damaged copy not recorded", {{"object", object}, {"error", s.ToString()}});
          } else {
            logging::Warn("replicas", "damaged copy recorded for repair", {{"object", object}, {"node", d->name()}});
          }
        }
      }
      return out;
    }
    if (out.status().code() == Code::kCorruption) damaged.push_back(c);
    // A damaged replica (or one that answers "no such thing") is worth more
    // in the report than an unreachable one.
    if (first_error.ok() || out.status().code() != Code::kIOError) first_error = out.status();
  }
  if (first_error.ok()) return IOError("no replica of " + object + " to read from");
  if (first_error.code() == Code::kNotFound && misses == nullptr) {
    // No owner holds it: a copy left on another node is all there is (a move
    // cut short; a stray of an object deleted while its node was away) -
    // read there rather than take the object for gone. The pool decides
    // what it is (its garbage pass deletes it again; cluster fsck names
    // the owners without a copy).
    for (NodeClient* c : Nodes()) {
      if (stale.count(c->name()) || std::find(owners.begin(), owners.end(), c) != owners.end()) continue;
      auto out = c->Call(r, payload);
      if (out.ok()) return out;
    }
  }
  return first_error;
}

bool IsStaleRing(const Status& s) {
  return s.code() == Code::kFailedPrecondition && s.message().rfind("stale ring:", 0) == 0;
}

Status ReplicaSet::Change(const std::string& object, uint64_t key, ContainerRequest r, std::string_view payload,
                          const std::function<void(NodeClient*)>& took) {
  for (int attempt = 1;; ++attempt) {
    Status s = ChangeOnce(object, key, r, payload, took);
    if (!IsStaleRing(s) || !opts_.refresh_ring || attempt == 3) return s;
    // A node knows a newer ring than this gateway: follow it (from etcd -
    // cut off from etcd, the change fails unacknowledged) and place again.
    // Changes are idempotent: the owners that took it take it once more.
    if (Status f = opts_.refresh_ring(); !f.ok()) return s.WithContext(f.ToString());
  }
}

Status ReplicaSet::ChangeOnce(const std::string& object, uint64_t key, ContainerRequest r, std::string_view payload,
                              const std::function<void(NodeClient*)>& took) {
  r.fence = fence_.load();
  vmstore::ReaderLock l(&Stripe(object));  // no repair of the object meanwhile
  const std::set<std::string> stale = misses_.Nodes(object);
  auto st = CurrentRing();
  r.ring_epoch = st->record.epoch;  // nodes that know a newer ring refuse it
  const std::vector<NodeClient*> owners = OwnersIn(*st, key, /*extras=*/true);
  // Sent to every replica first, then the answers read: one round trip.
  std::vector<std::pair<NodeClient*, NodeClient::Sent>> sent;
  for (NodeClient* c : owners) {
    if (stale.count(c->name())) continue;  // it stays out until repaired
    ++round_trips_;
    sent.emplace_back(c, c->Start(r, payload));
  }
  int ok = 0;
  Status last, fenced;
  std::vector<NodeClient*> failed;
  for (auto& [c, call] : sent) {
    Status s = c->Finish(&call).status();  // every call finished: each gives its connection back
    if (s.ok()) {
      ++ok;
      if (took) took(c);
      continue;
    }
    if (IsFenced(s) || IsStaleRing(s)) {
      fenced = s;  // this gateway lost the pool, or placed by an old ring: not the replica's miss
      continue;
    }
    last = s;
    if (s.code() == Code::kNotFound && r.op == ContainerOp::kFileDelete) continue;  // nothing there to delete
    failed.push_back(c);
  }
  if (!fenced.ok()) return fenced;
  if (ok > 0 && (r.op == ContainerOp::kDelete || r.op == ContainerOp::kFileDelete)) DeleteOffOwners(owners, r, payload);
  if (ok == 0) {
    // Nobody took it: the change fails and no replica is behind another (a
    // failed change is one the caller must not count on), so none is marked:
    // marking them would leave the object with no good copy at all.
    return last.ok() ? IOError("no replica of " + object + " took " + ContainerOpName(r.op)) : last;
  }
  // Recorded before the call succeeds: no reader, here or after a crash,
  // takes a stale copy of a replica that missed it.
  for (NodeClient* c : failed) RETURN_IF_ERROR(misses_.Add(object, c->name()));
  return Status::OK();
}

void ReplicaSet::DeleteOffOwners(const std::vector<NodeClient*>& owners, const ContainerRequest& r,
                                 std::string_view payload) {
  // A copy left on a node the ring no longer places the object on (an old
  // owner within its stray grace, a node back from being out) would outlive
  // the object: no stray collection takes a copy no owner holds. Best effort:
  // a node that misses this keeps a stray that reads fall back to until the
  // pool deletes it again (Read above; the pool's garbage pass).
  std::vector<std::pair<NodeClient*, NodeClient::Sent>> sent;
  for (NodeClient* c : Nodes()) {
    if (std::find(owners.begin(), owners.end(), c) != owners.end()) continue;
    sent.emplace_back(c, c->Start(r, payload));
  }
  for (auto& [c, call] : sent) (void)c->Finish(&call);
}

NodeClient* ReplicaSet::HolderOffOwners(const std::string& object, NodeClient* stale,
                                        const std::function<bool(NodeClient*)>& holds) {
  const std::set<std::string> missed = misses_.Nodes(object);
  for (NodeClient* c : Nodes()) {
    if (c == stale || missed.count(c->name()) || !holds(c)) continue;
    logging::Warn("repair", "copying from a node off the object's owners: no owner holds it",
                  {{"object", object}, {"from", c->name()}, {"to", stale->name()}});
    return c;
  }
  return nullptr;
}

RepairReport ReplicaSet::Repair(const std::string& kind,
                                const std::function<bool(const std::string&, uint64_t*)>& key_of, const CopyFn& copy,
                                const RequestFn& end) {
  RepairReport report;
  Mutex report_mu;  // the copies to different nodes run at once (below)
  auto ended = [&](const std::string& object, uint64_t key) {
    if (!end) return;
    auto [r, payload] = end(object);
    r.flags |= kFlagCopyEnd;
    for (NodeClient* c : Owners(key, /*extras=*/true)) (void)c->Call(r, payload);
  };
  // Records others made since (`vmstore cluster fsck --repair` records the
  // damaged copies it finds) join ours; ours are all in etcd already.
  if (Status s = misses_.Load(); !s.ok()) report.first_error = s;
  auto leave = [&](Status why) {
    MutexLock l(&report_mu);
    ++report.left;
    if (report.first_error.ok()) report.first_error = std::move(why);
  };
  auto copied = [&](uint64_t bytes, bool repaired) {
    MutexLock l(&report_mu);
    report.bytes += bytes;
    report.repaired += repaired;
  };
  // Brings `stale_name`'s copy of `name` back.
  auto one = [&](const std::string& stale_name, const std::string& name, uint64_t key) {
    const std::string object = kind + name;
    // A move's old owners too: a cancelled move gives them the object back.
    const std::vector<NodeClient*> owners = Owners(key, /*extras=*/true);
    NodeClient* stale = nullptr;
    for (NodeClient* c : owners) {
      if (c->name() == stale_name) stale = c;
    }
    if (stale == nullptr) {
      // Not placed there by this gateway's ring: a move's driver clears
      // such records once the ring has stayed still (gateway/move.h) - a
      // gateway's view may lag, and a starting move records its new
      // owners before it switches the ring.
      leave(FailedPrecondition("node " + stale_name + " no longer holds " + object + " on the ring"));
      return;
    }
    uint64_t bytes = 0;
    // The bulk first, while the object's changes go on without this replica.
    if (Status s = copy(object, key, stale, &bytes, /*final=*/false); !s.ok()) {
      copied(bytes, false);
      ended(object, key);
      leave(s.WithContext("copying " + object + " to node " + stale_name));
      return;
    }
    vmstore::WriterLock l(&Stripe(object));  // no change of the object while it catches up
    const std::set<std::string> missed = misses_.Nodes(object);
    if (!missed.count(stale_name)) return;                              // cleared meanwhile
    const std::vector<NodeClient*> all = Owners(key, /*extras=*/true);  // a move's old owners count
    if (std::all_of(all.begin(), all.end(), [&](NodeClient* c) { return missed.count(c->name()) > 0; })) {
      leave(Corruption("every replica of " + object + " missed a change; none to copy from"));
      return;
    }
    Status s = copy(object, key, stale, &bytes, /*final=*/true);
    ended(object, key);
    if (s.ok() && opts_.holds_lock && !opts_.holds_lock()) {
      s = FailedPrecondition("the pool's writer lock was lost during the copy; the record stays");
    }
    if (s.ok()) s = misses_.Remove(object, stale_name);
    copied(bytes, s.ok());
    if (!s.ok()) leave(s.WithContext("repairing " + object + " on node " + stale_name));
  };
  // Copiers for each node that waits for copies (opts_.copiers_per_node;
  // two leave no gap for one object's bookkeeping between copies), taking
  // that node's objects in turn, at most kRepairThreads at once: each node
  // takes its copies at its own recovery cap, not in turn with the others.
  struct Queue {
    std::vector<std::pair<std::string, uint64_t>> items;  // (name, key)
    std::atomic<size_t> next{0};
  };
  std::map<std::string, Queue> queues;  // by stale node
  for (auto& [name, nodes] : misses_.OfKind(kind)) {
    uint64_t key = 0;
    if (!key_of(name, &key)) continue;
    for (const std::string& n : nodes) queues[n].items.emplace_back(name, key);
  }
  const int per_node = opts_.copiers_per_node ? std::max(1, opts_.copiers_per_node()) : 1;
  std::vector<std::pair<const std::string*, Queue*>> slots;  // one per copier wanted
  for (int k = 0; k < per_node; ++k) {
    for (auto& entry : queues) slots.emplace_back(&entry.first, &entry.second);
  }
  std::atomic<size_t> next_slot{0};
  auto worker = [&] {
    for (size_t i; (i = next_slot.fetch_add(1)) < slots.size();) {
      Queue& q = *slots[i].second;
      for (size_t j; (j = q.next.fetch_add(1)) < q.items.size();)
        one(*slots[i].first, q.items[j].first, q.items[j].second);
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < std::min(slots.size(), kRepairThreads); ++t) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  return report;
}

}  // namespace vmstore::cluster
