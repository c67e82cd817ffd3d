# tests.cmake: registers every test with ctest: the C unit tests of core/
# and the codec, each busted spec file, and each example script.

# C unit tests: spec/c/test_<name>.c
file(GLOB C_TESTS ${CMAKE_SOURCE_DIR}/spec/c/test_*.c)
foreach(src ${C_TESTS})
  get_filename_component(name ${src} NAME_WE)
  string(REPLACE "test_" "" short ${name})
  if(short STREQUAL "embed")
    # A host program: lugo.h and liblugo.so only, as docs/embedding.md says.
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE lugo_shared PkgConfig::LUA Threads::Threads m)
  elseif(short STREQUAL "codec")
    add_executable(${name} ${src} ${CODEC_SOURCES} bindings/factory.c bindings/dump.c core/pool.c spec/c/codec_test_objects.c)
    target_include_directories(${name} PRIVATE ${LUA_INCLUDE_DIRS})
    target_link_libraries(${name} PRIVATE PkgConfig::LUA m)
  else()
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE lugo_core)
  endif()
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  set(args "")
  if(short STREQUAL "codec" AND LUGO_TSAN)
    set(args 2000)   # single-threaded fuzzing: TSan adds cost, not coverage
  endif()
  add_test(NAME c/${short} COMMAND ${name} ${args})
endforeach()

# Specs run under the lugo command (so sanitizer builds instrument them too);
# stock_lua_spec runs under the stock lua5.4 interpreter.
set(SPEC_ENV
  "LUGO=$<TARGET_FILE:lugo>"
  "LUA_CPATH=${CMAKE_BINARY_DIR}/?.so\;\;"
  "LUA_PATH=${CMAKE_SOURCE_DIR}/lua/?.lua\;${CMAKE_SOURCE_DIR}/spec/?.lua\;\;"
  "LUGO_SRC=${CMAKE_SOURCE_DIR}")
find_program(BUSTED busted REQUIRED)
file(GLOB SPECS ${CMAKE_SOURCE_DIR}/spec/*_spec.lua)
foreach(spec ${SPECS})
  get_filename_component(name ${spec} NAME_WE)
  if(name STREQUAL "stock_lua_spec")
    if(LUGO_TSAN OR LUGO_ASAN)
      continue()              # an uninstrumented lua5.4 cannot load it
    endif()
    set(runner ${LUA_INTERP})
  else()
    set(runner $<TARGET_FILE:lugo>)
  endif()
  add_test(NAME spec/${name}
    COMMAND ${runner} ${BUSTED} --output=plainTerminal ${spec}
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(spec/${name} PROPERTIES ENVIRONMENT "${SPEC_ENV}" TIMEOUT 300)
endforeach()

# Examples: each must run and exit 0.
file(GLOB EXAMPLES ${CMAKE_SOURCE_DIR}/examples/*.lua)
foreach(ex ${EXAMPLES})
  get_filename_component(name ${ex} NAME_WE)
  add_test(NAME example/${name} COMMAND $<TARGET_FILE:lugo> ${ex}
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(example/${name} PROPERTIES ENVIRONMENT "${SPEC_ENV}" TIMEOUT 300)
endforeach()

# The REPL at a terminal, driven through tmux: exits 77 (skipped) without
# tmux, or when lugo is built without readline (plain lines: no Tab, no Up).
if(LUGO_READLINE AND READLINE_INCLUDE_DIR AND READLINE_LIBRARY)
  set(REPL_READLINE 1)
else()
  set(REPL_READLINE 0)
endif()
add_test(NAME repl/terminal
  COMMAND bash ${CMAKE_SOURCE_DIR}/spec/repl_terminal_test.sh
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
# Sanitizer builds run everything 5-20x slower: a longer wait per step
# (a hang still fails, later).
if(LUGO_TSAN OR LUGO_ASAN)
  set(REPL_WAIT 60)
else()
  set(REPL_WAIT 20)
endif()
set_tests_properties(repl/terminal PROPERTIES
  ENVIRONMENT "${SPEC_ENV};LUGO_READLINE=${REPL_READLINE};REPL_TEST_TIMEOUT=${REPL_WAIT}"
  SKIP_RETURN_CODE 77 TIMEOUT 600)

# liblugo.so exports luaopen_lugo and lugo_* only (spec/exports_test.sh).
add_test(NAME exports COMMAND bash ${CMAKE_SOURCE_DIR}/spec/exports_test.sh
  $<TARGET_FILE:lugo_shared>)
set_tests_properties(exports PROPERTIES SKIP_RETURN_CODE 77)

# bench/host-send.c: a C host benchmark (bench/compare's host-send).
add_executable(host-send ${CMAKE_SOURCE_DIR}/bench/host-send.c)
target_link_libraries(host-send PRIVATE lugo_shared PkgConfig::LUA)
set_target_properties(host-send PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)

# examples/embed: a C host of liblugo (docs/embedding.md), run from its
# directory, where worker.lua and input.txt are.
add_executable(embed_host ${CMAKE_SOURCE_DIR}/examples/embed/host.c)
target_link_libraries(embed_host PRIVATE lugo_shared PkgConfig::LUA Threads::Threads)
set_target_properties(embed_host PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
add_test(NAME example/embed COMMAND embed_host
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/examples/embed)

# The host side under valgrind: no error, no leak (definite or possible),
# with Debian's liblua5.4 and libuv as they are (no suppressions needed).
# Not in sanitizer builds, which valgrind cannot run.
find_program(VALGRIND valgrind)
if(VALGRIND AND NOT LUGO_TSAN AND NOT LUGO_ASAN)
  set(VALGRIND_ARGS --leak-check=full --errors-for-leak-kinds=definite,possible
      --error-exitcode=1 --quiet)
  add_test(NAME valgrind/test_embed COMMAND ${VALGRIND} ${VALGRIND_ARGS} $<TARGET_FILE:test_embed>)
  set_tests_properties(valgrind/test_embed PROPERTIES ENVIRONMENT "LUGO_TEST_SCALE=50" TIMEOUT 600)
  add_test(NAME valgrind/example_embed COMMAND ${VALGRIND} ${VALGRIND_ARGS} $<TARGET_FILE:embed_host>
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/examples/embed)
  set_tests_properties(valgrind/example_embed PROPERTIES TIMEOUT 600)
endif()

# cmake --install into a scratch prefix, then build and run a host against
# it with pkg-config and with find_package (spec/install_test.sh).
# Not in sanitizer builds: a plain cc cannot link their liblugo.
if(NOT LUGO_TSAN AND NOT LUGO_ASAN)
  add_test(NAME install COMMAND bash ${CMAKE_SOURCE_DIR}/spec/install_test.sh
    ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
endif()
