# `cmake --install build --prefix DIR` puts the libraries, headers, the tessera command and a CMake
# package under DIR, so that an application finds it with find_package(Tessera) (docs/embedding.md;
# tests/install builds such an application against an installed copy).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TESSERA_LIBRARIES tessera_core tessera_distributed tessera_anndata tessera_io tessera_analysis)
foreach(lib IN LISTS TESSERA_LIBRARIES)
  string(REPLACE "tessera_" "" export_name ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${export_name})
endforeach()

# tessera_warnings is linked privately: in the export it is link-only, so an application does not
# inherit our warning flags.
install(TARGETS ${TESSERA_LIBRARIES} tessera_warnings tessera
        EXPORT TesseraTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(module core distributed anndata io analysis)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${module}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()

set(TESSERA_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Tessera)
install(EXPORT TesseraTargets NAMESPACE Tessera:: DESTINATION ${TESSERA_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/TesseraConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/TesseraConfig.cmake
                              INSTALL_DESTINATION ${TESSERA_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/TesseraConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/TesseraConfig.cmake ${PROJECT_BINARY_DIR}/TesseraConfigVersion.cmake
        DESTINATION ${TESSERA_CMAKE_DIR})
