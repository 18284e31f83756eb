// opennetworks._onet_c10d: the compiled face of the torch backend (issue 17, notes/readme-c10d.md).
//
// OnetProcessGroup is a c10d::ProcessGroup that torch holds as the group (the backend creator returns it,
// as it returned the Python ProcessGroupOnet before). It owns the Python ProcessGroupOnet (`py`) and hands it
// every call, except blocking allreduce, broadcast, all_gather_into_tensor and reduce_scatter_tensor of dense
// contiguous CPU tensors, and blocking barrier, that the rank-side fast lane takes: those it runs here,
// calling the lane's C API (native/rank/fastlane.h, onet_fl_call) without the GIL, and returns a completed
// Work. How the lane waits (spin_us; < 0: yielding) comes from Python at each arming (_spin_policy.py).
//
// Whether a call takes the lane is the Python path's rule (python/opennetworks/_fastlane_torch.py), so a
// rank with this module and one without make the same choice. The lane's per-group state (its sequence
// number, a started call, compression, coalescing, in-flight engine calls) lives in Python: this side may
// run lane calls only while `gate[kArmed]` is 1, which python/opennetworks/torch/_compiled.py sets (under
// the GIL) after checking that Python has nothing in flight for the group, and clears before any Python
// method of the group runs (writing the sequence number back). While armed the sequence number lives in
// `gate[kSeq]`. Every 50 ms the arming lapses, so that Python's coordinator check runs as on its own path.
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/PyProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <torch/csrc/utils/pybind.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "fastlane.h"

namespace py = pybind11;

// torch 2.13 calls all_gather_single / reduce_scatter_single for all_gather_into_tensor / reduce_scatter_tensor
// (its _allgather_base / _reduce_scatter_base delegate to them); earlier releases call the underscore names.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 13)
#define ONET_ALLGATHER_SINGLE all_gather_single
#define ONET_REDUCE_SCATTER_SINGLE reduce_scatter_single
#else
#define ONET_ALLGATHER_SINGLE _allgather_base
#define ONET_REDUCE_SCATTER_SINGLE _reduce_scatter_base
#endif

namespace {

// The gate: uint64 words in memory Python owns (a ctypes array kept alive by `py`).
constexpr int kArmed = 0;  // 1: this side may run lane calls and owns the sequence number
constexpr int kSeq = 1;    // the group's last lane call number while armed
constexpr int kHold = 2;   // > 0: a compression block is open in some thread; never armed

using CallFn = int (*)(onet_fl_call_t*);
using Clock = std::chrono::steady_clock;

// Whether Python objects may still be released here: torch may destroy groups and works after the
// interpreter has finalized (at process exit); then they are leaked instead (taking the GIL would crash).
inline bool python_alive() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

// A lane call that already ended: its outputs, or the Python exception the Python path would raise.
class DoneWork : public c10d::Work {
 public:
  DoneWork(std::vector<at::Tensor> out, c10d::OpType type, PyObject* err)
      : Work(-1, type), out_(std::move(out)), err_(err) {}
  ~DoneWork() override {
    if (err_ != nullptr && python_alive()) {
      py::gil_scoped_acquire gil;
      Py_DECREF(err_);
    }
  }
  bool isCompleted() override { return true; }
  bool isSuccess() const override { return err_ == nullptr; }
  std::vector<at::Tensor> result() override { return out_; }
  bool wait(std::chrono::milliseconds /*timeout*/) override {
    if (err_ != nullptr) raise();
    return true;
  }
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override {
    auto fut = c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()));
    if (err_ == nullptr) {
      fut->markCompleted(c10::IValue(out_));
    } else {
      try {
        raise();
      } catch (...) { fut->setError(std::current_exception()); }
    }
    return fut;
  }

 private:
  [[noreturn]] void raise() {
    py::gil_scoped_acquire gil;
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(err_)), err_);
    throw py::error_already_set();
  }
  std::vector<at::Tensor> out_;
  PyObject* err_;
};

