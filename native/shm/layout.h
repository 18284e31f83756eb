// Byte layout of the shared-memory segments (protocol v1). The offsets come from spec/layout.json
// (generated into common/gen/layout.h, src/gen/layout.ts, python/opennetworks/_gen/layout.py);
// the structs below are asserted against them at compile time. docs/protocol.md §3 describes it.
//
// Arena (one per rank per job), all little-endian:
//   [0, 64)            ArenaHead: identity, written once by the coordinator
//   [64, 128)          rank-owned line: post_count
//   [128, 192)         coordinator-owned line: done_count (futex word), rank_waiting
//   [1024, 1024+64*512) request slots
//   [kDataOffset, ...)  data region; request offsets are relative to its start
// Ctl segment (one per job): bell + coordinator liveness, see CtlHead.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "common/gen/layout.h"

namespace onet::shm {

constexpr uint32_t kMagic = layout::kMagic;  // "ONET"
constexpr uint32_t kLayoutVersion = layout::kVersion;
constexpr uint32_t kSlots = layout::kNumSlots;
constexpr size_t kSlotsOffset = layout::kSlotsOffset;
constexpr size_t kSlotBytes = layout::kSlotBytes;
constexpr size_t kSlotMsgOffset = layout::slot::msg;  // error text, NUL-terminated, inside the slot
constexpr size_t kSlotMsgBytes = layout::slot::msg_bytes;
constexpr size_t kSlotRanksOffset = layout::slot::ranks;  // error rank list: nranks i32 global ranks, ascending
constexpr uint32_t kSlotMaxRanks = layout::kSlotMaxRanks;
constexpr size_t kDataOffset = layout::kDataOffset;
constexpr size_t kCtlBytes = layout::kCtlBytes;

// Slot states. The rank owns a slot in kFree and kDone/kError; the coordinator in kPosted.
enum SlotState : uint32_t {
  kFree = layout::kStateFree,
  kPosted = layout::kStatePosted,
  kDone = layout::kStateDone,
  kError = layout::kStateError,
  kClaimed = layout::kStateClaimed,
};

struct ArenaHead {       // offset 0
  uint32_t magic;        // 0
  uint32_t version;      // 4
  uint32_t rank;         // 8   global rank
  uint32_t world;        // 12
  uint64_t data_offset;  // 16  == kDataOffset
  uint64_t data_bytes;   // 24
  uint32_t slots;        // 32  == kSlots
  uint32_t slot_bytes;   // 36  == kSlotBytes
  uint32_t coord_pid;    // 40
  uint32_t local_rank;   // 44
  uint8_t pad[16];
};
static_assert(sizeof(ArenaHead) == 64);

struct RankLine {                    // offset 64, written by the rank only
  std::atomic<uint64_t> post_count;  // 64: +1 after each slot is set kPosted
  std::atomic<uint32_t> heartbeat;   // 72: reserved
  uint8_t pad[52];
};
static_assert(sizeof(RankLine) == 64);

struct CoordLine {                     // offset 128, written by the coordinator only
  std::atomic<uint32_t> done_futex;    // 128: +1 after each completion; ranks futex-wait on it
  std::atomic<uint32_t> rank_waiting;  // 132: the rank sets 1 before sleeping (rank-written)
  uint8_t pad[56];
};
static_assert(sizeof(CoordLine) == 64);

// A request slot. Fields marked (out) are written by the coordinator at completion.
struct Slot {                    // offset kSlotsOffset + i * kSlotBytes
  std::atomic<uint32_t> state;   // 0   SlotState
  int32_t status;                // 4   (out) Code
  uint64_t seq;                  // 8   collective sequence in the group (0 for send/recv)
  uint32_t coll;                 // 16  Coll
  uint32_t dtype;                // 20  DType
  uint32_t redop;                // 24  RedOp
  int32_t root;                  // 28  root rank (group rank); peer for send/recv (-1 = any)
  uint64_t count;                // 32  elements, meaning per collective (docs/protocol.md)
  uint64_t in_off;               // 40  byte offset of input in the data region
  uint64_t out_off;              // 48  byte offset of output in the data region
  uint64_t aux_off;              // 56  byte offset of u64 counts arrays (v-variants)
  uint32_t group;                // 64  group id, 0 = world
  uint32_t tag;                  // 68  send/recv tag
  double scale;                  // 72  premul_sum factor
  int32_t src;                   // 80  (out) actual source of a recv
  uint32_t flags;                // 84  bit0: notify JS on completion (ZeroMQ post path)
  uint64_t out_count;            // 88  (out) elements written (recv, v-variants)
  uint64_t post_no;              // 96  (in) the rank's post counter at posting, 0 = unset (v1 clients
                                 //     may leave it 0); orders posts that share a seq (p2p)
  uint32_t nranks;               // 104 (out) entries of ranks[] in use when state == kError (<= kSlotMaxRanks)
  uint32_t cma_pid;              // 108 (in) with flag cma: the process whose addresses in_off/out_off are
  uint8_t pad[16];               // 112..127
  char msg[kSlotMsgBytes];       // 128 (out) error message when state == kError
  int32_t ranks[kSlotMaxRanks];  // 448 (out) the ranks concerned (Status::ranks), first kSlotMaxRanks
};
static_assert(sizeof(Slot) == kSlotBytes);
static_assert(offsetof(Slot, nranks) == 104 && offsetof(Slot, ranks) == kSlotRanksOffset);

struct CtlHead {       // the job's ctl segment, offset 0
  uint32_t magic;      // 0
  uint32_t version;    // 4
  uint32_t coord_pid;  // 8
  uint32_t world;      // 12
  uint8_t pad0[48];
  std::atomic<uint32_t> bell;  // 64: ranks +1 after posting; coordinator futex-waits on it
  uint8_t pad1[60];
  std::atomic<uint32_t> coord_sleeping;  // 128: 1 while the progress thread sleeps
  uint8_t pad2[60];
  std::atomic<uint64_t> heartbeat;  // 192: the coordinator bumps it at least every 100 ms
  std::atomic<uint32_t> closing;    // 200: 1 once the coordinator shuts down
  uint8_t pad3[52];
};
static_assert(sizeof(CtlHead) == 256);

// Every field sits where spec/layout.json says, with the size it says (binary compatibility with
// the Python and Node clients, which take their offsets from the same spec).
#define ONET_CHECK_FIELD(T, BASE, f, off, bytes)                           \
  static_assert(BASE + offsetof(T, f) == (off) && sizeof(T::f) == (bytes), \
                #T "::" #f " is not where spec/layout.json says");
#define ONET_CHECK_HEAD(f, off, bytes) ONET_CHECK_FIELD(ArenaHead, layout::kHeadOffset, f, off, bytes)
#define ONET_CHECK_RANK_LINE(f, off, bytes) ONET_CHECK_FIELD(RankLine, layout::kRankLineOffset, f, off, bytes)
#define ONET_CHECK_COORD_LINE(f, off, bytes) ONET_CHECK_FIELD(CoordLine, layout::kCoordLineOffset, f, off, bytes)
#define ONET_CHECK_SLOT(f, off, bytes) ONET_CHECK_FIELD(Slot, 0, f, off, bytes)
#define ONET_CHECK_CTL(f, off, bytes) ONET_CHECK_FIELD(CtlHead, 0, f, off, bytes)
ONET_LAYOUT_ARENA_HEAD(ONET_CHECK_HEAD)
ONET_LAYOUT_ARENA_RANK_LINE(ONET_CHECK_RANK_LINE)
ONET_LAYOUT_ARENA_COORD_LINE(ONET_CHECK_COORD_LINE)
ONET_LAYOUT_SLOT(ONET_CHECK_SLOT)
ONET_LAYOUT_CTL(ONET_CHECK_CTL)
#undef ONET_CHECK_HEAD
#undef ONET_CHECK_RANK_LINE
#undef ONET_CHECK_COORD_LINE
#undef ONET_CHECK_SLOT
#undef ONET_CHECK_CTL
#undef ONET_CHECK_FIELD
static_assert(sizeof(Slot) == layout::kSlotStructBytes && sizeof(CtlHead) == layout::kCtlStructBytes);
static_assert(sizeof(ArenaHead) + sizeof(RankLine) + sizeof(CoordLine) == layout::kCoordLineOffset + 64);

inline Slot* slot_at(void* arena, uint32_t i) {
  return reinterpret_cast<Slot*>(static_cast<char*>(arena) + kSlotsOffset + i * kSlotBytes);
}
inline ArenaHead* head_of(void* arena) { return static_cast<ArenaHead*>(arena); }
inline RankLine* rank_line(void* arena) {
  return reinterpret_cast<RankLine*>(static_cast<char*>(arena) + layout::kRankLineOffset);
}
inline CoordLine* coord_line(void* arena) {
  return reinterpret_cast<CoordLine*>(static_cast<char*>(arena) + layout::kCoordLineOffset);
}
inline char* data_of(void* arena) { return static_cast<char*>(arena) + kDataOffset; }

}  // namespace onet::shm
