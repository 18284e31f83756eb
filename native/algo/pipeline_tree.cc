// The chunked tree schedule behind binomial reduce/broadcast, chain broadcast and the double
// binary tree allreduce (steps.h, struct TreeJob), and the tree shapes they use.
#include <algorithm>
#include <tuple>

#include "algo/steps.h"
#include "reduce/reduce.h"

namespace onet::algo::detail {
namespace {

struct Shape {
  int parent = -1;
  std::vector<int> children;  // tallest subtree first: it has the longest way still to go
  int height = 0, depth = 0, H = 0;
};

Shape shape_of(const std::vector<int>& parent, int me) {
  const int P = int(parent.size());
  std::vector<int> height(P, 0);
  // Heights by relaxation: at most P rounds, P is small (hosts, not ranks).
  for (bool changed = true; changed;) {
    changed = false;
    for (int v = 0; v < P; ++v) {
      const int p = parent[v];
      if (p >= 0 && height[p] < height[v] + 1) {
        height[p] = height[v] + 1;
        changed = true;
      }
    }
  }
  Shape s;
  s.parent = parent[me];
  s.height = height[me];
  for (int v = me; parent[v] >= 0; v = parent[v]) ++s.depth;
  for (int v = 0; v < P; ++v) {
    if (parent[v] == me) s.children.push_back(v);
    if (parent[v] < 0) s.H = height[v];
  }
  std::stable_sort(s.children.begin(), s.children.end(), [&](int a, int b) { return height[a] > height[b]; });
  return s;
}

struct Event {
  long time;
  int tree;
  int kind;  // 0 reduce (children → me → parent), 1 broadcast (parent → me → children)
  size_t k;  // chunk
  bool operator<(const Event& o) const { return std::tie(time, tree, kind, k) < std::tie(o.time, o.tree, o.kind, o.k); }
};

}  // namespace

Status tree_run(net::Comm& c, const TreeJob& j, const Options& o) {
  const int P = c.size;
  if (P == 1) return Status::Ok();
  const size_t es = dtype_size(j.dt);
  const size_t ce = std::max<size_t>(1, o.chunk_bytes / es);
  const int W = std::max(1, o.inflight);
  std::vector<Shape> sh;
  std::vector<Event> ev;
  size_t maxch = 0, slot_elems = 0;
  for (int t = 0; t < int(j.trees.size()); ++t) {
    const Tree& tr = j.trees[t];
    sh.push_back(shape_of(tr.parent, c.rank));
    const Shape& s = sh.back();
    const size_t nk = (tr.n + ce - 1) / ce;
    for (size_t k = 0; k < nk; ++k) {
      if (j.reduce) ev.push_back({long(k) + s.height, t, 0, k});
      if (j.bcast) ev.push_back({long(k) + (j.reduce ? s.H + 1 : 0) + s.depth, t, 1, k});
    }
    maxch = std::max(maxch, s.children.size());
    slot_elems = std::max(slot_elems, std::min(ce, tr.n));
  }
  std::sort(ev.begin(), ev.end());
  const size_t slot_bytes = slot_elems * es;
  Scratch tmp(j.reduce ? size_t(W + 1) * maxch * slot_bytes : 0);
  auto chunk = [&](const Event& e, size_t* n) {
    const Tree& tr = j.trees[e.tree];
    *n = std::min(ce, tr.n - e.k * ce);
    return j.buf + (tr.off + e.k * ce) * es;
  };
  auto slot = [&](size_t i, size_t child) { return tmp.data() + ((i % (W + 1)) * maxch + child) * slot_bytes; };
  auto where = [&](const Event& e) {
    return j.what + (j.trees.size() > 1 ? " tree " + std::to_string(e.tree) : std::string()) +
           (e.kind == 0 ? " reduce" : " broadcast") + " chunk " + std::to_string(e.k);
  };

  std::vector<std::vector<Req>> rx(ev.size());
  std::vector<Req> sends;
  size_t next_post = 0;
  for (size_t i = 0; i < ev.size(); ++i) {
    // Post the receives of the next W events (their slots are free: W + 1 slot sets).
    for (; next_post < ev.size() && next_post <= i + W; ++next_post) {
      const Event& e = ev[next_post];
      const Shape& s = sh[e.tree];
      const Tree& tr = j.trees[e.tree];
      size_t n;
      char* dst = chunk(e, &n);
      if (e.kind == 0) {
        for (size_t ch = 0; ch < s.children.size(); ++ch)
          rx[next_post].push_back(c.pairs[s.children[ch]]->irecv(slot(next_post, ch), n * es, tr.tag_up));
      } else if (s.parent >= 0) {
        rx[next_post].push_back(c.pairs[s.parent]->irecv(dst, n * es, tr.tag_down));
      }
    }
    const Event& e = ev[i];
    const Shape& s = sh[e.tree];
    const Tree& tr = j.trees[e.tree];
    Status st = wait_all(c, rx[i]);
    if (!st.ok()) return at(where(e), st);
    size_t n;
    char* buf = chunk(e, &n);
    if (e.kind == 0) {
      if (!s.children.empty()) {
        std::vector<const void*> in{buf};
        for (size_t ch = 0; ch < s.children.size(); ++ch) in.push_back(slot(i, ch));
        st = reduce::reduce(j.op, j.dt, buf, in.data(), int(in.size()), n, 1.0, int(in.size()));
        if (!st.ok()) return at(where(e), st);
      }
      if (s.parent >= 0) sends.push_back(c.pairs[s.parent]->isend(buf, n * es, tr.tag_up));
    } else {
      for (int ch : s.children) sends.push_back(c.pairs[ch]->isend(buf, n * es, tr.tag_down));
    }
  }
  return tmp.finish(at(j.what + " final sends", wait_all(c, sends)));
}

std::vector<int> binomial_parents(int size, int root) {
  std::vector<int> parent(size, -1);
  for (int v = 1; v < size; ++v) {  // v: rank relative to root; parent clears the lowest bit
    parent[(v + root) % size] = ((v & (v - 1)) + root) % size;
  }
  return parent;
}

std::vector<int> chain_parents(int size, int root) {
  std::vector<int> parent(size, -1);
  for (int v = 1; v < size; ++v) parent[(v + root) % size] = (v - 1 + root) % size;
  return parent;
}

namespace {
// NCCL's in-order binary tree (ncclGetBtree): the parent of r sets the bit above r's lowest
// set bit, or clears that bit when the result would be out of range. Rank 0 is the root.
int btree_parent(int size, int r) {
  if (r == 0) return -1;
  const int bit = r & -r;
  int up = (r ^ bit) | (bit << 1);
  if (up >= size) up = r ^ bit;
  return up;
}
}  // namespace

std::vector<int> btree_parents(int size, int which) {
  std::vector<int> parent(size, -1);
  for (int r = 0; r < size; ++r) {
    if (which == 0) {
      parent[r] = btree_parent(size, r);
    } else if (size % 2 == 1) {  // shift by one
      const int u = btree_parent(size, (r - 1 + size) % size);
      parent[r] = u < 0 ? -1 : (u + 1) % size;
    } else {  // mirror
      const int u = btree_parent(size, size - 1 - r);
      parent[r] = u < 0 ? -1 : size - 1 - u;
    }
  }
  return parent;
}

}  // namespace onet::algo::detail