// A Work the Python group returned: every query goes to the Python object (torch's PyWorkHolder forwards
// only wait() and getFuture(), so is_completed() of an async lane call would never turn true).
class PyForwardWork : public c10d::Work {
 public:
  explicit PyForwardWork(py::object w) : work_(w.cast<c10::intrusive_ptr<c10d::Work>>()), py_(std::move(w)) {}
  ~PyForwardWork() override {
    if (!python_alive()) {
      py_.release();  // leaked: see python_alive (work_ may be a Python Work too)
      work_.release();
      return;
    }
    py::gil_scoped_acquire gil;
    py_ = py::object();
  }
  bool wait(std::chrono::milliseconds timeout) override { return work_->wait(timeout); }
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override { return work_->getFuture(); }
  bool isCompleted() override { return call<bool>("is_completed"); }
  bool isSuccess() const override { return call<bool>("is_success"); }
  int sourceRank() const override { return call<int>("source_rank"); }
  std::vector<at::Tensor> result() override { return call<std::vector<at::Tensor>>("result"); }
  void synchronize() override {
    py::gil_scoped_acquire gil;
    py_.attr("synchronize")();
  }

 private:
  template <typename T>
  T call(const char* name) const {  // converts under the GIL: no Python object outlives it
    py::gil_scoped_acquire gil;
    return py_.attr(name)().template cast<T>();
  }
  c10::intrusive_ptr<c10d::Work> work_;
  py::object py_;
};

class OnetProcessGroup : public c10d::ProcessGroup {
 public:
  // glue: python/opennetworks/torch/_compiled.py's module (sync, lane_error); codes: {"allreduce": n, ...};
  // dtypes: [(an empty tensor of the dtype, lane dtype code)]; redops: {int(RedOpType): lane code}.
  OnetProcessGroup(py::object pyg, py::object glue, uintptr_t gate, int rank, int size, py::dict codes, py::list dtypes,
                   py::dict redops)
      : ProcessGroup(rank, size),
        py_(std::move(pyg)),
        glue_(std::move(glue)),
        gate_(reinterpret_cast<std::atomic<uint64_t>*>(gate)) {
    allreduce_ = codes["allreduce"].cast<int>();
    broadcast_ = codes["broadcast"].cast<int>();
    allgather_ = codes["allgather"].cast<int>();
    reduce_scatter_ = codes["reduce_scatter"].cast<int>();
    barrier_ = codes["barrier"].cast<int>();
    barrier_dtype_ = codes["barrier_dtype"].cast<int>();
    for (auto item : dtypes) {
      auto pair = item.cast<py::tuple>();
      auto t = pair[0].cast<at::Tensor>();
      dtype_[static_cast<int>(t.scalar_type())] = pair[1].cast<int>();
    }
    for (auto kv : redops) redop_[kv.first.cast<int>()] = kv.second.cast<int>();
  }

  ~OnetProcessGroup() override {
    if (!python_alive()) {
      py_.release();  // leaked: see python_alive
      glue_.release();
      return;
    }
    py::gil_scoped_acquire gil;
    py_ = py::object();
    glue_ = py::object();
  }

  py::object py() const { return py_; }
  uint64_t calls() const { return calls_; }
  bool armed() const { return gate_[kArmed].load(std::memory_order_acquire) != 0; }

  const std::string getBackendName() const override { return "opennetworks"; }

  void setGroupName(const std::string& name) override {
    ProcessGroup::setGroupName(name);
    py::gil_scoped_acquire gil;
    py_.attr("setGroupName")(name);
  }
  void setGroupDesc(const std::string& desc) override {
    ProcessGroup::setGroupDesc(desc);
    py::gil_scoped_acquire gil;
    py_.attr("setGroupDesc")(desc);
  }
  void abort() override { forward_void("abort"); }
  void shutdown() override { forward_void("shutdown"); }

