// Byte layout of the shared-memory segments (protocol v1). docs/protocol.md describes the
// same layout for the Python and Node clients; change both together and bump kLayoutVersion.
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

namespace onet::shm {

constexpr uint32_t kMagic = 0x54454E4F;  // "ONET"
constexpr uint32_t kLayoutVersion = 1;
constexpr uint32_t kSlots = 64;
constexpr size_t kSlotsOffset = 1024;
constexpr size_t kSlotBytes = 512;
constexpr size_t kSlotMsgOffset = 128;  // error text, NUL-terminated, inside the slot
constexpr size_t kSlotMsgBytes = kSlotBytes - kSlotMsgOffset;
constexpr size_t kDataOffset = 65536;
constexpr size_t kCtlBytes = 4096;

// Slot states. The rank owns a slot in kFree and kDone/kError; the coordinator in kPosted.
enum SlotState : uint32_t { kFree = 0, kPosted = 1, kDone = 2, kError = 3, kClaimed = 4 };

struct ArenaHead {                 // offset 0
  uint32_t magic;                  // 0
  uint32_t version;                // 4
  uint32_t rank;                   // 8   global rank
  uint32_t world;                  // 12
  uint64_t data_offset;            // 16  == kDataOffset
  uint64_t data_bytes;             // 24
  uint32_t slots;                  // 32  == kSlots
  uint32_t slot_bytes;             // 36  == kSlotBytes
  uint32_t coord_pid;              // 40
  uint32_t local_rank;             // 44
  uint8_t pad[16];
};
static_assert(sizeof(ArenaHead) == 64);

struct RankLine {                  // offset 64, written by the rank only
  std::atomic<uint64_t> post_count;  // 64: +1 after each slot is set kPosted
  std::atomic<uint32_t> heartbeat;   // 72: reserved
  uint8_t pad[52];
};
static_assert(sizeof(RankLine) == 64);

struct CoordLine {                 // offset 128, written by the coordinator only
  std::atomic<uint32_t> done_futex;  // 128: +1 after each completion; ranks futex-wait on it
  std::atomic<uint32_t> rank_waiting;  // 132: the rank sets 1 before sleeping (rank-written)
  uint8_t pad[56];
};
static_assert(sizeof(CoordLine) == 64);

// A request slot. Fields marked (out) are written by the coordinator at completion.
struct Slot {                      // offset kSlotsOffset + i * kSlotBytes
  std::atomic<uint32_t> state;     // 0   SlotState
  int32_t status;                  // 4   (out) Code
  uint64_t seq;                    // 8   collective sequence in the group (0 for send/recv)
  uint32_t coll;                   // 16  Coll
  uint32_t dtype;                  // 20  DType
  uint32_t redop;                  // 24  RedOp
  int32_t root;                    // 28  root rank (group rank); peer for send/recv (-1 = any)
  uint64_t count;                  // 32  elements, meaning per collective (docs/protocol.md)
  uint64_t in_off;                 // 40  byte offset of input in the data region
  uint64_t out_off;                // 48  byte offset of output in the data region
  uint64_t aux_off;                // 56  byte offset of u64 counts arrays (v-variants)
  uint32_t group;                  // 64  group id, 0 = world
  uint32_t tag;                    // 68  send/recv tag
  double scale;                    // 72  premul_sum factor
  int32_t src;                     // 80  (out) actual source of a recv
  uint32_t flags;                  // 84  bit0: notify JS on completion (ZeroMQ post path)
  uint64_t out_count;              // 88  (out) elements written (recv, v-variants)
  uint64_t post_no;                // 96  (in) the rank's post counter at posting, 0 = unset (v1 clients
                                   //     may leave it 0); orders posts that share a seq (p2p)
  uint8_t pad[24];                 // 104..127
  char msg[kSlotMsgBytes];         // 128 (out) error message when state == kError
};
static_assert(sizeof(Slot) == kSlotBytes);

struct CtlHead {                   // the job's ctl segment, offset 0
  uint32_t magic;                  // 0
  uint32_t version;                // 4
  uint32_t coord_pid;              // 8
  uint32_t world;                  // 12
  uint8_t pad0[48];
  std::atomic<uint32_t> bell;      // 64: ranks +1 after posting; coordinator futex-waits on it
  uint8_t pad1[60];
  std::atomic<uint32_t> coord_sleeping;  // 128: 1 while the progress thread sleeps
  uint8_t pad2[60];
  std::atomic<uint64_t> heartbeat; // 192: the coordinator bumps it at least every 100 ms
  std::atomic<uint32_t> closing;   // 200: 1 once the coordinator shuts down
  uint8_t pad3[52];
};
static_assert(sizeof(CtlHead) == 256);

inline Slot* slot_at(void* arena, uint32_t i) {
  return reinterpret_cast<Slot*>(static_cast<char*>(arena) + kSlotsOffset + i * kSlotBytes);
}
inline ArenaHead* head_of(void* arena) { return static_cast<ArenaHead*>(arena); }
inline RankLine* rank_line(void* arena) { return reinterpret_cast<RankLine*>(static_cast<char*>(arena) + 64); }
inline CoordLine* coord_line(void* arena) { return reinterpret_cast<CoordLine*>(static_cast<char*>(arena) + 128); }
inline char* data_of(void* arena) { return static_cast<char*>(arena) + kDataOffset; }

}  // namespace onet::shm
