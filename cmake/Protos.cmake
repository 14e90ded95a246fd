# SPDX-License-Identifier: Apache-2.0
# containerd's own .proto files (Debian ships them with containerd's Go
# sources, golang-github-containerd-containerd-dev), compiled at build time
# with Debian's protoc and grpc_cpp_plugin. Their gogoproto annotations
# (options of Go's code generator; protoc's C++ generator refuses their
# weak import) are removed first: they change nothing on the wire.
#
# syspgo_grpc_library(NAME ROOTS dir... PROTOS rel/path.proto... SERVICES rel/path.proto...)
#   ROOTS    include roots for protoc (the first holding each file wins)
#   PROTOS   messages only (C++ protobuf)
#   SERVICES messages and gRPC services
find_program(PROTOC protoc REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET GLOBAL grpc++)
pkg_check_modules(PROTOBUF REQUIRED IMPORTED_TARGET GLOBAL protobuf)

function(syspgo_grpc_library name)
  cmake_parse_arguments(ARG "" "" "ROOTS;PROTOS;SERVICES" ${ARGN})
  set(out ${CMAKE_BINARY_DIR}/proto)
  set(includes)
  foreach(root ${ARG_ROOTS})
    list(APPEND includes -I ${root})
  endforeach()
  set(sources)
  foreach(proto ${ARG_PROTOS} ${ARG_SERVICES})
    set(found "")
    foreach(root ${ARG_ROOTS})
      if(NOT found AND EXISTS ${root}/${proto})
        set(found ${root}/${proto})
      endif()
    endforeach()
    if(NOT found)
      message(FATAL_ERROR "${proto} not found in ${ARG_ROOTS} (scripts/install-deps.sh installs them)")
    endif()
    string(REGEX REPLACE "\\.proto$" "" base ${proto})
    set(stripped ${CMAKE_BINARY_DIR}/proto-src/${proto})
    set(generated ${out}/${base}.pb.cc ${out}/${base}.pb.h)
    set(plugin_args)
    list(FIND ARG_SERVICES ${proto} is_service)
    if(NOT is_service EQUAL -1)
      list(APPEND generated ${out}/${base}.grpc.pb.cc ${out}/${base}.grpc.pb.h)
      set(plugin_args --grpc_out=${out} --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${stripped}
      COMMAND ${CMAKE_SOURCE_DIR}/cmake/strip-gogoproto.sh ${found} ${stripped}
      DEPENDS ${found} ${CMAKE_SOURCE_DIR}/cmake/strip-gogoproto.sh
      COMMENT "strip gogoproto from ${proto}")
    add_custom_command(
      OUTPUT ${generated}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
      COMMAND ${PROTOC} -I ${CMAKE_BINARY_DIR}/proto-src ${includes} --cpp_out=${out} ${plugin_args} ${stripped}
      DEPENDS ${stripped}
      COMMENT "protoc ${proto}")
    foreach(g ${generated})
      if(g MATCHES "\\.cc$")
        list(APPEND sources ${g})
      endif()
    endforeach()
  endforeach()
  add_library(${name} STATIC ${sources})
  target_include_directories(${name} SYSTEM PUBLIC ${out})
  target_link_libraries(${name} PUBLIC PkgConfig::GRPCPP PkgConfig::PROTOBUF)
endfunction()