  // ---- the lane's calls ---------------------------------------------------------------------
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& tensors,
                                           const c10d::AllreduceOptions& opts) override {
    if (!opts.asyncOp && tensors.size() == 1) {
      const at::Tensor& t = tensors[0];
      int dt = lane_dtype(t);
      auto op = redop_.find(static_cast<int>(opts.reduceOp.op_));
      if (dt >= 0 && op != redop_.end() && !t.requires_grad() && t.is_contiguous()) {
        uint64_t n = t.numel(), nbytes = n * t.element_size();
        void* a = n ? t.data_ptr() : nullptr;
        if (auto w = lane(allreduce_, dt, op->second, 0, n, a, nbytes, a, tensors, c10d::OpType::ALLREDUCE)) return w;
      }
    }
    return forward("allreduce", tensors, opts);
  }

  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors,
                                           const c10d::BroadcastOptions& opts) override {
    if (!opts.asyncOp && tensors.size() == 1 && opts.rootRank >= 0 && opts.rootRank < getSize()) {
      const at::Tensor& t = tensors[0];
      int dt = lane_dtype(t);
      if (dt >= 0 && t.is_contiguous()) {
        uint64_t n = t.numel(), nbytes = n * t.element_size();
        void* a = n ? t.data_ptr() : nullptr;
        bool send = opts.rootRank == getRank();
        if (auto w = lane(broadcast_, dt, 0, int(opts.rootRank), n, send ? a : nullptr, send ? nbytes : 0, a, tensors,
                          c10d::OpType::BROADCAST, nbytes))
          return w;
      }
    }
    return forward("broadcast", tensors, opts);
  }

  c10::intrusive_ptr<c10d::Work> ONET_ALLGATHER_SINGLE(at::Tensor& out, at::Tensor& in,
                                                       const c10d::AllgatherOptions& opts) override {
    if (!opts.asyncOp) {
      int dt = lane_dtype(in);
      if (dt >= 0 && lane_dtype(out) == dt && !out.requires_grad() && out.numel() == getSize() * in.numel() &&
          in.is_contiguous() && out.is_contiguous()) {
        uint64_t n = in.numel(), nbytes = n * in.element_size();
        std::vector<at::Tensor> res{out};
        if (auto w = lane(allgather_, dt, 0, 0, n, n ? in.data_ptr() : nullptr, nbytes, n ? out.data_ptr() : nullptr,
                          res, c10d::OpType::_ALLGATHER_BASE))
          return w;
      }
    }
    return forward("all_gather_single", out, in, opts);
  }

  c10::intrusive_ptr<c10d::Work> ONET_REDUCE_SCATTER_SINGLE(at::Tensor& out, at::Tensor& in,
                                                            const c10d::ReduceScatterOptions& opts) override {
    if (!opts.asyncOp) {
      int dt = lane_dtype(in);
      auto op = redop_.find(static_cast<int>(opts.reduceOp.op_));
      if (dt >= 0 && lane_dtype(out) == dt && op != redop_.end() && !out.requires_grad() &&
          in.numel() == getSize() * out.numel() && in.is_contiguous() && out.is_contiguous()) {
        uint64_t n = out.numel(), in_bytes = in.numel() * in.element_size();
        std::vector<at::Tensor> res{out};
        if (auto w = lane(reduce_scatter_, dt, op->second, 0, n, in_bytes ? in.data_ptr() : nullptr, in_bytes,
                          n ? out.data_ptr() : nullptr, res, c10d::OpType::_REDUCE_SCATTER_BASE))
          return w;
      }
    }
    return forward("reduce_scatter_single", out, in, opts);
  }

  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& opts) override {
    if (!opts.asyncOp) {
      std::vector<at::Tensor> none;
      if (auto w = lane(barrier_, barrier_dtype_, 0, 0, 0, nullptr, 0, nullptr, none, c10d::OpType::BARRIER)) return w;
    }
    return forward("barrier", opts);
  }

  // ---- everything else is the Python group's ----------------------------------------------------
  c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& out, std::vector<at::Tensor>& in,
                                           const c10d::AllgatherOptions& opts) override {
    return forward("allgather", out, in, opts);
  }
  c10::intrusive_ptr<c10d::Work> allreduce_coalesced(std::vector<at::Tensor>& tensors,
                                                     const c10d::AllreduceCoalescedOptions& opts) override {
    return forward("allreduce_coalesced", tensors, opts);
  }
  c10::intrusive_ptr<c10d::Work> reduce_scatter(std::vector<at::Tensor>& out, std::vector<std::vector<at::Tensor>>& in,
                                                const c10d::ReduceScatterOptions& opts) override {
    return forward("reduce_scatter", out, in, opts);
  }
  c10::intrusive_ptr<c10d::Work> allgather_coalesced(std::vector<std::vector<at::Tensor>>& out,
                                                     std::vector<at::Tensor>& in,
                                                     const c10d::AllgatherOptions& opts) override {
    return forward("allgather_coalesced", out, in, opts);
  }
  c10::intrusive_ptr<c10d::Work> all_gather_single_coalesced(std::vector<at::Tensor>& out, std::vector<at::Tensor>& in,
                                                             const c10d::AllgatherOptions& opts) override {
    return forward("all_gather_single_coalesced", out, in, opts);
  }
  c10::intrusive_ptr<c10d::Work> reduce_scatter_single_coalesced(std::vector<at::Tensor>& out,
                                                                 std::vector<at::Tensor>& in,
                                                                 const c10d::ReduceScatterOptions& opts) override {
    return forward("reduce_scatter_single_coalesced", out, in, opts);
  }
  c10::intrusive_ptr<c10d::Work> all_to_all_single(at::Tensor& out, at::Tensor& in, std::vector<int64_t>& out_splits,
                                                   std::vector<int64_t>& in_splits,
                                                   const c10d::AllToAllOptions& opts) override {
    return forward("all_to_all_single", out, in, out_splits, in_splits, opts);
  }
  c10::intrusive_ptr<c10d::Work> alltoall(std::vector<at::Tensor>& out, std::vector<at::Tensor>& in,
                                          const c10d::AllToAllOptions& opts) override {
    return forward("alltoall", out, in, opts);
  }
  c10::intrusive_ptr<c10d::Work> reduce(std::vector<at::Tensor>& tensors, const c10d::ReduceOptions& opts) override {
    return forward("reduce", tensors, opts);
  }
  c10::intrusive_ptr<c10d::Work> gather(std::vector<std::vector<at::Tensor>>& out, std::vector<at::Tensor>& in,
                                        const c10d::GatherOptions& opts) override {
    return forward("gather", out, in, opts);
  }
  c10::intrusive_ptr<c10d::Work> scatter(std::vector<at::Tensor>& out, std::vector<std::vector<at::Tensor>>& in,
                                         const c10d::ScatterOptions& opts) override {
    return forward("scatter", out, in, opts);
  }
  c10::intrusive_ptr<c10d::Work> recvAnysource(std::vector<at::Tensor>& tensors, int tag) override {
    return forward("recv_anysource", tensors, tag);
  }
  c10::intrusive_ptr<c10d::Work> send(std::vector<at::Tensor>& tensors, int dst, int tag) override {
    return forward("send", tensors, dst, tag);
  }
  c10::intrusive_ptr<c10d::Work> recv(std::vector<at::Tensor>& tensors, int src, int tag) override {
    return forward("recv", tensors, src, tag);
  }

 private:
  int lane_dtype(const at::Tensor& t) const {
    if (!t.defined() || !t.is_cpu() || t.layout() != at::kStrided) return -1;
    auto it = dtype_.find(static_cast<int>(t.scalar_type()));
    return it == dtype_.end() ? -1 : it->second;
  }

  // Runs one lane call to its end, or returns null when the Python path must take it (not contiguous, too
  // big, not armed and Python not idle, the lane aborted by a peer). `check` is the bytes the Python path
  // compares with the lane's limit (the input's, also for a broadcast's non-root ranks).
  c10::intrusive_ptr<c10d::Work> lane(int coll, int dt, int redop, int root, uint64_t count, const void* in,
                                      uint64_t in_bytes, void* out, std::vector<at::Tensor>& res, c10d::OpType type,
                                      uint64_t check = UINT64_MAX) {
    if (check == UINT64_MAX) check = in_bytes;
    if (lane_off_ || (max_bytes_ && !takes(coll, check))) return nullptr;
    if (!armed() || gate_[kHold].load(std::memory_order_relaxed) != 0 || Clock::now() >= deadline_) {
      if (!arm()) return nullptr;
    }
    if (!takes(coll, check)) return nullptr;
    if (__atomic_load_n(reinterpret_cast<const uint32_t*>(static_cast<const char*>(base_) + 28), __ATOMIC_ACQUIRE))
      return nullptr;  // aborted by a peer: the Python path hands the call to the engine
    onet_fl_call_t c;
    c.base = base_;
    c.rank = lane_rank_;
    c.coll = coll;
    c.seq = gate_[kSeq].load(std::memory_order_relaxed) + 1;
    gate_[kSeq].store(c.seq, std::memory_order_relaxed);
    c.dtype = dt;
    c.redop = redop;
    c.root = root;
    c.flags = onet::fastlane::direct_call(coll, check, direct_min_) ? onet::fastlane::kDirect : 0;
    c.count = count;
    c.scale = 1.0;
    c.in = in;
    c.in_bytes = in_bytes;
    c.out = out;
    c.spin_us = spin_us_;
    c.timeout_s = timeout_s_;
    c.nranks = 0;
    c.msg[0] = 0;
    int rc = call_(&c);
    calls_++;
    if (rc == 0) return c10::make_intrusive<DoneWork>(res, type, nullptr);
    py::gil_scoped_acquire gil;
    py::list ranks;
    for (int i = 0; i < std::min(c.nranks, 64); i++) ranks.append(c.ranks[i]);
    py::object err = glue_.attr("lane_error")(py_, c.seq, rc, py::str(c.msg), ranks);
    return c10::make_intrusive<DoneWork>(res, type, err.release().ptr());
  }

  // _fastlane.py FastLane.takes: in one block, or direct (fastlane.h direct_call). No pieces here: a call above
  // the block that is not direct takes the Python path, which cuts it (or hands it to the engine).
  bool takes(int coll, uint64_t bytes) const {
    return bytes <= max_bytes_ || onet::fastlane::direct_call(coll, bytes, direct_min_);
  }

  // Asks Python (under the GIL) whether the group's lane is idle; arms the gate when it is.
  bool arm() {
    py::gil_scoped_acquire gil;
    py::object r = glue_.attr("sync")(py_);
    if (r.is_none()) return false;
    if (py::isinstance<py::bool_>(r)) {  // False: the lane is off for this group for good
      lane_off_ = true;
      return false;
    }
    auto t = r.cast<py::tuple>();
    base_ = reinterpret_cast<void*>(t[0].cast<uintptr_t>());
    lane_rank_ = t[1].cast<int>();
    spin_us_ = t[2].cast<double>();
    timeout_s_ = t[3].cast<double>();
    max_bytes_ = t[4].cast<uint64_t>();
    call_ = reinterpret_cast<CallFn>(t[5].cast<uintptr_t>());
    direct_min_ = t[6].cast<uint64_t>();
    deadline_ = Clock::now() + std::chrono::milliseconds(50);
    return true;
  }

  c10::intrusive_ptr<c10d::Work> hold(const py::object& w) { return c10::make_intrusive<PyForwardWork>(w); }

  template <typename... A>
  c10::intrusive_ptr<c10d::Work> forward(const char* name, A&... args) {
    py::gil_scoped_acquire gil;
    return hold(py_.attr(name)(args...));
  }

  void forward_void(const char* name) {
    py::gil_scoped_acquire gil;
    if (py::hasattr(py_, name)) py_.attr(name)();
  }

  py::object py_, glue_;
  std::atomic<uint64_t>* gate_;
  int allreduce_ = 0, broadcast_ = 0, allgather_ = 0, reduce_scatter_ = 0, barrier_ = 0, barrier_dtype_ = 0;
  std::unordered_map<int, int> dtype_, redop_;
  bool lane_off_ = false;
  void* base_ = nullptr;
  int lane_rank_ = 0;
  double spin_us_ = 0, timeout_s_ = 300;
  uint64_t max_bytes_ = 0, direct_min_ = 0;
  CallFn call_ = nullptr;
  uint64_t calls_ = 0;  // lane calls run here (tests check that the compiled path was taken)
  Clock::time_point deadline_{};
};

}  // namespace

PYBIND11_MODULE(_onet_c10d, m) {
  m.doc() = "OpenNetworks' compiled torch.distributed process group (native/torch/onet_c10d.cc)";
  py::class_<OnetProcessGroup, c10d::ProcessGroup, c10::intrusive_ptr<OnetProcessGroup>>(m, "OnetProcessGroup",
                                                                                         py::dynamic_attr())
      .def(py::init<py::object, py::object, uintptr_t, int, int, py::dict, py::list, py::dict>())
      .def_property_readonly("py", &OnetProcessGroup::py, "the Python ProcessGroupOnet every other call goes to")
      .def_property_readonly("_lane_armed", &OnetProcessGroup::armed)
      .def_property_readonly("_lane_calls", &OnetProcessGroup::calls);
}
