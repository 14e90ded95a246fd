# SPDX-License-Identifier: Apache-2.0
# syspgo_bpf_object(NAME SOURCE HEADERS...)
# Compiles SOURCE (a *.bpf.c) with clang -target bpf against a vmlinux.h
# generated from the build machine's BTF, and generates a libbpf skeleton.
# Makes an INTERFACE target NAME_skel whose include path has NAME.skel.h.
find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)
execute_process(COMMAND ${BPF_CLANG} --version OUTPUT_VARIABLE _clang_version)
string(REGEX MATCH "version ([0-9]+)" _m "${_clang_version}")
if(CMAKE_MATCH_1 LESS 12)
  message(FATAL_ERROR "BPF programs need clang >= 12, found ${CMAKE_MATCH_1}")
endif()
set(SYSPGO_BTF_SOURCE "/sys/kernel/btf/vmlinux" CACHE FILEPATH "BTF to generate vmlinux.h from")
set(SYSPGO_BPF_DIR ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${SYSPGO_BPF_DIR})
add_custom_command(
  OUTPUT ${SYSPGO_BPF_DIR}/vmlinux.h
  COMMAND ${BPFTOOL} btf dump file ${SYSPGO_BTF_SOURCE} format c > ${SYSPGO_BPF_DIR}/vmlinux.h.tmp
  COMMAND ${CMAKE_COMMAND} -E rename ${SYSPGO_BPF_DIR}/vmlinux.h.tmp ${SYSPGO_BPF_DIR}/vmlinux.h
  COMMENT "Generating vmlinux.h from ${SYSPGO_BTF_SOURCE}")
add_custom_target(syspgo_vmlinux_h DEPENDS ${SYSPGO_BPF_DIR}/vmlinux.h)

function(syspgo_bpf_object name source)
  get_filename_component(src ${source} ABSOLUTE)
  get_filename_component(src_dir ${src} DIRECTORY)
  set(obj ${SYSPGO_BPF_DIR}/${name}.bpf.o)
  set(skel ${SYSPGO_BPF_DIR}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86
            -I${SYSPGO_BPF_DIR} -I${src_dir} -I${CMAKE_SOURCE_DIR}/src -Wall -Werror -c ${src} -o ${obj}
    DEPENDS ${src} ${ARGN}
    COMMENT "BPF ${name}.bpf.c")
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "Skeleton ${name}.skel.h")
  # A custom command's outputs are only known in its own directory: order
  # against vmlinux.h through its target.
  add_custom_target(${name}_obj_gen DEPENDS ${obj})
  add_dependencies(${name}_obj_gen syspgo_vmlinux_h)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_dependencies(${name}_skel_gen ${name}_obj_gen)
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${SYSPGO_BPF_DIR})
endfunction()
