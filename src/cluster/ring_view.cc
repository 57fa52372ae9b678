#include "cluster/ring_view.h"

#include <algorithm>
#include <set>
#include <string>

namespace vmstore::cluster {

void RingView::State::Place(uint64_t key, int replicas, std::vector<const RingNode*>* owners,
                            std::vector<const RingNode*>* extras) const {
  *owners = current.Place(key, replicas);
  extras->clear();
  if (previous.nodes().empty()) return;
  for (const RingNode* p : previous.Place(key, replicas)) {
    const bool owner =
        std::any_of(owners->begin(), owners->end(), [&](const RingNode* o) { return o->name == p->name; });
    if (!owner) extras->push_back(p);
  }
}

std::vector<const RingNode*> RingView::State::AllNodes() const {
  std::vector<const RingNode*> out;
  std::set<std::string> seen;
  for (const Ring* r : {&current, &previous}) {
    for (const RingNode& n : r->nodes()) {
      if (seen.insert(n.name).second) out.push_back(&n);
    }
  }
  return out;
}

std::shared_ptr<const RingView::State> RingView::Make(const RingRecord& r) {
  auto s = std::make_shared<State>();
  s->record = r;
  s->current = r.ring();
  if (r.moving()) s->previous = r.previous_ring();
  return s;
}

RingView::RingView(const RingRecord& r) : state_(Make(r)) {}

std::shared_ptr<RingView> RingView::Fixed(const Ring& ring) {
  RingRecord r;
  r.epoch = ring.epoch();
  r.members = ring.nodes();
  return std::make_shared<RingView>(r);
}

std::shared_ptr<const RingView::State> RingView::Get() const {
  MutexLock l(&mu_);
  return state_;
}

bool RingView::Update(const RingRecord& r) {
  auto next = Make(r);  // outside the lock: building a ring is not free
  MutexLock l(&mu_);
  if (r.epoch <= state_->record.epoch) return false;
  state_ = std::move(next);
  return true;
}

uint64_t RingView::epoch() const {
  MutexLock l(&mu_);
  return state_->record.epoch;
}

}  // namespace vmstore::cluster
