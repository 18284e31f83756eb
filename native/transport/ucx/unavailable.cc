// Without UCX (no ucx.pc at configure time) the UCX entry points say so; with it, they live in
// device.cc. The only file of this folder a build without UCX compiles (CMakeLists.txt).
#include "transport/common/options.h"

#ifndef ONET_HAVE_UCX
namespace onet::net {

bool ucx_available() { return false; }

Status create_ucx_device(const UcxOptions&, std::unique_ptr<Device>*) {
  return {Code::kUnsupported,
          "this OpenNetworks build has no UCX backend: install UCX's development files (Debian/Ubuntu: "
          "apt-get install libucx-dev; they must provide ucx.pc for pkg-config), rebuild with "
          "`npm run build:native`, or use the tcp transport"};
}

}  // namespace onet::net
#endif
