# Every dependency comes from Debian packages and is found through its CMake package or
# pkg-config; nothing is looked up by a hard-coded path.
find_package(Threads REQUIRED)
find_package(MPI REQUIRED COMPONENTS C CXX)
find_package(Boost 1.74 REQUIRED COMPONENTS mpi serialization)

# The parallel HDF5 build must win over a serial one that may also be installed.
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR "Tessera needs the MPI build of HDF5 (Debian: libhdf5-openmpi-dev); "
                      "found a serial HDF5 at ${HDF5_INCLUDE_DIRS}")
endif()

find_package(PkgConfig REQUIRED)
pkg_check_modules(BLOSC REQUIRED IMPORTED_TARGET blosc)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
find_package(ZLIB REQUIRED)

find_package(nlohmann_json 3.11 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)

# Random123 is header-only and ships no CMake or pkg-config file.
find_path(RANDOM123_INCLUDE_DIR NAMES Random123/philox.h REQUIRED)
add_library(Random123 INTERFACE IMPORTED)
target_include_directories(Random123 INTERFACE ${RANDOM123_INCLUDE_DIR})

if(TESSERA_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(TESSERA_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

find_program(TESSERA_DOT_EXECUTABLE dot)
find_program(TESSERA_MPIEXEC NAMES mpirun mpiexec HINTS ${MPIEXEC_EXECUTABLE})
