# tessera_add_test(TARGET name SOURCES ... [LIBS ...] [LABELS ...])
#   One test binary, run once by ctest.
# tessera_add_mpi_test(TARGET name SOURCES ... [LIBS ...] [RANKS 1 2 3 4] [TIMEOUT s] [LABELS ...]
#                      [MAIN target] [ARGS ...])
#   One test binary registered at several process counts (ADIOS2's pattern): ctest runs
#   `mpirun -np K` for each K, oversubscribed, each with a bounded TIMEOUT so no run can hang,
#   and once more without mpirun (`.serial`), the laptop case. MAIN defaults to the MPI gtest
#   main of tests/support (MPI initialized, failures reduced across ranks).
set(TESSERA_TEST_RANKS 1 2 3 4 CACHE STRING "Process counts every distributed test runs at")
set(TESSERA_MPI_TEST_ENV
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
    OMPI_MCA_btl_vader_single_copy_mechanism=none)

function(_tessera_test_binary)
  cmake_parse_arguments(T "" "TARGET" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_TARGET} ${T_SOURCES})
  target_link_libraries(${T_TARGET} PRIVATE ${T_LIBS} tessera_warnings)
endfunction()

function(tessera_add_test)
  cmake_parse_arguments(T "" "TARGET;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  _tessera_test_binary(TARGET ${T_TARGET} SOURCES ${T_SOURCES} LIBS ${T_LIBS} GTest::gtest_main)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${T_TARGET} COMMAND ${T_TARGET})
  set_tests_properties(${T_TARGET} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "unit;${T_LABELS}")
endfunction()

function(tessera_add_mpi_test)
  cmake_parse_arguments(T "" "TARGET;TIMEOUT;MAIN" "SOURCES;LIBS;RANKS;LABELS;ARGS" ${ARGN})
  if(NOT T_RANKS)
    set(T_RANKS ${TESSERA_TEST_RANKS})
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 180)
  endif()
  if(NOT T_MAIN)
    set(T_MAIN tessera_mpi_gtest_main)
  endif()
  _tessera_test_binary(TARGET ${T_TARGET} SOURCES ${T_SOURCES} LIBS ${T_LIBS} ${T_MAIN})
  add_test(NAME ${T_TARGET}.serial COMMAND ${T_TARGET} ${T_ARGS})
  set_tests_properties(${T_TARGET}.serial PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "mpi;serial;${T_LABELS}")
  foreach(np IN LISTS T_RANKS)
    set(name ${T_TARGET}.np${np})
    add_test(NAME ${name}
             COMMAND ${TESSERA_MPIEXEC} -np ${np} --oversubscribe $<TARGET_FILE:${T_TARGET}> ${T_ARGS})
    # Each run takes np slots of the machine's cores in ctest's scheduling.
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} PROCESSORS ${np}
                         LABELS "mpi;np${np};${T_LABELS}" ENVIRONMENT "${TESSERA_MPI_TEST_ENV}")
  endforeach()
endfunction()
