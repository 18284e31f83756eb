// The abort notice: what a host sends every other host of a group when its part of a cross-host
// collective fails mid-transfer (a checksum error, a broken link, a deadline), so that they fail
// that collective at once instead of at their own deadline. It carries the ranks the sender's error
// blames (those of a host it lost), so every survivor names the same lost ranks, whoever told it
// first. docs/protocol.md §9 has the bytes.
#pragma once
#include <cstdint>

namespace onet {

constexpr uint32_t kAbortMagic = 0x42414E4F;  // "ONAB"
// Peer-to-peer tags of the engine use bits 63 and 62 (network.cc: 1 envelopes, 2 payloads);
// collective tags carry (group, seq) and never set both. 3: abort notices.
constexpr uint64_t kTagAbort = (1ull << 63) | (1ull << 62) | 3;
constexpr uint32_t kAbortReasonBytes = 480;
constexpr uint32_t kAbortRuns = 63;  // runs of lost ranks a notice carries

#pragma pack(push, 1)
struct AbortRun {  // global ranks first .. first + count - 1
  int32_t first;
  int32_t count;
};
struct AbortNotice {               // 1024 bytes, little-endian, one transport message
  uint32_t magic;                  // kAbortMagic
  uint32_t group;                  // the collective's group
  uint64_t seq;                    // its sequence number in the group
  int32_t host;                    // the sender's device index
  uint32_t code;                   // the sender's error code (Code): receivers fail with the same class
  uint32_t coll;                   // Coll, for the message
  uint32_t reason_len;             // bytes of reason used (<= kAbortReasonBytes)
  char reason[kAbortReasonBytes];  // UTF-8, the sender's error without its "allreduce #12: " label
  uint32_t nruns;                  // runs used (<= kAbortRuns); 0: the sender's error blamed no rank
  uint32_t reserved;               // 0
  AbortRun lost[kAbortRuns];       // the ranks the sender's error blamed (a lost host's), ascending
};
#pragma pack(pop)
static_assert(sizeof(AbortNotice) == 1024, "abort notice is 1024 bytes on the wire");

}  // namespace onet
