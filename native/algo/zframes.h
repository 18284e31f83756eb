// Frames in flight for the compressed allreduces (compressed.h): buffers that live until the call
// succeeds (a failed call leaks them: the transport may still read or write them, as with Scratch),
// sending a frame as header + payload, and receiving one in two steps (header posted ahead, payload
// posted once the header says how long it is).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "algo/compressed.h"
#include "algo/steps.h"

namespace onet::algo::detail {

class Frames {
 public:
  ~Frames() {
    if (ok_)
      for (char* p : bufs_) delete[] p;
  }
  char* alloc(size_t bytes) {
    bufs_.push_back(new char[bytes ? bytes : 1]);
    return bufs_.back();
  }
  Status finish(Status s) {
    ok_ = s.ok();
    return s;
  }

 private:
  std::vector<char*> bufs_;
  bool ok_ = false;
};

struct Incoming {
  char* frame = nullptr;  // max frame bytes
  size_t n = 0;           // elements it must describe
  Req hdr;
};

// Sends frame (header + payload of frame_bytes in all) to `to`.
inline void send_frame(net::Comm& c, int to, const char* frame, size_t frame_bytes, std::vector<Req>* sends) {
  sends->push_back(c.pairs[to]->isend(frame, codec::kHeaderBytes, c.tag));
  sends->push_back(c.pairs[to]->isend(frame + codec::kHeaderBytes, frame_bytes - codec::kHeaderBytes, c.tag + 1));
}

inline void post_header(net::Comm& c, int from, Incoming* in) {
  in->hdr = c.pairs[from]->irecv(in->frame, codec::kHeaderBytes, c.tag);
}

// Waits for the header, then receives the payload it announces; *frame_bytes = header + payload.
inline Status recv_frame(net::Comm& c, int from, Incoming& in, DType dt, size_t max_frame, size_t* frame_bytes) {
  Status s = in.hdr->wait(c.deadline_ms);
  if (!s.ok()) return s;
  in.hdr.reset();
  size_t pb = 0;
  s = codec::payload_bytes(in.frame, dt, in.n, max_frame - codec::kHeaderBytes, &pb);
  if (!s.ok()) return s;
  Req r = c.pairs[from]->irecv(in.frame + codec::kHeaderBytes, pb, c.tag + 1);
  s = r->wait(c.deadline_ms);
  *frame_bytes = codec::kHeaderBytes + pb;
  return s;
}

}  // namespace onet::algo::detail
