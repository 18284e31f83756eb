# CUDA reduce kernels (native/reduce/cuda) and their test, included from the top-level
# CMakeLists.txt after onet_native. docs/gpu.md describes the design.
#
#   -DONET_CUDA=auto  (default) build them when CMake finds nvcc, skip them quietly otherwise
#   -DONET_CUDA=on    require nvcc (a CUDA build break fails the configure or the build)
#   -DONET_CUDA=off   never
#   -DCMAKE_CUDA_ARCHITECTURES=...  default 80-real;90-real;90-virtual: A100 and H100/H200
#                     machine code, plus sm_90 PTX that newer GPUs JIT-compile.
#
# The library is static and not linked into the Node addon yet; nothing here changes a build
# without nvcc.
set(ONET_CUDA "auto" CACHE STRING "build the CUDA reduce kernels: auto (when nvcc is found), on, off")
set_property(CACHE ONET_CUDA PROPERTY STRINGS auto on off)

string(TOLOWER "${ONET_CUDA}" _onet_cuda_mode)
if(_onet_cuda_mode STREQUAL "auto")
  include(CheckLanguage)
  check_language(CUDA)
  set(ONET_CUDA_ENABLED ${CMAKE_CUDA_COMPILER})
  if(NOT ONET_CUDA_ENABLED)
    message(STATUS "ONET_CUDA=auto: no CUDA compiler found, CUDA kernels not built")
  endif()
elseif(ONET_CUDA)  # on, ON, 1, TRUE, ...
  include(CheckLanguage)
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR "ONET_CUDA=on but CMake found no CUDA compiler: install the CUDA toolkit and put nvcc "
                        "on PATH (or pass -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc), or configure with "
                        "-DONET_CUDA=auto|off")
  endif()
  set(ONET_CUDA_ENABLED ON)
else()
  set(ONET_CUDA_ENABLED OFF)
endif()

if(ONET_CUDA_ENABLED)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "80-real;90-real;90-virtual")
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  message(STATUS "ONET_CUDA: building CUDA kernels with ${CMAKE_CUDA_COMPILER} "
                 "(${CMAKE_CUDA_COMPILER_VERSION}) for ${CMAKE_CUDA_ARCHITECTURES}")

  # The top-level -Wall ... reach nvcc too; CMake passes -forward-unknown-to-host-compiler,
  # so nvcc hands them to the host compiler.
  find_package(CUDAToolkit REQUIRED)
  add_library(onet_cuda STATIC native/reduce/cuda/kernels.cu native/reduce/cuda/reduce_cuda.cu)
  target_include_directories(onet_cuda PUBLIC native)
  # -fmad=false: x·s + acc must round twice, as on the CPU (-ffp-contract=off there).
  target_compile_options(onet_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-fmad=false>)
  target_link_libraries(onet_cuda PUBLIC onet_native CUDA::cudart_static)

  if(ONET_BUILD_TESTS)
    add_executable(cuda_reduce_test native/tests/cuda_reduce_test.cu)
    target_link_libraries(cuda_reduce_test PRIVATE onet_cuda)
  endif()
endif()
